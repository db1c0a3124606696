"""Per-job locks so that several workers never run the same job at the same time."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

from sqlalchemy import Engine, text


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a job name (PostgreSQL advisory lock keys are bigint)."""
    return int.from_bytes(hashlib.sha256(f"moderation.job:{name}".encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def job_lock(engine: Engine, name: str) -> Iterator[bool]:
    """Try to take the lock of job `name`; yields whether it was taken, releases it on exit.

    PostgreSQL: a transaction-level advisory try-lock on a connection of its own, held open for the
    job run; it is released when that transaction ends, including when the worker dies and its
    connection drops, so a crashed worker never leaves the lock behind. SQLite admits one writer at a
    time (BEGIN IMMEDIATE), and every row a job changes is claimed with a conditional UPDATE, so
    there is no lock to take there."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as connection:
        taken = bool(
            connection.execute(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": lock_key(name)}
            ).scalar()
        )
        try:
            yield taken
        finally:
            connection.rollback()
