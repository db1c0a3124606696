"""Evidence encryption at rest (Fernet) and preservation-period arithmetic."""

from __future__ import annotations

import base64
import calendar
from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from moderation.config import Settings
from moderation.exceptions import ConfigurationError
from moderation.policy.regimes import Period

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


def add_months(value: datetime, months: int) -> datetime:
    """Same day-of-month `months` later, clamped to the month's last day (31 Aug + 6 months = 28/29 Feb)."""
    index = value.month - 1 + months
    year, month = value.year + index // 12, index % 12 + 1
    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)


def period_end(start: datetime, period: Period) -> datetime:
    """End of a preservation period that starts at `start` (removal)."""
    if period.unit == "days":
        return start + timedelta(days=period.length)
    if period.unit == "months":
        return add_months(start, period.length)
    return add_months(start, 12 * period.length)
