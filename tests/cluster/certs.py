"""The test cluster's PKI: one CA, serving and client certificates, service-account keys.

Kubernetes authenticates every component with a client certificate whose subject names
the user (CN) and groups (O); the API server's serving certificate must name the loopback
addresses and the first service IP. Keys are ECDSA P-256 because generating them takes
microseconds, which keeps the first start of a cluster fast. Everything is written once
into `<state>/pki` and reused on later starts, so tokens and kubeconfigs stay valid.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=3650)


@dataclass(frozen=True)
class CertPaths:
    cert: Path
    key: Path


@dataclass(frozen=True)
class CertificateAuthority:
    paths: CertPaths
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def load_or_create_ca(pki_dir: Path) -> CertificateAuthority:
    """The cluster CA, created on first use."""
    paths = CertPaths(pki_dir / "ca.crt", pki_dir / "ca.key")
    if paths.cert.exists() and paths.key.exists():
        certificate = x509.load_pem_x509_certificate(paths.cert.read_bytes())
        key = serialization.load_pem_private_key(paths.key.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return CertificateAuthority(paths, certificate, key)
    pki_dir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name("kubetune-test-ca")
    certificate = (
        _builder(subject, subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write_key(key, paths.key)
    paths.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return CertificateAuthority(paths, certificate, key)


def issue(
    ca: CertificateAuthority,
    pki_dir: Path,
    file_stem: str,
    common_name: str,
    organizations: tuple[str, ...] = (),
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
) -> CertPaths:
    """A certificate signed by the CA, for client auth, plus server auth when it has SANs.

    Reuses an existing pair with the same file stem.
    """
    paths = CertPaths(pki_dir / f"{file_stem}.crt", pki_dir / f"{file_stem}.key")
    if paths.cert.exists() and paths.key.exists():
        return paths
    key = ec.generate_private_key(ec.SECP256R1())
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    builder = _builder(_name(common_name, organizations), ca.certificate.subject, key.public_key())
    if dns_names or ip_addresses:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        alternative_names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
        alternative_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
        builder = builder.add_extension(
            x509.SubjectAlternativeName(alternative_names), critical=False
        )
    certificate = (
        builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    _write_key(key, paths.key)
    paths.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return paths


def load_or_create_service_account_keys(pki_dir: Path) -> CertPaths:
    """Key pair the API server signs service-account tokens with (`cert` is the public key)."""
    paths = CertPaths(pki_dir / "sa.pub", pki_dir / "sa.key")
    if paths.cert.exists() and paths.key.exists():
        return paths
    key = ec.generate_private_key(ec.SECP256R1())
    _write_key(key, paths.key)
    paths.cert.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return paths
