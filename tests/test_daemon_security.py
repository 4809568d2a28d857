"""Kafka TLS/SASL settings reach aiokafka: CA and client certificate in an SSLContext, the SASL password from
``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``), never from the TOML."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cinealert.config import load
from cinealert.daemon.service import client_options


def _self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_sasl_ssl_options_with_password_from_credentials(tmp_path: Path) -> None:
    ca, _ca_key = _self_signed(tmp_path, "test-ca")
    cert, key = _self_signed(tmp_path, "client")
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "kafka.sasl_password").write_text("s3cret\n")
    config = tmp_path / "c.toml"
    config.write_text(
        f"""
[kafka]
bootstrap = "kafka-1:9093,kafka-2:9093"
security_protocol = "SASL_SSL"
sasl_mechanism = "SCRAM-SHA-512"
sasl_username = "cinealert"
ssl_cafile = "{ca}"
ssl_certfile = "{cert}"
ssl_keyfile = "{key}"
"""
    )
    settings = load(config, environ={"CREDENTIALS_DIRECTORY": str(creds)})
    opts = client_options(settings.kafka, settings.kafka.bootstrap)
    assert opts["security_protocol"] == "SASL_SSL"
    assert opts["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (opts["sasl_plain_username"], opts["sasl_plain_password"]) == ("cinealert", "s3cret")
    ctx = opts["ssl_context"]
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    subjects = [dict(x[0] for x in c["subject"]) for c in ctx.get_ca_certs()]
    assert {"commonName": "test-ca"} in subjects
    assert "s3cret" not in repr(settings)  # SecretStr: never printed


def test_plaintext_has_no_tls_or_sasl() -> None:
    from cinealert.config import parse

    opts = client_options(parse({}).kafka, "127.0.0.1:9092")
    assert opts["security_protocol"] == "PLAINTEXT"
    assert "ssl_context" not in opts and "sasl_mechanism" not in opts
