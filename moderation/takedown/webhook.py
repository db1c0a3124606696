"""Signing and sending action webhooks: HMAC-SHA256 over the timestamp and the exact body bytes.

Header `X-Moderation-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`.
A receiver recomputes the HMAC over the raw body it received, compares in constant time and
rejects timestamps too far from its clock (replays). `verify_signature` is the reference check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import httpx

SIGNATURE_HEADER = "X-Moderation-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DELIVERY_HEADER = "X-Moderation-Delivery"
ATTEMPT_HEADER = "X-Moderation-Attempt"


def encode_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes that are signed and sent (compact, sorted keys)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """True when `header` is a valid signature of `body` made within `tolerance` seconds of `now`."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status_code: int | None
    error: str | None


def send(url: str, body: bytes, headers: dict[str, str], timeout: float) -> SendResult:
    """POST the body; any 2xx is delivered, anything else (including network errors) is a failure."""
    try:
        response = httpx.post(
            url, content=body, headers={"Content-Type": "application/json", **headers}, timeout=timeout
        )
    except httpx.HTTPError as exc:
        return SendResult(False, None, f"{type(exc).__name__}: {exc}"[:500])
    if 200 <= response.status_code < 300:
        return SendResult(True, response.status_code, None)
    return SendResult(False, response.status_code, f"HTTP {response.status_code}: {response.text[:300]}")
