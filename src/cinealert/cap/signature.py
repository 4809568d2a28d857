"""Enveloped XML-DSig verification of a CAP alert, the way IPAWS signs CAP.

Exactly one shape is accepted, and everything else is refused with a reason naming what differs, before any
cryptography runs (:func:`check_shape`):

- exactly one ``ds:Signature`` in the whole document, and it is a direct child of the root ``<alert>``;
- exactly one ``ds:Reference`` in the whole document (the one in that signature's ``SignedInfo``), with
  ``URI=""``: the whole alert, never an element picked by ``Id``;
- its transforms are the enveloped-signature transform, optionally followed by one comment-free canonicalization
  (C14N 1.0, C14N 1.1 or exclusive C14N); ``SignedInfo`` is canonicalized by one of those as well.

These are the rules that close XML signature wrapping: with a reference by ``Id``, or a signature the verifier
may find somewhere other than on the root, a document can carry a genuinely signed alert hidden in an extension
element while the document around it says something else. Comments are removed by the hardened parser before
verification, so a ``#WithComments`` canonicalization could only ever verify a comment-free document; it is
refused rather than half-supported. Then the signature must verify (SHA-2 or stronger; SHA-1 is refused) with
an X.509 chain in ``KeyInfo`` that ends at a certificate in the configured ``trusted_ca_bundle``, and the data
the verifier says was signed must be, compared canonically, this very ``<alert>`` without its signature: the
verifier's word for what it checked is compared, not trusted. The caller builds the alert from the element
returned here.

``signxml`` (and through it ``cryptography``) is imported only when a signature is actually checked, so
``cinealert validate`` with the default policy stays light.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Final

from lxml import etree

from cinealert.cap.errors import CapSignatureError
from cinealert.cap.xmlsafe import snippet

DSIG_NS: Final = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N_NS: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED: Final = f"{DSIG_NS}enveloped-signature"
CANONICALIZATIONS: Final = {
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315": "C14N 1.0",
    "http://www.w3.org/2006/12/xml-c14n11": "C14N 1.1",
    EXC_C14N_NS: "exclusive C14N",
}

_SIGNATURE: Final = f"{{{DSIG_NS}}}Signature"
_SIGNED_INFO: Final = f"{{{DSIG_NS}}}SignedInfo"
_C14N_METHOD: Final = f"{{{DSIG_NS}}}CanonicalizationMethod"
_REFERENCE: Final = f"{{{DSIG_NS}}}Reference"
_TRANSFORMS: Final = f"{{{DSIG_NS}}}Transforms"
_TRANSFORM: Final = f"{{{DSIG_NS}}}Transform"
_INCLUSIVE_NAMESPACES: Final = f"{{{EXC_C14N_NS}}}InclusiveNamespaces"
_ALLOWED: Final = (
    "enveloped-signature, optionally followed by one C14N 1.0/1.1 or exclusive C14N without comments"
)


def is_signed(root: etree._Element) -> bool:
    """Whether the document carries a ``ds:Signature`` anywhere, and so must obey every rule here."""
    return next(root.iter(_SIGNATURE), None) is not None


def check_shape(root: etree._Element) -> etree._Element:
    """The one enveloped ``ds:Signature`` on ``root``, or :class:`CapSignatureError` saying what differs."""
    signatures = list(root.iter(_SIGNATURE))
    if len(signatures) != 1:
        raise CapSignatureError(
            f"alert carries {len(signatures)} signatures (ds:Signature anywhere in the document); exactly one, "
            "a direct child of <alert>, is accepted"
        )
    (signature,) = signatures
    if signature.getparent() is not root:
        path = "/".join(_local(e) for e in reversed([signature, *signature.iterancestors()]))
        raise CapSignatureError(
            f"ds:Signature is at {path[:160]}, not a direct child of the root <alert>; only an enveloped "
            "signature on the whole alert is accepted (signature wrapping?)"
        )
    signed_infos = signature.findall(_SIGNED_INFO)
    if len(signed_infos) != 1:
        raise CapSignatureError(
            f"ds:Signature has {len(signed_infos)} SignedInfo elements; exactly one is accepted"
        )
    (signed_info,) = signed_infos
    _check_c14n(signed_info.find(_C14N_METHOD), "SignedInfo canonicalization")
    references = list(root.iter(_REFERENCE))
    if len(references) != 1 or references[0].getparent() is not signed_info:
        raise CapSignatureError(
            f"document carries {len(references)} ds:Reference elements; exactly one, in the alert's "
            'SignedInfo with URI="", is accepted'
        )
    (reference,) = references
    uri = reference.get("URI")
    if uri is None:
        raise CapSignatureError('signature reference has no URI; only URI="" (the whole alert) is accepted')
    if uri != "":
        raise CapSignatureError(
            f'signature reference URI {snippet(uri)} is not accepted; only URI="" (the whole alert) is'
        )
    _check_transforms(reference)
    return signature


def _check_transforms(reference: etree._Element) -> None:
    containers = reference.findall(_TRANSFORMS)
    if len(containers) > 1:
        raise CapSignatureError(
            f"signature reference has {len(containers)} Transforms elements; one is accepted"
        )
    transforms = [t for t in containers[0] if isinstance(t.tag, str)] if containers else []
    for transform in transforms:
        if transform.tag != _TRANSFORM:
            raise CapSignatureError(f"signature Transforms holds <{_local(transform)}>, not ds:Transform")
    if not transforms or transforms[0].get("Algorithm") != ENVELOPED:
        raise CapSignatureError(
            "signature reference does not start with the enveloped-signature transform; only an enveloped "
            f"signature on the whole alert is accepted (transforms: {_ALLOWED})"
        )
    if len(transforms) > 2:
        raise CapSignatureError(f"signature reference has {len(transforms)} transforms; accepted: {_ALLOWED}")
    if len(transforms[0]):
        raise CapSignatureError("the enveloped-signature transform must be empty")
    if len(transforms) == 2:
        _check_c14n(transforms[1], "signature transform")


def _check_c14n(element: etree._Element | None, what: str) -> None:
    if element is None or element.get("Algorithm") is None:
        raise CapSignatureError(f"{what} has no Algorithm")
    algorithm = element.get("Algorithm", "")
    if algorithm not in CANONICALIZATIONS:
        comments = (
            " (comments are removed before verification)" if algorithm.endswith("#WithComments") else ""
        )
        raise CapSignatureError(
            f"{what} {snippet(algorithm, 80)} is not accepted{comments}; accepted: {_ALLOWED}"
        )
    for child in element:
        if not isinstance(child.tag, str):
            continue
        if algorithm == EXC_C14N_NS and child.tag == _INCLUSIVE_NAMESPACES and len(child) == 0:
            continue
        raise CapSignatureError(
            f"{what} {CANONICALIZATIONS[algorithm]} carries <{_local(child)}>, which is not accepted"
        )


def _local(element: etree._Element) -> str:
    return snippet(etree.QName(element).localname)[1:-1]


def verify_enveloped(root: etree._Element, trusted_ca_bundle: Path | None) -> etree._Element:
    """Verify the enveloped signature on ``root``; return the signed ``<alert>`` element (signature removed)."""
    signature = check_shape(root)
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
    if signed is None or not covers(signed, root, signature):
        raise CapSignatureError(
            "invalid signature: the data it covers is not this <alert> without its signature (signature wrapping?)"
        )
    return signed


def covers(signed: etree._Element, root: etree._Element, signature: etree._Element) -> bool:
    """Whether ``signed`` (what a verifier reports it checked) is ``root`` without ``signature``, canonically."""
    return _canonical(signed) == _canonical(_without(root, signature))


def _without(root: etree._Element, signature: etree._Element) -> etree._Element:
    """A copy of ``root`` with ``signature`` taken out as the enveloped-signature transform does: the text after
    it stays (lxml's ``remove`` would drop it with the element)."""
    index = root.index(signature)
    clone = copy.deepcopy(root)
    gone = clone[index]
    if gone.tail:
        before = gone.getprevious()
        if before is not None:
            before.tail = (before.tail or "") + gone.tail
        else:
            clone.text = (clone.text or "") + gone.tail
    clone.remove(gone)
    return clone


def _canonical(element: etree._Element) -> bytes:
    # Exclusive C14N drops namespace declarations nothing uses, which an exclusive-C14N signature has dropped too.
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


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
