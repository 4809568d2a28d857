"""Enveloped XML-DSig verification of a CAP alert, the way IPAWS signs CAP.

The ``ds:Signature`` must be a direct child of ``<alert>`` with one reference to the whole document
(``URI=""``, enveloped-signature transform), an X.509 chain in ``KeyInfo`` that ends at a certificate in the
configured ``trusted_ca_bundle``, and a SHA-2 (or stronger) algorithm; SHA-1 is refused. The caller builds the
alert from the element returned here, which is exactly what was signed.

``signxml`` (and through it ``cryptography``) is imported only when a signature is actually checked, so
``cinealert validate`` with the default policy stays light.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from cinealert.cap.errors import CapSignatureError


def verify_enveloped(root: etree._Element, trusted_ca_bundle: Path | None) -> etree._Element:
    """Verify the enveloped signature on ``root``; return the signed ``<alert>`` element (signature removed)."""
    if trusted_ca_bundle is None:
        raise CapSignatureError(
            "alert is signed but cap.trusted_ca_bundle is not configured, so the signature cannot be verified"
        )
    try:
        from signxml.exceptions import SignXMLException
        from signxml.verifier import SignatureConfiguration, XMLVerifier
    except ImportError as exc:  # pragma: no cover - signxml is a core dependency
        raise CapSignatureError(f"signature verification unavailable: {exc}") from None

    config = SignatureConfiguration(location="./", expect_references=1)
    try:
        result = XMLVerifier().verify(root, ca_pem_file=str(trusted_ca_bundle), expect_config=config)
    except SignXMLException as exc:  # InvalidSignature/Digest/Certificate/Input
        raise CapSignatureError(f"invalid signature: {_describe(exc)}") from None
    except OSError as exc:
        raise CapSignatureError(f"cannot read cap.trusted_ca_bundle {trusted_ca_bundle}: {exc}") from None
    except (ValueError, TypeError, etree.LxmlError) as exc:
        # Malformed base64, certificates or signature structure surface as plain value errors.
        raise CapSignatureError(f"invalid signature: {_describe(exc)}") from None

    if isinstance(result, list):  # only with expect_references != 1; kept for the type checker
        raise CapSignatureError("invalid signature: expected exactly one reference")
    signed = result.signed_xml
    if not isinstance(signed, etree._Element) or signed.tag != root.tag:
        raise CapSignatureError("invalid signature: it does not cover the whole <alert>")
    return signed


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    lowered = text.lower()
    if "forbidden by configuration" in lowered:
        weak = " (SHA-1 is not accepted; sign with SHA-256 or stronger)" if "sha1" in lowered else ""
        return f"{text}{weak}"
    if "digest mismatch" in lowered:
        return "the alert was changed after signing (digest mismatch)"
    if "unable to get local issuer" in lowered or "candidates exhausted" in lowered or "issuer" in lowered:
        return f"certificate is not issued by a trusted CA ({text[:160]})"
    return text[:200]
