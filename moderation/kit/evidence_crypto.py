"""Encryption at rest (Fernet) of evidence and review copies with the evidence key (takedown and checks)."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from moderation.config import Settings
from moderation.exceptions import ConfigurationError

_HKDF_INFO = b"moderation evidence key v1"


def evidence_cipher(settings: Settings) -> Fernet:
    """The Fernet cipher for evidence: MODERATION_EVIDENCE_KEY, or a key derived from the secret key.

    Derivation uses HKDF-SHA256 so the evidence key is independent of other uses of the secret key;
    rotating MODERATION_SECRET_KEY without setting MODERATION_EVIDENCE_KEY makes old evidence unreadable.
    """
    if settings.evidence_key:
        try:
            return Fernet(settings.evidence_key.encode())
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                "MODERATION_EVIDENCE_KEY must be a urlsafe base64 32-byte key (Fernet.generate_key())"
            ) from exc
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        settings.secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(settings: Settings, data: bytes) -> bytes:
    return evidence_cipher(settings).encrypt(data)


def decrypt(settings: Settings, token: bytes) -> bytes:
    """The original bytes; ConfigurationError when the key in settings is not the one that encrypted them."""
    try:
        return evidence_cipher(settings).decrypt(token)
    except InvalidToken as exc:
        raise ConfigurationError("evidence cannot be decrypted with the configured key") from exc
