"""Key material: the signing key of the built-in issuer, and the public keys
(PEM keys, PEM certificates or a JWKS document) of an external one."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from registry.config import ConfigError

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = (
    ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey | rsa.RSAPublicKey
)
PUBLIC_KEY_TYPES = (
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
    rsa.RSAPublicKey,
)
EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.S)


class KeyFileError(ConfigError):
    """A key file that cannot be used."""


@dataclass(frozen=True)
class SigningKey:
    private: PrivateKey
    algorithm: str
    kid: str

    @property
    def public(self) -> VerifyingKey:
        return VerifyingKey(self.private.public_key(), self.kid)


@dataclass(frozen=True)
class VerifyingKey:
    key: PublicKey
    kid: str | None

    def algorithms(self) -> tuple[str, ...]:
        if isinstance(self.key, ec.EllipticCurvePublicKey):
            found = EC_ALGORITHMS.get(self.key.curve.name)
            return (found,) if found else ()
        if isinstance(self.key, rsa.RSAPublicKey):
            return RSA_ALGORITHMS
        return ("EdDSA",)


def create_signing_key(path: Path, algorithm: str) -> None:
    """Write a new private key (mode 0600) unless the file exists."""
    key: PrivateKey = (
        ed25519.Ed25519PrivateKey.generate()
        if algorithm == "EdDSA"
        else ec.generate_private_key(ec.SECP256R1())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process created it first
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def parse_signing_key(content: bytes) -> SigningKey:
    try:
        key = serialization.load_pem_private_key(content, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"not an unencrypted PEM private key: {exc}") from exc
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return SigningKey(key, "EdDSA", thumbprint(key.public_key()))
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1":
        return SigningKey(key, "ES256", thumbprint(key.public_key()))
    raise KeyFileError("the signing key must be an EC P-256 (ES256) or Ed25519 (EdDSA) key")


def parse_public_keys(content: bytes) -> list[VerifyingKey]:
    keys = _jwks(content) if content.lstrip().startswith(b"{") else _pem_keys(content)
    if not keys:
        raise KeyFileError("no usable public key (PEM PUBLIC KEY, CERTIFICATE, or a JWKS)")
    return keys


def _pem_keys(content: bytes) -> list[VerifyingKey]:
    keys = []
    for block in _PEM_BLOCK.finditer(content):
        try:
            key: object = (
                x509.load_pem_x509_certificate(block[0]).public_key()
                if block[1] == b"CERTIFICATE"
                else serialization.load_pem_public_key(block[0])
            )
        except ValueError as exc:
            raise KeyFileError(f"unreadable PEM {block[1].decode()}: {exc}") from exc
        keys.append(VerifyingKey(_usable(key), None))
    return keys


def _jwks(content: bytes) -> list[VerifyingKey]:
    try:
        found = jwt.PyJWKSet.from_json(content.decode())
    except (jwt.PyJWTError, ValueError) as exc:
        raise KeyFileError(f"unreadable JWKS: {exc}") from exc
    return [VerifyingKey(_usable(jwk.key), jwk.key_id) for jwk in found.keys]


def _usable(key: object) -> PublicKey:
    if isinstance(key, PUBLIC_KEY_TYPES):
        return key
    raise KeyFileError(f"unsupported public key type {type(key).__name__} (need EC, EdDSA or RSA)")


def thumbprint(key: PublicKey) -> str:
    """RFC 7638 JWK thumbprint: the key id of the tokens this server signs."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(key, as_dict=True)
        members: tuple[str, ...] = ("crv", "kty", "x", "y")
    elif isinstance(key, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
        members = ("e", "kty", "n")
    else:
        jwk = OKPAlgorithm.to_jwk(key, as_dict=True)
        members = ("crv", "kty", "x")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
