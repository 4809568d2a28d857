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

from cinealert.cap import CapSignatureError, classify, parse_alert
from cinealert.config import parse as parse_settings
from cinealert.config.sections import CapSettings

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


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


def sign(data: bytes, pki: Pki) -> bytes:
    root = etree.fromstring(data)
    signer = XMLSigner(method=methods.enveloped, signature_algorithm=pki.algorithm, digest_algorithm="sha256")
    signed = signer.sign(root, key=pki.leaf_key_pem, cert=[pki.leaf_pem.decode()])
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
