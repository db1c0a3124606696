"""First-fetch throughput of a hash exchange: records/s from the fake StopNCII server (tests/exchanges/fakes.py)
through python-threatexchange's client into a bank, on SQLite (and PostgreSQL with --postgres).

Usage: .venv/bin/python benchmarks/exchange_fetch.py [--records 50000] [--page-size 800]
           [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench_exchanges]

Prints records, pages, seconds, records/s and peak RSS; the fake serves pages from memory on the same
machine, so the figure is this service's side (parse, convert, insert, checkpoint per page) plus local HTTP.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from _machine import machine
from sqlalchemy import create_engine, make_url, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from moderation.config import Settings
from moderation.db import make_engine, transaction
from moderation.exchanges import schemas
from moderation.exchanges.fetching import fetcher
from moderation.exchanges.service import exchanges
from moderation.kit import migrations
from tests.exchanges import fakes


def _fresh_postgres(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}"'))
        connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def run(url: str, records: int, page_size: int, workdir: Path) -> None:
    migrations.upgrade(url)
    engine = make_engine(url)
    creds = workdir / "creds.json"
    creds.write_text(
        json.dumps(
            {
                "ncii": {
                    "fetch_function_key": fakes.STOPNCII_FETCH_KEY,
                    "subscription_key": fakes.STOPNCII_SUBSCRIPTION_KEY,
                }
            }
        )
    )
    settings = Settings(database_url=url, data_dir=workdir, exchange_credentials_file=creds)
    rng = random.Random(7)
    with fakes.FakeExchanges() as fake:
        fake.state.page_size = page_size
        fake.state.stopncii = [
            fakes.stopncii_record(f"{rng.getrandbits(256):064x}", 1_700_000_000 + i) for i in range(records)
        ]
        with transaction(engine) as session:
            exchanges.add(
                session,
                schemas.ExchangeCreate(
                    name="ncii", type="stopncii", bank="ncii", base_url=fake.base("stopncii")
                ),
                actor="bench",
            )
        started = time.perf_counter()
        report = fetcher.fetch(
            lambda: transaction(engine), "ncii", settings=settings, worker="bench", actor="bench"
        )
        seconds = time.perf_counter() - started
    assert report.error is None and report.added == records, report
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{make_url(url).get_backend_name():10s} records {records:,} pages {report.pages} "
        f"{seconds:.1f} s {records / seconds:,.0f} records/s peak RSS {rss:.0f} MiB"
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--page-size", type=int, default=800)
    parser.add_argument("--postgres")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{tmp}/bench.db", args.records, args.page_size, Path(tmp))
    if args.postgres:
        _fresh_postgres(args.postgres)
        with tempfile.TemporaryDirectory() as tmp:
            run(args.postgres, args.records, args.page_size, Path(tmp))


if __name__ == "__main__":
    main()
