"""Scale-out figures on PostgreSQL: database connections per process at rest and under concurrent
checks, and how long a bank change made through one service takes to be matched through another.

Usage: .venv/bin/python benchmarks/scale_out.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_scale
       [--concurrency 32] [--seconds 10] [--changes 10]

The database is dropped and re-created. Two `moderation serve` processes (own data directories and
ports) and one `moderation worker` run against it, each with its own `application_name`; a sampler
reads `pg_stat_activity` every 50 ms while the load runs and keeps each process's peak.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from _machine import machine
from PIL import Image
from sqlalchemy import create_engine, make_url, text

from moderation.auth.service import api_keys
from moderation.db import make_engine, session_factory
from moderation.kit import migrations

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def image(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).resize((320, 240)).save(out, format="JPEG", quality=85)
    return out.getvalue()


def recreate(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    migrations.upgrade(url)


def named(url: str, name: str) -> str:
    return make_url(url).update_query_dict({"application_name": name}).render_as_string(hide_password=False)


def spawn(args: list[str], url: str, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    env.update(
        MODERATION_DATABASE_URL=url,
        MODERATION_DATA_DIR=str(data_dir),
        MODERATION_CLASSIFIER_ENABLED="false",
        MODERATION_MATCH_REFRESH_SECONDS="0.5",
        MODERATION_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "moderation", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_ready(base: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{base} not ready")


def connections(engine: object) -> dict[str, int]:
    with engine.connect() as connection:  # type: ignore[attr-defined]
        rows = connection.execute(
            text(
                "SELECT application_name, count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name LIKE 'bench-%' GROUP BY 1"
            )
        ).all()
    return {name: int(count) for name, count in rows}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--changes", type=int, default=10)
    args = parser.parse_args()
    url = args.database_url
    recreate(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        _, admin = api_keys.create(session, name="bench-admin", role="admin", actor="bench")
        session.commit()
    headers = {"Authorization": f"Bearer {admin}"}
    tmp = Path(tempfile.mkdtemp(prefix="scale-out-"))
    ports = [free_port(), free_port()]
    processes = [
        spawn(["serve", "--port", str(ports[0])], named(url, "bench-svc-a"), tmp / "a"),
        spawn(["serve", "--port", str(ports[1])], named(url, "bench-svc-b"), tmp / "b"),
        spawn(["worker"], named(url, "bench-worker"), tmp / "w"),
    ]
    a, b = (f"http://127.0.0.1:{port}" for port in ports)
    try:
        wait_ready(a)
        wait_ready(b)
        time.sleep(3)
        at_rest = connections(engine)

        peaks: dict[str, int] = {}
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                for name, count in connections(engine).items():
                    peaks[name] = max(peaks.get(name, 0), count)
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        answered = 0
        deadline = time.monotonic() + args.seconds

        def load(worker: int) -> int:
            done = 0
            with httpx.Client(timeout=60) as client:
                seed = worker * 1_000_000
                while time.monotonic() < deadline:
                    seed += 1
                    target = a if seed % 2 else b
                    response = client.post(
                        f"{target}/v1/check",
                        headers=headers,
                        files={"file": ("x.jpg", image(seed), "image/jpeg")},
                    )
                    done += response.status_code == 200
            return done

        with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
            answered = sum(pool.map(load, range(args.concurrency)))
        stop.set()
        sampler.join()

        httpx.post(f"{a}/v1/banks", json={"name": "bench"}, headers=headers, timeout=30)
        delays = []
        for change in range(args.changes):
            data = image(10_000_000 + change)
            httpx.post(
                f"{a}/v1/banks/bench/entries",
                json={"hashes": [{"type": "sha256", "value": hashlib.sha256(data).hexdigest()}]},
                headers=headers,
                timeout=30,
            )
            started = time.monotonic()
            while True:
                body = httpx.post(
                    f"{b}/v1/check",
                    headers=headers,
                    files={"file": ("x.jpg", data, "image/jpeg")},
                    timeout=30,
                ).json()
                if body["decision"] == "block":
                    break
                time.sleep(0.02)
            delays.append(time.monotonic() - started)
        memory = httpx.get(f"{b}/readyz").json()["checks"]["match_index"]["memory_bytes"]
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)
        engine.dispose()

    print(f"machine: {machine()}")
    print(f"connections at rest: {dict(sorted(at_rest.items()))}")
    print(
        f"connections peak under {args.concurrency} concurrent clients for {args.seconds:g}s "
        f"({answered} checks answered): {dict(sorted(peaks.items()))}"
    )
    print(
        f"bank change on A to block on B ({args.changes} changes, refresh 0.5 s): "
        f"median {statistics.median(delays):.2f}s, max {max(delays):.2f}s"
    )
    print(f"match index memory on B with {args.changes} entries: {memory} bytes")


if __name__ == "__main__":
    main()
