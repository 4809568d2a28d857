"""Enveloped XML-DSig on CAP, as IPAWS signs it: a CA and a signing certificate built here with
``cryptography``, alerts signed with ``signxml``, verified (or refused) through ``parse_alert``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import methods
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from cinealert.cap import CapSignatureError, classify, parse_alert
from cinealert.cap.signature import covers
from cinealert.config import parse as parse_settings
from cinealert.config.sections import CapSettings

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
DS = "http://www.w3.org/2000/09/xmldsig#"
C14N_10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_11 = "http://www.w3.org/2006/12/xml-c14n11"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


@dataclass(frozen=True)
class Pki:
    ca_pem: bytes
    leaf_pem: bytes
    leaf_key_pem: bytes
    algorithm: str


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.COUNTRY_NAME, "KR")]
    )


def _key_usage(**enabled: bool) -> x509.KeyUsage:
    flags = dict.fromkeys(
        ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
         "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"),
        False,
    )  # fmt: skip
    return x509.KeyUsage(**(flags | enabled))


def _make_pki(ca_name: str, rsa_leaf: bool = False) -> Pki:
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(ca_name))
        .issuer_name(_name(ca_name))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    leaf_key = rsa.generate_private_key(65537, 2048) if rsa_leaf else ec.generate_private_key(ec.SECP256R1())
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{ca_name} CAP signer"))
        .issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=10))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, content_commitment=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return Pki(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
        leaf_pem=leaf_cert.public_bytes(serialization.Encoding.PEM),
        leaf_key_pem=leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        algorithm="rsa-sha256" if rsa_leaf else "ecdsa-sha256",
    )


@pytest.fixture(scope="module")
def pki() -> Pki:
    return _make_pki("Test Alerting Authority CA")


@pytest.fixture(scope="module")
def other_pki() -> Pki:
    return _make_pki("Somebody Else CA")


def sign(data: bytes, pki: Pki, *, c14n: str = C14N_11, reference_uri: str | None = None) -> bytes:
    root = etree.fromstring(data)
    if reference_uri:
        root.set("Id", reference_uri.removeprefix("#"))
    signer = XMLSigner(
        method=methods.enveloped,
        signature_algorithm=pki.algorithm,
        digest_algorithm="sha256",
        c14n_algorithm=c14n,
    )
    signed = signer.sign(
        root, key=pki.leaf_key_pem, cert=[pki.leaf_pem.decode()], reference_uri=reference_uri
    )
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def settings(policy: str, bundle: Path | None) -> CapSettings:
    section: dict[str, object] = {"signature_policy": policy}
    if bundle is not None:
        section["trusted_ca_bundle"] = str(bundle)
    return parse_settings({"cap": section}).cap


@pytest.fixture
def bundle(tmp_path: Path, pki: Pki) -> Path:
    path = tmp_path / "trusted.pem"
    path.write_bytes(pki.ca_pem)
    return path


@pytest.fixture(scope="module")
def flood() -> bytes:
    return (SAMPLES / "ko_flood.xml").read_bytes()


@pytest.mark.parametrize("policy", ["verify", "require"])
def test_valid_signature_is_verified(policy: str, flood: bytes, pki: Pki, bundle: Path) -> None:
    alert = parse_alert(sign(flood, pki), settings=settings(policy, bundle))
    assert alert.signed is True
    assert alert.identifier == "KR.KMA.202611251630.HRW.0012"
    assert classify(alert).disaster.value == "flood"


def test_policy_off_does_not_look(flood: bytes, pki: Pki, bundle: Path) -> None:
    signed = sign(flood, pki)
    assert parse_alert(signed).signed is False
    tampered = signed.replace("중랑천".encode(), "청계천".encode())
    assert parse_alert(tampered, settings=settings("off", bundle)).signed is False


def test_tampered_alert_is_refused(flood: bytes, pki: Pki, bundle: Path) -> None:
    signed = sign(flood, pki)
    tampered = signed.replace(b"<severity>Severe</severity>", b"<severity>Minor</severity>")
    assert tampered != signed
    for policy in ("verify", "require"):
        with pytest.raises(CapSignatureError) as info:
            parse_alert(tampered, settings=settings(policy, bundle))
        assert "invalid signature" in info.value.reason
        assert "changed after signing" in info.value.reason


def test_signature_from_another_ca_is_refused(flood: bytes, other_pki: Pki, bundle: Path) -> None:
    with pytest.raises(CapSignatureError) as info:
        parse_alert(sign(flood, other_pki), settings=settings("verify", bundle))
    assert "not issued by a trusted CA" in info.value.reason
    assert "\n" not in info.value.reason


def test_missing_signature(flood: bytes, bundle: Path) -> None:
    assert parse_alert(flood, settings=settings("verify", bundle)).signed is False
    with pytest.raises(CapSignatureError) as info:
        parse_alert(flood, settings=settings("require", bundle))
    assert "not signed" in info.value.reason


def test_signed_without_a_trusted_bundle_is_refused(flood: bytes, pki: Pki) -> None:
    with pytest.raises(CapSignatureError) as info:
        parse_alert(sign(flood, pki), settings=settings("verify", None))
    assert "trusted_ca_bundle" in info.value.reason


def test_wrapped_content_outside_the_signature_is_not_trusted(flood: bytes, pki: Pki, bundle: Path) -> None:
    # Adding an element after signing changes what the enveloped reference covers: refused.
    signed = sign(flood, pki)
    wrapped = signed.replace(b"</alert>", b"<note>unsigned addition</note></alert>")
    with pytest.raises(CapSignatureError):
        parse_alert(wrapped, settings=settings("verify", bundle))


def test_two_signatures_are_refused(flood: bytes, pki: Pki, bundle: Path) -> None:
    signed = sign(flood, pki)
    root = etree.fromstring(signed)
    sig = root[-1]
    root.append(etree.fromstring(etree.tostring(sig)))
    doubled = etree.tostring(root)
    with pytest.raises(CapSignatureError) as info:
        parse_alert(doubled, settings=settings("verify", bundle))
    assert "2 signatures" in info.value.reason


def test_signature_without_certificate_is_refused(flood: bytes, pki: Pki, bundle: Path) -> None:
    signed = sign(flood, pki)
    stripped = signed.split(b"<ds:KeyInfo>")[0] + b"</ds:Signature></alert>"
    with pytest.raises(CapSignatureError) as info:
        parse_alert(stripped, settings=settings("require", bundle))
    assert "X.509" in info.value.reason


def test_garbage_signature_is_refused(flood: bytes, pki: Pki, bundle: Path) -> None:
    signed = sign(flood, pki)
    start = signed.index(b"<ds:SignatureValue>") + len(b"<ds:SignatureValue>")
    broken = signed[:start] + b"!!notbase64!!" + signed[start:]
    with pytest.raises(CapSignatureError):
        parse_alert(broken, settings=settings("verify", bundle))


def test_rsa_signature_as_ipaws_uses(flood: bytes, pki: Pki, bundle: Path) -> None:
    # IPAWS signs with RSA; the same CA issues an RSA signing certificate here.
    rsa_pki = _make_pki("Test Alerting Authority CA", rsa_leaf=True)
    rsa_bundle = bundle.parent / "rsa-ca.pem"
    rsa_bundle.write_bytes(rsa_pki.ca_pem)
    alert = parse_alert(sign(flood, rsa_pki), settings=settings("require", rsa_bundle))
    assert alert.signed is True


def test_sha1_is_refused(flood: bytes, bundle: Path) -> None:
    rsa_pki = _make_pki("Old CA", rsa_leaf=True)
    old_bundle = bundle.parent / "old-ca.pem"
    old_bundle.write_bytes(rsa_pki.ca_pem)

    class LegacySigner(XMLSigner):  # how an old sender still signs: signxml refuses SHA-1 unless told not to
        def check_deprecated_methods(self) -> None:
            pass

    signer = LegacySigner(method=methods.enveloped, signature_algorithm="rsa-sha1", digest_algorithm="sha1")
    root = signer.sign(etree.fromstring(flood), key=rsa_pki.leaf_key_pem, cert=[rsa_pki.leaf_pem.decode()])
    legacy = etree.tostring(root)
    with pytest.raises(CapSignatureError) as info:
        parse_alert(legacy, settings=settings("verify", old_bundle))
    assert "invalid signature" in info.value.reason and "SHA-1 is not accepted" in info.value.reason


# -- the one accepted shape: one enveloped signature on <alert>, one Reference URI="", plain transforms ----------


def _verified_by_signxml_alone(data: bytes, bundle: Path) -> etree._Element:
    """What signxml itself says was signed: proves an attack document carries a genuine, valid signature, so
    refusing it is the shape rule's doing and not a broken signature's."""
    config = SignatureConfiguration(location="./", expect_references=1)
    result = XMLVerifier().verify(data, ca_pem_file=str(bundle), expect_config=config)
    assert not isinstance(result, list) and result.signed_xml is not None
    return result.signed_xml


def _attacker(flood: bytes) -> etree._Element:
    """The attacker's own, unsigned alert: the genuine text with the river changed."""
    return etree.fromstring(flood.replace("중랑천".encode(), "청계천".encode()))


def _signature(root: etree._Element) -> etree._Element:
    found = root.find(f".//{{{DS}}}Signature")
    assert found is not None
    return found


def _refused(data: bytes, policy: str, bundle: Path) -> str:
    with pytest.raises(CapSignatureError) as info:
        parse_alert(data, settings=settings(policy, bundle))
    assert "\n" not in info.value.reason
    return info.value.reason


@pytest.mark.parametrize("c14n", [C14N_10, C14N_11, EXC_C14N])
def test_every_plain_canonicalization_verifies(c14n: str, flood: bytes, pki: Pki, bundle: Path) -> None:
    # IPAWS signs with exclusive C14N; signxml defaults to C14N 1.1; older signers use C14N 1.0.
    alert = parse_alert(sign(flood, pki, c14n=c14n), settings=settings("require", bundle))
    assert alert.signed is True and classify(alert).disaster.value == "flood"


@pytest.mark.parametrize("policy", ["verify", "require"])
def test_reference_by_id_is_refused(policy: str, flood: bytes, pki: Pki, bundle: Path) -> None:
    data = sign(flood, pki, c14n=EXC_C14N, reference_uri="#alert-1")
    assert _verified_by_signxml_alone(data, bundle).get("Id") == "alert-1"  # a genuine, valid signature
    reason = _refused(data, policy, bundle)
    assert reason == "signature reference URI '#alert-1' is not accepted; only URI=\"\" (the whole alert) is"


@pytest.mark.parametrize("policy", ["verify", "require"])
def test_signature_wrapping_by_id_is_refused(policy: str, flood: bytes, pki: Pki, bundle: Path) -> None:
    # Classic XSW: the genuine signature on the attacker's <alert>, its reference pointing by Id at the
    # genuinely signed alert hidden in an extension element. The signature itself verifies.
    genuine = etree.fromstring(sign(flood, pki, c14n=EXC_C14N, reference_uri="#alert-1"))
    signature = _signature(genuine)
    genuine.remove(signature)
    outer = _attacker(flood)
    etree.SubElement(outer, "{urn:example:wrap}wrapper").append(genuine)
    outer.append(signature)
    attack = etree.tostring(outer, encoding="UTF-8")
    assert "청계천".encode() in attack  # what the document says ...
    hidden = etree.tostring(_verified_by_signxml_alone(attack, bundle), encoding="unicode")
    assert "중랑천" in hidden and "청계천" not in hidden  # ... is not what the valid signature covers
    reason = _refused(attack, policy, bundle)
    assert reason == "signature reference URI '#alert-1' is not accepted; only URI=\"\" (the whole alert) is"


@pytest.mark.parametrize("policy", ["verify", "require"])
def test_signed_alert_wrapped_in_an_unsigned_one_is_refused(
    policy: str, flood: bytes, pki: Pki, bundle: Path
) -> None:
    # The attacker's unsigned <alert> carrying a genuinely signed one in an extension: under 'verify' this
    # used to pass as an unsigned alert with the attacker's text.
    outer = _attacker(flood)
    etree.SubElement(outer, "{urn:example:wrap}wrapper").append(etree.fromstring(sign(flood, pki)))
    reason = _refused(etree.tostring(outer), policy, bundle)
    assert reason == (
        "ds:Signature is at alert/wrapper/alert/Signature, not a direct child of the root <alert>; only an "
        "enveloped signature on the whole alert is accepted (signature wrapping?)"
    )


@pytest.mark.parametrize("policy", ["verify", "require"])
def test_signature_moved_into_an_extension_is_refused(
    policy: str, flood: bytes, pki: Pki, bundle: Path
) -> None:
    root = etree.fromstring(sign(flood, pki))
    signature = _signature(root)
    root.remove(signature)
    etree.SubElement(root, "{urn:example:ext}extension").append(signature)
    reason = _refused(etree.tostring(root), policy, bundle)
    assert reason.startswith(
        "ds:Signature is at alert/extension/Signature, not a direct child of the root <alert>"
    )
    # the same signature back where it belongs verifies: what is refused is only where it was
    root.find("{urn:example:ext}extension").remove(signature)  # type: ignore[union-attr]
    root.remove(root[-1])
    root.append(signature)
    assert parse_alert(etree.tostring(root), settings=settings(policy, bundle)).signed is True


def test_second_signature_in_an_extension_is_refused(flood: bytes, pki: Pki, bundle: Path) -> None:
    root = etree.fromstring(sign(flood, pki))
    copy = etree.fromstring(etree.tostring(_signature(root)))
    etree.SubElement(root, "{urn:example:ext}extension").append(copy)
    reason = _refused(etree.tostring(root), "verify", bundle)
    assert reason.startswith("alert carries 2 signatures (ds:Signature anywhere in the document)")


def test_second_reference_is_refused(flood: bytes, pki: Pki, bundle: Path) -> None:
    root = etree.fromstring(flood)
    root.set("Id", "alert-1")
    info = root.find("{urn:oasis:names:tc:emergency:cap:1.2}info")
    assert info is not None
    info.set("Id", "info-1")
    signer = XMLSigner(method=methods.enveloped, signature_algorithm=pki.algorithm, digest_algorithm="sha256")
    signed = signer.sign(
        root, key=pki.leaf_key_pem, cert=[pki.leaf_pem.decode()], reference_uri=["#alert-1", "#info-1"]
    )
    reason = _refused(etree.tostring(signed), "verify", bundle)
    assert reason == (
        'document carries 2 ds:Reference elements; exactly one, in the alert\'s SignedInfo with URI="", '
        "is accepted"
    )


def _transforms(data: bytes) -> tuple[etree._Element, etree._Element]:
    root = etree.fromstring(data)
    transforms = root.find(f"{{{DS}}}Signature/{{{DS}}}SignedInfo/{{{DS}}}Reference/{{{DS}}}Transforms")
    assert transforms is not None and len(transforms) == 2
    return root, transforms


XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"
ALLOWED = "enveloped-signature, optionally followed by one C14N 1.0/1.1 or exclusive C14N without comments"


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        ("xpath", f"signature transform '{XPATH}' is not accepted; accepted: {ALLOWED}"),
        ("xslt", f"signature transform '{XSLT}' is not accepted; accepted: {ALLOWED}"),
        ("base64", f"signature transform '{DS}base64' is not accepted; accepted: {ALLOWED}"),
        ("third", f"signature reference has 3 transforms; accepted: {ALLOWED}"),
        ("swap", "signature reference does not start with the enveloped-signature transform"),
        ("none", "signature reference does not start with the enveloped-signature transform"),
        ("child", "signature transform C14N 1.1 carries <XPath>, which is not accepted"),
    ],
)
def test_other_transforms_are_refused(edit: str, reason: str, flood: bytes, pki: Pki, bundle: Path) -> None:
    root, transforms = _transforms(sign(flood, pki))
    enveloped, c14n = transforms
    if edit in ("xpath", "xslt", "base64"):
        c14n.set("Algorithm", {"xpath": XPATH, "xslt": XSLT, "base64": f"{DS}base64"}[edit])
        if edit == "xpath":
            etree.SubElement(c14n, f"{{{DS}}}XPath").text = "not(ancestor-or-self::*[local-name()='note'])"
    elif edit == "third":
        transforms.append(etree.fromstring(etree.tostring(c14n)))
    elif edit == "swap":
        transforms.remove(enveloped)
        transforms.append(enveloped)
    elif edit == "none":
        transforms.getparent().remove(transforms)  # type: ignore[union-attr]
    else:
        etree.SubElement(c14n, f"{{{DS}}}XPath").text = "true()"
    for policy in ("verify", "require"):
        assert _refused(etree.tostring(root), policy, bundle).startswith(reason)


def test_canonicalization_with_comments_is_refused(flood: bytes, pki: Pki, bundle: Path) -> None:
    # A real signature made with exclusive C14N #WithComments: the parser strips comments before verifying,
    # so such a signature could only ever cover a comment-free alert; it is refused by name.
    data = sign(flood, pki, c14n=EXC_C14N + "WithComments")
    assert parse_alert(data).signed is False  # policy off: not looked at
    reason = _refused(data, "verify", bundle)
    assert reason == (
        f"SignedInfo canonicalization '{EXC_C14N}WithComments' is not accepted (comments are removed before "
        f"verification); accepted: {ALLOWED}"
    )


def test_signature_among_the_children_keeps_the_text_around_it(flood: bytes, pki: Pki, bundle: Path) -> None:
    # Enveloped means "wherever it sits among <alert>'s children": moved after <identifier>, taking over that
    # element's trailing whitespace, the data without the signature is unchanged and still verifies.
    root = etree.fromstring(sign(flood, pki))
    signature = _signature(root)
    root.remove(signature)
    identifier = root[0]
    signature.tail, identifier.tail = identifier.tail, ""
    identifier.addnext(signature)
    alert = parse_alert(etree.tostring(root), settings=settings("require", bundle))
    assert alert.signed is True and alert.identifier == "KR.KMA.202611251630.HRW.0012"


def test_verified_data_is_compared_with_the_alert(flood: bytes, pki: Pki, bundle: Path) -> None:
    # What signxml reports as signed is compared with the <alert> being parsed, not trusted: for the genuine
    # document they match; for the XSW document signxml verifies the hidden alert, which is not the root.
    genuine = sign(flood, pki, c14n=EXC_C14N)
    root = etree.fromstring(genuine)
    assert covers(_verified_by_signxml_alone(genuine, bundle), root, _signature(root))
    inner = etree.fromstring(sign(flood, pki, c14n=EXC_C14N, reference_uri="#alert-1"))
    signature = _signature(inner)
    inner.remove(signature)
    outer = _attacker(flood)
    etree.SubElement(outer, "{urn:example:wrap}wrapper").append(inner)
    outer.append(signature)
    attack = etree.fromstring(etree.tostring(outer))
    assert not covers(_verified_by_signxml_alone(etree.tostring(attack), bundle), attack, _signature(attack))
