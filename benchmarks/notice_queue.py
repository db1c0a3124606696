"""Benchmark: the due-time queue and the alert-threshold scan with 1,000,000 open notices on PostgreSQL.

Usage: .venv/bin/python benchmarks/notice_queue.py [--url postgresql+psycopg://...] [--notices 1000000]
Builds a scratch database (dropped and re-created), bulk-loads notices and clocks with COPY, then times
the first page of `GET /v1/notices` (service layer) and the alert scan, and prints EXPLAIN plans.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, make_url, text

from moderation.db import make_engine, session_factory
from moderation.kit import migrations
from moderation.takedown.service import takedown

REGIMES = [
    ("us-take-it-down", "2026-05-19", 48.0),
    ("eu-tco", "2022-06-07", 1.0),
    ("eu-dsa-16", "2024-02-17", 24.0),
]
OPEN = ["received", "needs_info", "validated"]


def reset_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}"'))
        connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    migrations.upgrade(url)


def load(url: str, count: int, now: datetime) -> float:
    engine = make_engine(url)
    rng = random.Random(7)
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        notice_sql = (
            "COPY notices (id, state, channel, regimes, reporter, statements, raw_submission, received_at, "
            "due_at, child_safety, created_by, policy_version, state_changed_at, created_at) FROM STDIN"
        )
        clock_sql = (
            "COPY notice_clocks (notice_id, regime, regime_version, clock, kind, trigger, starts_at, due_at, "
            "pausable, paused, paused_seconds, next_alert_at, next_alert_threshold, in_queue, queue_due_at) FROM STDIN"
        )
        reporter = json.dumps({"email": "bench@example.org"})
        with cursor.copy(notice_sql) as copy:  # type: ignore[attr-defined]
            for i in range(1, count + 1):
                regime, version, hours = REGIMES[i % len(REGIMES)]
                received = now - timedelta(seconds=rng.uniform(0, hours * 3600 * 1.2))
                due = received + timedelta(hours=hours)
                entry = json.dumps([{"id": regime, "version": version, "missing": [], "completed_at": None}])
                copy.write_row(
                    (
                        i,
                        OPEN[i % 3],
                        "api",
                        entry,
                        reporter,
                        "{}",
                        "{}",
                        received,
                        due,
                        False,
                        "bench",
                        "bench",
                        received,
                        received,
                    )
                )
        with cursor.copy(clock_sql) as copy:  # type: ignore[attr-defined]
            rng = random.Random(7)
            for i in range(1, count + 1):
                regime, version, hours = REGIMES[i % len(REGIMES)]
                received = now - timedelta(seconds=rng.uniform(0, hours * 3600 * 1.2))
                due = received + timedelta(hours=hours)
                # Next threshold: 0.5, 0.75, 0.9 or the breach; already alerted ones sit at the next one.
                elapsed = (now - received) / (due - received)
                threshold = next((t for t in (0.5, 0.75, 0.9, 1.0) if t > elapsed), None)
                if threshold is None:
                    next_at, threshold = None, None
                else:
                    next_at = received + (due - received) * threshold
                # Most clocks have been alerted up to the current threshold; ~1% are waiting right now.
                if next_at is not None and rng.random() < 0.01:
                    next_at = now - timedelta(seconds=rng.uniform(1, 600))
                copy.write_row(
                    (
                        i,
                        regime,
                        version,
                        "removal",
                        "statutory",
                        "received",
                        received,
                        due,
                        False,
                        False,
                        0.0,
                        next_at,
                        threshold,
                        True,
                        due,
                    )
                )
        cursor.execute("SELECT setval('notices_id_seq', %s)", (count,))
        raw.commit()
        cursor.execute("ANALYZE notices")
        cursor.execute("ANALYZE notice_clocks")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return time.perf_counter() - started


def timed(fn, repeat: int = 30) -> dict[str, float]:  # type: ignore[no-untyped-def]
    fn()  # warm the cache and the connection
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "median_ms": statistics.median(samples),
        "p95_ms": samples[int(len(samples) * 0.95) - 1],
        "max_ms": samples[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench_notice_queue"
        ),
    )
    parser.add_argument("--notices", type=int, default=1_000_000)
    args = parser.parse_args()

    now = datetime.now(UTC)
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, {platform.python_version()}"
    )
    reset_database(args.url)
    seconds = load(args.url, args.notices, now)
    print(f"loaded {args.notices:,} open notices and clocks with COPY in {seconds:.1f} s")

    engine = make_engine(args.url)
    factory = session_factory(engine)
    with factory() as session:
        version = session.execute(text("SHOW server_version")).scalar()
        print(f"PostgreSQL {version}")

        def first_page() -> None:
            page = takedown.queue(session, limit=50)
            assert len(page.items) == 50
            session.rollback()

        def overdue_page() -> None:
            takedown.queue(session, overdue=True, limit=50)
            session.rollback()

        def regime_page() -> None:
            takedown.queue(session, regime="eu-tco", limit=50)
            session.rollback()

        def alert_scan() -> None:
            found = takedown.clocks_crossing_threshold(session, limit=500)
            assert found
            session.rollback()

        results = {
            "queue first page (50, open states, by due_at)": timed(first_page),
            "queue first page, overdue only": timed(overdue_page),
            "queue first page, regime=eu-tco": timed(regime_page),
            "alert scan (next_alert_at <= now, 500 rows)": timed(alert_scan),
        }
        for name, r in results.items():
            print(
                f"{name:50} median {r['median_ms']:7.2f} ms  p95 {r['p95_ms']:7.2f} ms  max {r['max_ms']:7.2f} ms"
            )
        for label, sql in (
            (
                "queue",
                "SELECT id FROM notices WHERE state IN ('received','needs_info','validated') "
                "ORDER BY due_at ASC NULLS LAST, id LIMIT 51",
            ),
            (
                "alerts",
                "SELECT id FROM notice_clocks WHERE next_alert_at IS NOT NULL AND next_alert_at <= now() "
                "ORDER BY next_alert_at LIMIT 500",
            ),
        ):
            plan = session.execute(text(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}")).scalars().all()
            print(f"-- plan ({label}):")
            for line in plan:
                print(f"   {line}")
        session.rollback()
    engine.dispose()


if __name__ == "__main__":
    main()
