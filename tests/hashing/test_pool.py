"""The hashing pool: a batch decoded and hashed in worker processes gives exactly the in-process answers."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from moderation.exceptions import ModerationError
from moderation.hashing.hashers import decode_and_hash
from moderation.hashing.intake import ImageLimits
from moderation.hashing.pool import Hashed, HashJob, HashPool, Outcome, hash_job
from tests.factories import jpeg

LIMITS = ImageLimits()


def _dies_on_marker(job: HashJob, limits: ImageLimits, perceptual: frozenset[str]) -> Outcome:
    """A task whose process dies (as if killed) on the bytes b"die"."""
    if job.data == b"die":
        os._exit(3)
    return hash_job(job, limits, perceptual)


def _pid_task(job: HashJob, limits: ImageLimits, perceptual: frozenset[str]) -> Outcome:
    outcome = hash_job(job, limits, perceptual)
    assert isinstance(outcome, Hashed)
    return Hashed(outcome.decoded, outcome.hashes, float(os.getpid()))


@pytest.fixture
def pool() -> Iterator[HashPool]:
    made = HashPool(2)
    yield made
    made.close()


def test_a_batch_in_processes_equals_hashing_in_process(pool: HashPool) -> None:
    images = [jpeg(seed) for seed in range(5)]
    outcomes = pool.run([HashJob(data) for data in images], LIMITS)
    assert len(outcomes) == 5
    for data, outcome in zip(images, outcomes, strict=True):
        assert isinstance(outcome, Hashed)
        decoded, hashes = decode_and_hash(data, LIMITS)
        assert outcome.hashes == hashes
        assert outcome.decoded.image.size == decoded.image.size
        assert outcome.decoded.image.tobytes() == decoded.image.tobytes()


def test_the_perceptual_choice_and_a_given_sha256_reach_the_processes(pool: HashPool) -> None:
    outcomes = pool.run([HashJob(jpeg(1), sha256="ab" * 32), HashJob(jpeg(2))], LIMITS, perceptual=["dhash"])
    first, second = outcomes
    assert isinstance(first, Hashed) and isinstance(second, Hashed)
    assert first.hashes.sha256 == "ab" * 32 and first.hashes.phash is None and first.hashes.dhash


def test_a_bad_image_fails_only_itself_with_its_stable_code(pool: HashPool) -> None:
    corrupt = b"\xff\xd8\xff\xe0 not really a jpeg"
    outcomes = pool.run([HashJob(jpeg(1)), HashJob(corrupt), HashJob(b"")], LIMITS)
    assert isinstance(outcomes[0], Hashed)
    for bad, data in ((outcomes[1], corrupt), (outcomes[2], b"")):
        assert isinstance(bad, ModerationError)
        with pytest.raises(ModerationError) as inline:
            decode_and_hash(data, LIMITS)
        assert (bad.code, bad.status) == (inline.value.code, inline.value.status)


def test_the_work_is_spread_over_processes(pool: HashPool) -> None:
    spread = HashPool(2, task=_pid_task)
    try:
        outcomes = spread.run([HashJob(jpeg(seed, (1600, 1200))) for seed in range(8)], LIMITS)
    finally:
        spread.close()
    pids = {o.ms for o in outcomes if isinstance(o, Hashed)}
    assert os.getpid() not in pids and len(pids) == 2


def test_a_dead_process_costs_only_time_and_the_next_batch_gets_new_processes() -> None:
    pool = HashPool(2, task=_dies_on_marker)
    try:
        images = [jpeg(seed) for seed in range(3)]
        outcomes = pool.run([HashJob(images[0]), HashJob(b"die"), HashJob(images[1])], LIMITS)
        assert isinstance(outcomes[0], Hashed) and isinstance(outcomes[2], Hashed)
        # Hashed here instead: the marker is not an image, so it gets the intake's own error.
        assert isinstance(outcomes[1], ModerationError)
        again = pool.run([HashJob(images[2]), HashJob(images[0])], LIMITS)
        assert all(isinstance(o, Hashed) for o in again)
        assert isinstance(again[1], Hashed) and again[1].hashes == outcomes[0].hashes
    finally:
        pool.close()


def test_no_processes_or_one_image_runs_in_the_caller() -> None:
    inline = HashPool(0, task=_pid_task)
    outcomes = inline.run([HashJob(jpeg(1)), HashJob(jpeg(2))], LIMITS)
    assert {o.ms for o in outcomes if isinstance(o, Hashed)} == {float(os.getpid())}
    single = HashPool(2, task=_pid_task)
    (one,) = single.run([HashJob(jpeg(1))], LIMITS)
    assert isinstance(one, Hashed) and one.ms == float(os.getpid())
    single.close()
