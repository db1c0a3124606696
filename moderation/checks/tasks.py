"""Checks jobs: `checks.seal_decisions` (audit seals over stored checks) and `checks.purge_review_copies`.

Safe on several workers at once: the worker takes a per-job lock, and each batch is claimed with a
conditional UPDATE, so a second sealer that lost the race rolls its batch (and its audit event) back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from moderation.checks.errors import SealConflict
from moderation.checks.review import review_queue
from moderation.checks.seals import Seal, check_seals
from moderation.config import Settings
from moderation.db import get_engine, transaction
from moderation.jobs import JobContext, JobResult, job

SEAL_DECISIONS = "checks.seal_decisions"
PURGE_REVIEW_COPIES = "checks.purge_review_copies"


@dataclass
class SealRun:
    seals: list[Seal] = field(default_factory=list)
    conflicts: int = 0

    @property
    def sealed(self) -> int:
        return sum(seal.count for seal in self.seals)


def seal_decisions(
    engine: Engine | None = None,
    *,
    settings: Settings,
    actor: str = f"system:{SEAL_DECISIONS}",
    batch_size: int | None = None,
    max_batches: int = 1000,
) -> SealRun:
    """Seal every unsealed check, one transaction (and one audit event) per batch. Stops early when
    another sealer wins a batch: what is left is theirs to seal."""
    engine = engine or get_engine(settings)
    size = batch_size or settings.check_seal_batch_size
    run = SealRun()
    for _ in range(max_batches):
        try:
            with transaction(engine) as session:
                seal = check_seals.seal_batch(session, actor=actor, limit=size)
        except SealConflict:
            run.conflicts += 1
            break
        if seal is None:
            break
        run.seals.append(seal)
    return run


def purge_review_copies(engine: Engine | None = None, *, actor: str, limit: int = 500) -> int:
    """Delete the image copies of blocked review items whose retention has ended; returns how many."""
    with transaction(engine or get_engine()) as session:
        return review_queue.purge_copies(session, actor=actor, limit=limit)


@job(SEAL_DECISIONS)
def seal_decisions_job(ctx: JobContext) -> JobResult:
    """Seal stored checks (allow decisions included) into the audit log, one event per batch."""
    run = seal_decisions(ctx.engine, settings=ctx.settings, actor=ctx.actor)
    return {"batches": len(run.seals), "sealed": run.sealed, "conflicts": run.conflicts}


@job(PURGE_REVIEW_COPIES)
def purge_review_copies_job(ctx: JobContext) -> JobResult:
    """Delete review image copies whose retention after a block verdict has ended."""
    return {"purged": purge_review_copies(ctx.engine, actor=ctx.actor)}
