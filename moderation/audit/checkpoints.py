"""Checkpoints of the audit chain's head, exported outside the database.

A checkpoint names the newest event (id, hash, MAC) at a moment and is signed with the audit key.
Kept where the database's users cannot write (another host, object storage with retention, a
webhook receiver), it lets `moderation audit verify --checkpoint FILE` prove that the log still holds
everything up to that event: a truncated or rewritten log no longer matches it."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from moderation.exceptions import ValidationFailed

LATEST = "latest.json"


class InvalidCheckpoint(ValidationFailed):
    code = "invalid_checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    id: int
    hash: str
    mac: str | None
    exported_at: str
    signature: str = ""

    @staticmethod
    def _signature(key: bytes, id: int, hash: str, mac: str | None, exported_at: str) -> str:
        message = f"moderation-audit-checkpoint:{id}:{hash}:{mac or ''}:{exported_at}"
        return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()

    @classmethod
    def sign(cls, key: bytes, *, id: int, hash: str, mac: str | None, exported_at: datetime) -> Checkpoint:
        at = exported_at.isoformat()
        return cls(
            id=id, hash=hash, mac=mac, exported_at=at, signature=cls._signature(key, id, hash, mac, at)
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def parse(cls, text: str, key: bytes) -> Checkpoint:
        """Read a checkpoint and check its signature (a forged or edited file is refused)."""
        try:
            raw: Any = json.loads(text)
            checkpoint = cls(
                id=int(raw["id"]),
                hash=str(raw["hash"]),
                mac=None if raw.get("mac") is None else str(raw["mac"]),
                exported_at=str(raw["exported_at"]),
                signature=str(raw["signature"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidCheckpoint(f"not a checkpoint file: {exc}") from exc
        expected = cls._signature(key, checkpoint.id, checkpoint.hash, checkpoint.mac, checkpoint.exported_at)
        if checkpoint.id < 1 or not hmac.compare_digest(expected, checkpoint.signature):
            raise InvalidCheckpoint("the checkpoint's signature does not match the audit key")
        return checkpoint


def write_file(directory: Path, checkpoint: Checkpoint) -> Path:
    """Write `checkpoint-<id>.json` and replace `latest.json`, each atomically (write, fsync, rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"checkpoint-{checkpoint.id:012d}.json"
    for path in (target, directory / LATEST):
        temporary = path.with_suffix(".tmp")
        with temporary.open("w") as handle:
            handle.write(checkpoint.to_json() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
    return target
