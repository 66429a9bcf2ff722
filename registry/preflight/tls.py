"""TLS files: both readable, a certificate and a private key, and the key is the certificate's."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)

from registry.config import Settings
from registry.preflight.failure import CONFIGURATION, StartupError, path_error

SPKI = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


async def check(settings: Settings) -> str:
    if settings.tls_cert is None or settings.tls_key is None:
        return "off: plain HTTP (set tls_cert and tls_key to serve HTTPS)"
    return await asyncio.to_thread(_check, settings.tls_cert, settings.tls_key)


def _check(cert_path: Path, key_path: Path) -> str:
    certificate = _certificate(cert_path)
    if _key_public(key_path) != certificate.public_key().public_bytes(*SPKI):
        raise StartupError(
            f"tls_key {key_path}",
            f"is not the private key of the certificate in tls_cert {cert_path}",
            "give the key the certificate was issued for (or the certificate of this key)",
            CONFIGURATION,
        )
    _load_as_served(cert_path, key_path)
    expiry = certificate.not_valid_after_utc.date().isoformat()
    return f"{certificate.subject.rfc4514_string()}, valid until {expiry}"


def _certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificates(_read("tls_cert", path))[0]
    except ValueError as exc:
        raise StartupError(
            f"tls_cert {path}",
            "no PEM certificate in it",
            "give the PEM certificate (chain), server certificate first",
            CONFIGURATION,
        ) from exc


def _key_public(path: Path) -> bytes:
    try:
        key = load_pem_private_key(_read("tls_key", path), password=None)
    except (ValueError, TypeError) as exc:  # TypeError: the key is encrypted
        found = "the key is encrypted" if isinstance(exc, TypeError) else "no PEM private key in it"
        raise StartupError(
            f"tls_key {path}",
            found,
            "give the PEM private key without a passphrase (openssl pkey -in KEY -out NEW)",
            CONFIGURATION,
        ) from exc
    return key.public_key().public_bytes(*SPKI)


def _load_as_served(cert_path: Path, key_path: Path) -> None:
    """What the server will do with the pair; catches what the checks above let through."""
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert_path, key_path)
    except ssl.SSLError as exc:
        raise StartupError(
            f"tls_cert {cert_path}",
            f"refused by the TLS library with tls_key {key_path} ({exc.reason or exc})",
            "give a certificate and key pair OpenSSL accepts",
            CONFIGURATION,
        ) from exc


def _read(setting: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise path_error(setting, path, exc, "cannot read it") from exc
