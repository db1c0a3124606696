"""Memory of `moderation serve --workers N` with the match index mapped from a snapshot.

Starts the service on an existing data directory (a bank imported and `moderation worker --job
matching.snapshot_index` run, so the index loads from its snapshot file), waits until every worker
answers ready, then prints each process's RSS, PSS (its share of pages mapped by several processes:
the snapshot is counted once across them) and private memory from /proc/PID/smaps_rollup, and the totals.

    MODERATION_DATA_DIR=/tmp/bank1m .venv/bin/python benchmarks/worker_memory.py --workers 2,4

With `--key KEY --queries N` (a checker key), it then sends N single-hash `POST /v1/match` requests with
random PDQ values over fresh connections (so every worker gets its share) and prints the figures again:
the pages of the mapped index that queries touched are then resident, and shared between the workers.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from _machine import machine

ROOT = Path(__file__).resolve().parent.parent


def rollup(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        values[name] = int(rest.split()[0])  # KiB
    return values


def children(pid: int) -> list[int]:
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        found.append(int(child))
        found.extend(children(int(child)))
    return found


def ready(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/readyz")
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False


def query(port: int, key: str, count: int) -> None:
    rng = random.Random(7)
    for _ in range(count):
        body = json.dumps({"hashes": [{"type": "pdq", "value": f"{rng.getrandbits(256):064x}"}]})
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request(
            "POST",
            "/v1/match",
            body,
            {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"/v1/match answered {response.status}")


def report(server: subprocess.Popen[bytes], title: str) -> None:
    pids = [server.pid, *children(server.pid)]
    total = {"Rss": 0, "Pss": 0, "Private": 0}
    print(f"{title} ({machine(load_values=3, digits=2)})")
    for pid in pids:
        r = rollup(pid)
        private = r.get("Private_Clean", 0) + r.get("Private_Dirty", 0)
        total["Rss"] += r["Rss"]
        total["Pss"] += r["Pss"]
        total["Private"] += private
        role = "supervisor" if pid == server.pid else "worker/helper"
        print(
            f"  pid {pid:>7} {role:13} RSS {r['Rss'] / 1024:7.1f} MiB  PSS {r['Pss'] / 1024:7.1f} MiB  "
            f"private {private / 1024:7.1f} MiB"
        )
    print(
        f"  total: RSS {total['Rss'] / 1024:.1f} MiB (pages shared between processes counted in each), "
        f"PSS {total['Pss'] / 1024:.1f} MiB (each page once), private {total['Private'] / 1024:.1f} MiB"
    )


def measure(workers: int, port: int, key: str | None, queries: int) -> None:
    env = {**os.environ, "MODERATION_CLASSIFIER_ENABLED": "false", "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "moderation", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        # Fresh connections go to the workers in turn: 2N ready answers in a row means all are up.
        while not all(ready(port) for _ in range(2 * workers)):
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit("the service did not become ready")
            time.sleep(0.5)
        time.sleep(2)
        report(server, f"--workers {workers}, ready")
        if key and queries:
            begin = time.monotonic()
            query(port, key, queries)
            elapsed = time.monotonic() - begin
            report(server, f"--workers {workers}, after {queries} random-hash queries in {elapsed:.1f} s")
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", default="2,4")
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--key", help="a checker API key (for --queries)")
    parser.add_argument("--queries", type=int, default=0, help="random-hash /v1/match requests, then again")
    args = parser.parse_args()
    for count in args.workers.split(","):
        measure(int(count), args.port, args.key, args.queries)


if __name__ == "__main__":
    main()
