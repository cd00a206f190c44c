"""Certificates for the sandbox: both emulators speak HTTPS, like the real APIs.

The real clients only ever talk HTTPS (simple-salesforce builds ``https://`` instance URLs), so
the sandbox needs a certificate they trust. We mint a private CA and a loopback server
certificate, and write a bundle = the system's trusted roots + our CA, so a process can point
``REQUESTS_CA_BUNDLE`` at it and still reach everything else.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK_NAMES = ("localhost",)
LOOPBACK_IPS = ("127.0.0.1", "::1")
VALIDITY = timedelta(days=365)
RENEW_BEFORE = timedelta(days=7)  # regenerate a little before expiry, not at the last second


@dataclass(frozen=True, slots=True)
class Certs:
    ca_path: Path      # the sandbox CA certificate (PEM)
    cert_path: Path    # the server certificate (PEM)
    key_path: Path     # the server private key (PEM, unencrypted)
    bundle_path: Path  # system CA bundle + sandbox CA, for REQUESTS_CA_BUNDLE


def make_certificates(directory: Path) -> Certs:
    """Return usable certificates in ``directory``, creating them when missing or expiring."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    certs = Certs(
        ca_path=directory / "sandbox-ca.pem",
        cert_path=directory / "sandbox-server.pem",
        key_path=directory / "sandbox-server-key.pem",
        bundle_path=directory / "ca-bundle.pem",
    )
    if not _still_valid(certs):
        _generate(certs)
    # The bundle is rebuilt every time: the system bundle may have changed since.
    _write_bundle(certs)
    return certs


def _still_valid(certs: Certs) -> bool:
    if not (certs.ca_path.exists() and certs.cert_path.exists() and certs.key_path.exists()):
        return False
    try:
        for path in (certs.ca_path, certs.cert_path):
            cert = x509.load_pem_x509_certificate(path.read_bytes())
            if cert.not_valid_after_utc - RENEW_BEFORE < datetime.now(timezone.utc):
                return False
        serialization.load_pem_private_key(certs.key_path.read_bytes(), password=None)
    except (ValueError, TypeError):
        return False
    return True


def _generate(certs: Certs) -> None:
    now = datetime.now(timezone.utc) - timedelta(minutes=5)  # tolerate small clock skew
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leadsync sandbox CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    alt_names = [x509.DNSName(n) for n in LOOPBACK_NAMES]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in LOOPBACK_IPS]
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    certs.ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    certs.cert_path.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_pem = server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    certs.key_path.write_bytes(key_pem)
    os.chmod(certs.key_path, 0o600)


def system_bundle_path() -> Path | None:
    """Where this process's trusted roots come from: $REQUESTS_CA_BUNDLE, else certifi."""
    configured = os.environ.get("REQUESTS_CA_BUNDLE")
    if configured and Path(configured).is_file():
        return Path(configured)
    try:
        import certifi
    except ImportError:  # certifi ships with requests; without it there is nothing to append to
        return None
    return Path(certifi.where())


def _write_bundle(certs: Certs) -> None:
    parts: list[str] = []
    system = system_bundle_path()
    # Never fold an older sandbox bundle into itself (REQUESTS_CA_BUNDLE may already point here).
    if system is not None and system.resolve() != certs.bundle_path.resolve():
        parts.append(system.read_text(encoding="utf-8", errors="replace").rstrip("\n") + "\n")
    parts.append(certs.ca_path.read_text(encoding="ascii"))
    tmp = certs.bundle_path.with_suffix(".tmp")
    tmp.write_text("".join(parts), encoding="utf-8")
    tmp.replace(certs.bundle_path)
