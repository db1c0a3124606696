"""Matcher start-up from an on-disk snapshot: build a large PDQ bank on SQLite, snapshot it, time a fresh
process's start-up to `ready` and report its memory.

Usage: .venv/bin/python benchmarks/matcher_startup.py [--entries 10000000] [--changes 1000] [--from-sql]

Steps, each timed: import `--entries` random PDQ hashes through `banks.import_lines` (the CLI path);
run the `matching.snapshot_index` job (it loads the bank from SQL, builds the index and writes the
snapshot); commit `--changes` more single-hash additions after the snapshot; start a fresh Python process
that runs `MatchService.start(..., snapshot_dir=...)` and prints its time to `ready`, its RSS split into
file-backed (shared page cache) and anonymous (private) memory, and a few query latencies.
`--from-sql` also times a fresh process that loads everything from SQL (no snapshot), for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from moderation.banks.service import banks
from moderation.config import Settings
from moderation.db import make_engine, transaction
from moderation.kit import migrations
from moderation.matching.tasks import snapshot_index

CHILD = r"""
import json, random, sys, time
t0 = time.perf_counter()
from pathlib import Path
from moderation.db import make_engine
from moderation.matching.service import MatchService
imported = time.perf_counter() - t0
url, directory = sys.argv[1], sys.argv[2]
service = MatchService()
started = time.perf_counter()
service.start(make_engine(url), background=False, snapshot_dir=Path(directory) if directory else None)
ready = time.perf_counter() - started
status = service.status()
rng = random.Random(7)
latencies = []
for _ in range(200):
    q = f"{rng.getrandbits(256):064x}"
    t = time.perf_counter()
    service.match([("pdq", q)])
    latencies.append((time.perf_counter() - t) * 1000)
latencies.sort()
memory = {}
for line in open("/proc/self/status"):
    key = line.split(":")[0]
    if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
        memory[key] = int(line.split()[1]) * 1024
print(json.dumps({"import_seconds": imported, "ready_seconds": ready, "loaded_from": status["loaded_from"],
    "entries": status["entries"], "change_seq": status["change_seq"], "memory": memory,
    "p50_ms": latencies[100], "p99_ms": latencies[197]}))
"""


def machine() -> str:
    cpu = "unknown cpu"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    load = os.getloadavg()
    return f"{platform.machine()} {cpu}, {os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f}"


def random_lines(count: int, seed: int = 42) -> Iterator[str]:
    rng = np.random.default_rng(seed)
    step = 100_000
    for start in range(0, count, step):
        block = rng.integers(0, 256, size=(min(step, count - start), 32), dtype=np.uint8)
        text = block.tobytes().hex()
        yield from (text[i : i + 64] + "\n" for i in range(0, len(text), 64))


def child(url: str, directory: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, url, directory], check=True, capture_output=True, text=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def report(label: str, result: dict[str, object]) -> None:
    memory = result["memory"]
    assert isinstance(memory, dict)
    mib = 1024 * 1024
    print(
        f"{label}: ready in {result['ready_seconds']:.2f} s (imports {result['import_seconds']:.2f} s before), "
        f"{result['entries']:,} entries from {result['loaded_from']}, change {result['change_seq']}; "
        f"RSS {memory['VmRSS'] / mib:.0f} MiB (file-backed {memory.get('RssFile', 0) / mib:.0f}, "
        f"anonymous {memory.get('RssAnon', 0) / mib:.0f}), peak {memory['VmHWM'] / mib:.0f} MiB; "
        f"random query p50 {result['p50_ms']:.2f} ms p99 {result['p99_ms']:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--from-sql", action="store_true")
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    print(f"machine: {machine()}", flush=True)
    scratch = Path(args.workdir or tempfile.mkdtemp(prefix="matcher-startup-"))
    url = f"sqlite:///{scratch / 'bench.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    settings = Settings(data_dir=scratch, database_url=url)
    with transaction(engine) as session:
        banks.create(session, name="bench", actor="bench")
    started = time.perf_counter()
    with transaction(engine) as session:
        result = banks.import_lines(
            session, "bench", random_lines(args.entries), fmt="pdq-hex", source="import:bench", actor="bench"
        )
    seconds = time.perf_counter() - started
    print(
        f"import: {result.imported:,} hashes in {seconds:.1f} s ({result.imported / seconds:,.0f} hashes/s)",
        flush=True,
    )
    started = time.perf_counter()
    job = snapshot_index(engine, settings)
    print(
        f"snapshot job (load from SQL, build, write): {time.perf_counter() - started:.1f} s -> {job}",
        flush=True,
    )
    size = sum(p.stat().st_size for p in (scratch / "match-index").rglob("*") if p.is_file())
    print(f"snapshot on disk: {size / 1e6:.0f} MB ({size / max(result.imported, 1):.1f} bytes per entry)")
    rng = np.random.default_rng(9)
    for _ in range(args.changes):
        value = rng.integers(0, 256, size=32, dtype=np.uint8).tobytes().hex()
        with transaction(engine) as session:
            banks.add_hashes(session, "bench", [("pdq", value)], source="upload", actor="bench")
    print(f"committed {args.changes} single-hash additions after the snapshot", flush=True)
    report("fresh process, snapshot + change log", child(url, str(scratch / "match-index")))
    report("second fresh process (page cache warm)", child(url, str(scratch / "match-index")))
    if args.from_sql:
        report("fresh process, database only", child(url, ""))
    engine.dispose()
    print(f"scratch folder: {scratch} (delete it when done)")


if __name__ == "__main__":
    main()
