"""CPU cost of one `POST /v1/match` inside the service, layer by layer (no server, no network, no wrk).

Builds a throw-away SQLite data directory with one block bank of `--bank` random PDQ hashes, starts the
ASGI app in this process (lifespan included), and sends `--requests` single-hash requests straight into
it. Prints the CPU milliseconds per request (process time, so the load of other processes does not
inflate it much), then a cProfile run of the same requests with the cumulative time of each layer:
the middlewares (request guard, metrics), FastAPI's routing and dependency solving (authorisation, body
validation), the endpoint, the index search, and the response serialisation. Because it measures the
application alone, it tells how many requests per second per core the service could reach at best
under HTTP (uvicorn's own parsing and writing come on top).

    .venv/bin/python benchmarks/match_path.py --bank 1000000 --requests 5000

`MATCH_PATH_TOP=30` prints the 30 functions with the most own time instead (cProfile, sorted by tottime).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _machine import machine

ROOT = Path(__file__).resolve().parent.parent

# (label, file suffix, function name): cumulative time of these functions, per request.
LAYERS = [
    ("whole request (app)", "moderation/guard.py", "__call__"),
    ("metrics middleware", "moderation/observability/middleware.py", "__call__"),
    ("FastAPI route handler", "fastapi/routing.py", "app"),
    ("dependencies + body validation", "fastapi/dependencies/utils.py", "solve_dependencies"),
    ("JSON guard (NUL, depth)", "moderation/guard.py", "reject_unstorable_json"),
    ("role check", "moderation/dependencies.py", "dependency"),
    ("endpoint", "moderation/matching/endpoints.py", "_match"),
    ("index search (all kinds)", "moderation/matching/service.py", "match"),
    ("response serialisation", "fastapi/routing.py", "serialize_response"),
]


def _request(app: Any, secret: str) -> Callable[[int], Awaitable[int]]:
    async def one(i: int) -> int:
        value = f"{(i * 2654435761) % 2**32:08x}" + "a5" * 28
        body = json.dumps({"hashes": [{"type": "pdq", "value": value}]}).encode()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/match",
            "raw_path": b"/v1/match",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"bench"),
                (b"content-type", b"application/json"),
                (b"authorization", f"Bearer {secret}".encode()),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        pending = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return pending.pop() if pending else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return int(sent[0]["status"])

    return one


async def run(bank: int, requests: int) -> None:
    from moderation.app import create_app
    from moderation.auth.service import api_keys
    from moderation.banks.service import banks
    from moderation.config import Settings
    from moderation.db import session_factory
    from moderation.matching.service import matcher

    app = create_app(Settings())
    # The bank first, so that the matcher builds its index in one piece at start-up, as it does from a
    # snapshot in production (codes added while running go to smaller delta segments).
    rng = random.Random(1)
    with session_factory(app.state.engine)() as session:
        _, secret = api_keys.create(session, name="bench", role="checker", actor="bench")
        banks.create(session, name="bench", action="block", actor="bench")
        for start in range(0, bank, 100_000):
            values = [f"{rng.getrandbits(256):064x}" for _ in range(min(100_000, bank - start))]
            banks.import_lines(
                session, "bench", iter(values), fmt="pdq-hex", source="import:bench", actor="bench"
            )
        session.commit()
    startup: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await startup.put({"type": "lifespan.startup"})
    events: list[dict[str, Any]] = []

    async def lifespan_send(message: dict[str, Any]) -> None:
        events.append(message)

    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, startup.get, lifespan_send)
    )
    while not events:
        await asyncio.sleep(0.01)
    while matcher.state != "ready":
        await asyncio.sleep(0.1)
    one = _request(app, secret)
    assert await one(0) == 200
    if os.environ.get("MATCH_PATH_TOP"):
        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(requests):
            await one(i)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(int(os.environ["MATCH_PATH_TOP"]))
        return
    for i in range(300):  # warm caches (key cache, JIT-free paths, allocator)
        await one(i)
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(requests):
        await one(i)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{machine(load_values=3, digits=2)}")
    print(f"bank {bank:,} random PDQ hashes, {requests:,} single-hash requests through the ASGI app")
    print(
        f"  CPU {cpu / requests * 1000:.3f} ms per request ({requests / cpu:,.0f} per CPU second), "
        f"wall {wall / requests * 1000:.3f} ms"
    )
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(requests):
        await one(i)
    profiler.disable()
    stats = pstats.Stats(profiler)
    by_key = stats.stats  # type: ignore[attr-defined]
    total = max(
        (
            ct
            for (path, _, name), (_, _, _, ct, _) in by_key.items()
            if path.endswith("moderation/guard.py") and name == "__call__"
        ),
        default=0.0,
    )
    print("  profile (cProfile inflates small calls; shares are what to read):")
    for label, suffix, name in LAYERS:
        spent = max(
            (
                ct
                for (path, _, fn), (_, _, _, ct, _) in by_key.items()
                if path.endswith(suffix) and fn == name
            ),
            default=0.0,
        )
        share = f"{spent / total * 100:5.1f}%" if total else "   - "
        print(f"    {label:32} {spent / requests * 1000:7.3f} ms  {share}")
    startup.put_nowait({"type": "lifespan.shutdown"})
    await lifespan


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bank", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.child:
        with tempfile.TemporaryDirectory() as data:
            env = {
                **os.environ,
                "MODERATION_DATA_DIR": data,
                "MODERATION_CLASSIFIER_ENABLED": "false",
                "MODERATION_LOG_LEVEL": "WARNING",
                "PYTHONPATH": str(ROOT),
            }
            subprocess.run([sys.executable, "-m", "moderation", "db", "upgrade"], env=env, check=True)
            subprocess.run([sys.executable, __file__, *sys.argv[1:], "--child"], env=env, check=True)
        return
    asyncio.run(run(args.bank, args.requests))


if __name__ == "__main__":
    main()
