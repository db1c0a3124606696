"""Decoding and hashing in worker processes, so that one request's batch of images uses every core.

PDQ (`pdqhash`) holds the GIL while it hashes, so threads cannot spread a batch over the cores; processes
can. Lifecycle: one `HashPool` per service process, created with the check pipeline; its processes start
on the first batch that uses them (a deployment without batch clients never pays their memory, about
60 MB each) and stop with `close()`. A process that dies (killed, out of memory) breaks only the batch
it was working on: those images are hashed in the calling thread instead, and the next batch gets a new
set of processes.

Each process decodes one image at a time, within the same `ImageLimits` as the caller (bombs, pixel and
byte limits), so the memory bound of decoding is the per-process one times (processes + 1)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from moderation.exceptions import ModerationError
from moderation.hashing.hashers import OPTIONAL_PERCEPTUAL, ImageHashes, decode_and_hash
from moderation.hashing.intake import DecodedImage, ImageLimits

log = logging.getLogger("moderation.hashing")


@dataclass(frozen=True)
class HashJob:
    """One image to decode and hash (`sha256` when the caller already took it)."""

    data: bytes
    sha256: str = ""


@dataclass(frozen=True)
class Hashed:
    decoded: DecodedImage
    hashes: ImageHashes
    # Milliseconds the decoding and hashing took where it ran.
    ms: float


Outcome = Hashed | ModerationError
Task = Callable[[HashJob, ImageLimits, frozenset[str]], Outcome]


def hash_job(job: HashJob, limits: ImageLimits, perceptual: frozenset[str]) -> Outcome:
    """The work of one image (runs in a pool process, or in the caller's thread as the fallback)."""
    begin = time.perf_counter()
    try:
        decoded, hashes = decode_and_hash(job.data, limits, sha256=job.sha256, perceptual=perceptual)
    except ModerationError as exc:
        return exc
    return Hashed(decoded, hashes, round((time.perf_counter() - begin) * 1000, 3))


def default_processes() -> int:
    """The CPUs this process may run on (0 on a single CPU: a pool would only add copying)."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        count = os.cpu_count() or 1
    return count if count > 1 else 0


class HashPool:
    """A lazily started process pool for `hash_job` (`task` is replaceable for tests)."""

    def __init__(self, processes: int, *, task: Task = hash_job) -> None:
        self.processes = processes
        self._task = task
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                # forkserver: the service's threads (uvicorn, the matcher's refresher) are not forked; the
                # server imports the hashing code once and each process starts from that copy.
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload([__name__])
                self._executor = ProcessPoolExecutor(max_workers=self.processes, mp_context=context)
            return self._executor

    def _discard(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = None
        broken.shutdown(wait=False, cancel_futures=True)

    def run(
        self,
        jobs: Sequence[HashJob],
        limits: ImageLimits,
        *,
        perceptual: Collection[str] = OPTIONAL_PERCEPTUAL,
    ) -> list[Outcome]:
        """Decode and hash every job, in parallel; one outcome per job, in order. An image the pool could
        not finish (its process died) is hashed here instead."""
        wanted = frozenset(perceptual)
        if self.processes < 1 or len(jobs) < 2:
            return [self._task(job, limits, wanted) for job in jobs]
        executor = self._pool()
        futures: list[Future[Outcome] | None] = []
        try:
            for job in jobs:
                futures.append(executor.submit(self._task, job, limits, wanted))
        except (BrokenProcessPool, RuntimeError):
            futures += [None] * (len(jobs) - len(futures))
        outcomes: list[Outcome] = []
        broken = False
        for job, future in zip(jobs, futures, strict=True):
            outcome: Outcome | None = None
            if future is not None:
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    broken = True
            if outcome is None:
                outcome = hash_job(job, limits, wanted)
            outcomes.append(outcome)
        if broken or None in futures:
            log.warning("a hashing process died; its images were hashed in the service process")
            self._discard(executor)
        return outcomes

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
