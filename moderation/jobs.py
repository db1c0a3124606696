"""The job registry: features declare jobs in `tasks.py` with `@job("<feature>.<verb_phrase>")`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.db import transaction
from moderation.policy.loader import Policy, get_policy

JobResult = dict[str, Any]


@dataclass
class JobContext:
    """What a job run gets: the engine, settings, policy and who it is.

    A job opens its units of work with `ctx.transaction()`; each one commits when the block ends
    and rolls back on an error. Services called inside never commit."""

    name: str
    engine: Engine
    settings: Settings
    worker_id: str
    _policy: Policy | None = field(default=None, repr=False)

    @property
    def actor(self) -> str:
        """Audit actor of everything the job changes."""
        return f"system:{self.name}"

    @property
    def policy(self) -> Policy:
        if self._policy is None:
            self._policy = get_policy(self.settings.policies_dir)
        return self._policy

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        with transaction(self.engine) as session:
            yield session


JobFunction = Callable[[JobContext], JobResult | None]


@dataclass(frozen=True)
class Job:
    """A scheduled job: `run(ctx)` is called every `interval_seconds` (default: the worker interval)
    under a lock keyed on `name`, so only one worker runs it at a time. It must be idempotent."""

    name: str
    run: JobFunction
    description: str
    interval_seconds: float | None = None

    def interval(self, settings: Settings) -> float:
        return (
            self.interval_seconds if self.interval_seconds is not None else settings.worker_interval_seconds
        )


_jobs: dict[str, Job] = {}


def job(name: str, *, interval_seconds: float | None = None) -> Callable[[JobFunction], JobFunction]:
    """Register the decorated function as the job `name` (first docstring line is its description)."""

    def register(function: JobFunction) -> JobFunction:
        description = (function.__doc__ or name).strip().splitlines()[0]
        _jobs[name] = Job(name=name, run=function, description=description, interval_seconds=interval_seconds)
        return function

    return register


def registered() -> list[Job]:
    """Jobs in registration order (the order `worker --once` runs them in)."""
    return list(_jobs.values())
