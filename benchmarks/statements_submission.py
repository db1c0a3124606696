"""Statements of reasons: the cost of building, validating and storing one (on the block path of a check)
and the throughput of `statements.submit_pending` against the local fake Transparency Database.

Sets up a fresh database (SQLite in a temp dir, or --database-url), stores --count blocked checks and
their statements (`statements.record_check`, each in its own transaction, as the check API does), then
submits them all in batches of 100 over HTTP to the fake (tests/statements/fake_tdb.py, on loopback).

    .venv/bin/python benchmarks/statements_submission.py --count 2000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _machine import machine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from moderation.checks.repository import checks_repository  # noqa: E402
from moderation.config import Settings  # noqa: E402
from moderation.db import make_engine, transaction  # noqa: E402
from moderation.kit import migrations  # noqa: E402
from moderation.models.check import Check  # noqa: E402
from moderation.policy.loader import get_policy  # noqa: E402
from moderation.statements.service import statements  # noqa: E402
from moderation.statements.tasks import submit_pending  # noqa: E402
from tests.statements.fake_tdb import FakeTransparencyDatabase  # noqa: E402


def _check(i: int) -> Check:
    return Check(
        actor="bench",
        sha256=f"{i:064x}",
        md5=f"{i:032x}",
        pdq="0" * 64,
        pdq_quality=100,
        phash="0" * 16,
        dhash="0" * 16,
        image_format="JPEG",
        width=1024,
        height=768,
        content_id=f"bench-{i}",
        source="upload",
        cache_key=f"{i:064x}",
        decision="block",
        reasons=[
            {
                "kind": "bank_match",
                "rule": "bank.block",
                "decision": "block",
                "bank": "known-bad",
                "entry_id": 1,
                "hash_type": "pdq",
                "distance": 4,
                "threshold": 31,
                "action": "block",
            }
        ],
        classifier={"state": "disabled"},
        timings_ms={},
        policy_version="bench",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        migrations.upgrade(url)
        settings = Settings(database_url=url, data_dir=Path(tmp), env="test")
        engine = make_engine(url)
        policy = get_policy(settings.policies_dir)  # the check path passes the request's policy
        record_ms = []
        for i in range(args.count):
            with transaction(engine) as session:
                check = checks_repository.add(session, _check(i))
                began = time.perf_counter()
                statements.record_check(session, check, actor="bench", policy=policy)
                record_ms.append((time.perf_counter() - began) * 1000)
        record_ms.sort()
        print(
            f"record_check (build + validate + insert + submission row + audit event), {args.count} statements: "
            f"p50 {statistics.median(record_ms):.2f} ms, p99 {record_ms[int(len(record_ms) * 0.99) - 1]:.2f} ms"
        )
        with FakeTransparencyDatabase() as fake:
            configured = settings.model_copy(
                update={"transparency_api_url": fake.url, "transparency_api_token": fake.token}
            )
            began = time.perf_counter()
            runs = 0
            while len(fake.stored) < args.count:
                submit_pending(engine, settings=configured)
                runs += 1
            elapsed = time.perf_counter() - began
        print(
            f"submit_pending: {args.count} statements in {runs} runs (batches of 100) in {elapsed:.2f} s = "
            f"{args.count / elapsed:.0f} statements/s (fake database on the same machine)"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
