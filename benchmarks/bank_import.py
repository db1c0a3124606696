"""Bank import throughput: hashes/s for a generated PDQ-hex (or CSV) file on SQLite and PostgreSQL.

Usage: .venv/bin/python benchmarks/bank_import.py [--lines 1000000] [--format pdq-hex|csv]
           [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench_banks] [--no-sqlite] [--refresh]
           [--keep-duplicates] [--again]

Each run migrates a fresh database, streams the file through `banks.import_lines` in one transaction
(the CLI path without the progress bar) and prints lines, seconds, hashes/s and peak RSS. `--refresh`
also times how long a running matcher takes to pick the imported hashes up from the change log.
`--keep-duplicates` skips the check against the bank's existing values; `--again` imports the same file
a second time into the same bank (every line a duplicate, or 2M rows with `--keep-duplicates`).
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from pathlib import Path

from _machine import machine
from sqlalchemy import Engine, create_engine, make_url, text

from moderation.banks.service import banks
from moderation.db import make_engine, transaction
from moderation.kit import migrations
from moderation.matching.service import MatchService


def write_file(path: Path, lines: int, fmt: str) -> None:
    rng = random.Random(42)
    with path.open("w") as handle:
        if fmt == "csv":
            handle.write("hash_type,value,metadata\n")
        for i in range(lines):
            value = f"{rng.getrandbits(256):064x}"
            handle.write(f"pdq,{value},\n" if fmt == "csv" else f"{value}\n")
            if i % 100_000 == 99_999 and fmt == "pdq-hex":
                handle.write("not-a-hash\n")  # a few bad lines, as real exchange files have


def fresh_postgres(url: str) -> str:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    return url


def timed_import(engine: Engine, path: Path, fmt: str, keep_duplicates: bool, label: str) -> None:
    started = time.perf_counter()
    with transaction(engine) as session, path.open() as handle:
        report = banks.import_lines(
            session,
            "bench",
            handle,
            fmt=fmt,
            source="import:bench",
            actor="bench",
            keep_duplicates=keep_duplicates,
        )
    seconds = time.perf_counter() - started
    # Valid hashes handled per second (imported or recognised as duplicates), as in earlier runs.
    rate = (report.imported + report.duplicates) / seconds
    print(
        f"{label:10} {report.lines:>9,} lines  {report.imported:>9,} imported  {report.skipped} bad  "
        f"{report.duplicates:,} duplicates  {seconds:6.2f} s  {rate:>9,.0f} hashes/s"
    )


def run(url: str, path: Path, fmt: str, refresh: bool, keep_duplicates: bool, again: bool) -> None:
    migrations.upgrade(url)
    engine = make_engine(url)
    matcher = MatchService()
    if refresh:
        matcher.start(engine, background=False)
    with transaction(engine) as session:
        banks.create(session, name="bench", actor="bench")
    timed_import(engine, path, fmt, keep_duplicates, engine.dialect.name)
    if refresh:
        started = time.perf_counter()
        matcher.refresh()
        print(
            f"{'':10} matcher refresh picked up {matcher.status()['entries']:,} entries "
            f"in {time.perf_counter() - started:.2f} s"
        )
        matcher.stop()
    if again:
        timed_import(engine, path, fmt, keep_duplicates, "again")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--format", default="pdq-hex", choices=["pdq-hex", "csv"])
    parser.add_argument("--postgres", default=None, help="PostgreSQL URL of a scratch database (dropped!)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--refresh", action="store_true", help="also time the matcher picking the import up")
    parser.add_argument("--keep-duplicates", action="store_true", help="no check against existing values")
    parser.add_argument("--again", action="store_true", help="then import the same file a second time")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"hashes.{'csv' if args.format == 'csv' else 'txt'}"
        started = time.perf_counter()
        write_file(path, args.lines, args.format)
        print(
            f"generated {path.stat().st_size / 1e6:.0f} MB ({args.format}) in {time.perf_counter() - started:.1f} s"
        )
        if not args.no_sqlite:
            run(
                f"sqlite:///{Path(scratch) / 'bench.db'}",
                path,
                args.format,
                args.refresh,
                args.keep_duplicates,
                args.again,
            )
        if args.postgres:
            run(
                fresh_postgres(args.postgres),
                path,
                args.format,
                args.refresh,
                args.keep_duplicates,
                args.again,
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
