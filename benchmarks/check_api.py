"""Check API load test: POST 1024x768 JPEGs to a running `moderation serve` on loopback.

Sets up a fresh database (SQLite in a temp dir, or --database-url), a block bank with --bank-size random
PDQ hashes (imported through `moderation bank import`), a checker key, starts `moderation serve`
(classifier off unless --classifier), then posts distinct images at concurrency 1, 4 and 16 and prints
requests/s and p50/p99 latency, plus the in-process decode + hash + match time of the same images and the
ratio of the HTTP p50 to it. The client runs on the same machine and takes CPU from the server.

    .venv/bin/python benchmarks/check_api.py --bank-size 1000000 --requests 400
    .venv/bin/python benchmarks/check_api.py --workers 2 --py-spy /tmp/check.raw   # profile the server
    .venv/bin/python benchmarks/check_api.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench
    .venv/bin/python benchmarks/check_api.py --classifier --random-weights --requests 60

Each worker process keeps its own matcher (and classifier): the resident memory of every server process
is printed after the load. `--py-spy FILE` records the server processes (py-spy, `--subprocesses`)
during the concurrency-4 level and prints the functions with the most samples.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import machine
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"


def make_jpegs(count: int, seed: int = 1) -> list[bytes]:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:768, 0:1024]
    out = []
    for i in range(count):
        base = np.stack(
            [(x * (0.1 + 0.01 * (i % 17)) + y * 0.2) % 256, (y * 0.3 + i) % 256, (x * 0.05) % 256], -1
        )
        noise = rng.normal(0, 12, size=(768, 1024, 3))
        image = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
        out.append(buffer.getvalue())
    return out


def multipart(data: bytes, boundary: str = "benchboundary7f3a") -> tuple[bytes, str]:
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def run(cmd: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


STAGES: dict[str, list[float]] = {}


def load(
    port: int, key: str, bodies: list[tuple[bytes, str]], concurrency: int
) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    queue = list(bodies)
    lock = __import__("threading").Lock()

    def worker() -> None:
        nonlocal errors
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if not queue:
                    break
                body, ctype = queue.pop()
            started = time.perf_counter()
            connection.request(
                "POST",
                "/v1/check",
                body=body,
                headers={"Content-Type": ctype, "Authorization": f"Bearer {key}"},
            )
            response = connection.getresponse()
            raw = response.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if response.status == 200:
                    for stage, ms in json.loads(raw).get("timings_ms", {}).items():
                        STAGES.setdefault(stage, []).append(ms)
                if response.status != 200:
                    errors += 1
        connection.close()

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    return time.perf_counter() - started, latencies, errors


def server_processes(pid: int) -> list[int]:
    """The server process and its descendants (uvicorn's workers)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def start_profile(pid: int, path: str, seconds: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            str(BIN / "py-spy"),
            *("record", "--pid", str(pid), "--subprocesses", "--format", "raw", "--rate", "200"),
            *("--duration", str(seconds), "--output", path, "--nonblocking"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def profile_summary(path: str, top: int = 15) -> None:
    """Self and inclusive sample shares of the hottest functions in a py-spy raw (collapsed) file."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].split("/")[-1] + ")"
            for f in stack.split(";")
        ]
        total += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
    print(f"py-spy: {total} samples (all server processes and threads, idle excluded)")
    for frame, count in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    self {100 * count / total:5.1f}%  incl {100 * inclusive[frame] / total:5.1f}%  {frame}")
    for name in ("_prepare", "_lookup", "_record", "_classify", "read_upload", "authenticate", "_session"):
        share = sum(v for k, v in inclusive.items() if k.split(" ")[0].split(".")[-1] == name)
        print(f"    inclusive {name}: {100 * share / max(total, 1):.1f}%")


def random_weights_file(path: Path, model: str = "ViT-B-32") -> Path:
    """The real architecture with random weights, saved as a local checkpoint (nothing downloaded)."""
    import importlib

    importlib.import_module("moderation.classifier.torchvision_compat")  # must precede open_clip
    import open_clip
    import torch

    torch.manual_seed(0)
    network, _, _ = open_clip.create_model_and_transforms(model, pretrained=None)
    torch.save(network.state_dict(), path)
    return path


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bank-size", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=400, help="requests per concurrency level")
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--classifier", action="store_true", help="leave the classifier enabled")
    parser.add_argument(
        "--random-weights", action="store_true", help="with --classifier: random ViT-B-32 weights file"
    )
    parser.add_argument("--py-spy", default=None, help="record the server at concurrency 4 into this file")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="check-bench-"))
    env = {
        **os.environ,
        "MODERATION_DATA_DIR": str(tmp),
        "MODERATION_ENV": "development",
        "MODERATION_CLASSIFIER_ENABLED": "true" if args.classifier else "false",
        "MODERATION_LOG_LEVEL": "WARNING",
    }
    if args.database_url:
        env["MODERATION_DATABASE_URL"] = args.database_url
    if args.classifier and args.random_weights:
        env["MODERATION_CLIP_WEIGHTS"] = str(random_weights_file(tmp / "vit-b-32-random.pt"))
    moderation = str(BIN / "moderation")
    print(f"machine: {machine(load_values=3, digits=2)}")
    print(
        f"database: {args.database_url or 'sqlite in ' + str(tmp)}; classifier {'on' if args.classifier else 'off'}"
    )
    run([moderation, "db", "upgrade"], env)
    run([moderation, "bank", "create", "bench", "--action", "block"], env)
    rng = random.Random(5)
    hashes = tmp / "bank.txt"
    with hashes.open("w") as fh:
        for _ in range(args.bank_size):
            fh.write(f"{rng.getrandbits(256):064x}\n")
    started = time.perf_counter()
    run([moderation, "bank", "import", "bench", str(hashes), "--format", "pdq-hex", "--no-progress"], env)
    print(f"bank: {args.bank_size:,} random PDQ hashes imported in {time.perf_counter() - started:.1f} s")
    key = run([moderation, "apikey", "create", "bench", "--role", "checker"], env).strip()

    levels = [int(c) for c in args.concurrency.split(",")]
    images = make_jpegs(args.requests * len(levels) + 50)
    print(
        f"images: {len(images)} distinct 1024x768 JPEGs, mean {statistics.mean(map(len, images)) / 1024:.0f} KiB"
    )

    server = subprocess.Popen(
        [moderation, "serve", "--port", str(args.port), "--workers", str(args.workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=2)
                connection.request("GET", "/readyz")
                response = connection.getresponse()
                body = json.loads(response.read())
                checks = body.get("checks", {})
                ready = checks.get("match_index", {}).get("state") == "ready"
                if args.classifier:
                    ready = ready and checks.get("classifier", {}).get("state") == "ready"
                if response.status == 200 and ready:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        else:
            sys.exit("server did not become ready")
        print(f"server ready after {time.time() - (deadline - 300):.1f} s (workers={args.workers})")
        bodies = [multipart(data) for data in images]
        load(args.port, key, bodies[-50:], 4)  # warm-up
        http_p50 = {}
        for position, concurrency in enumerate(levels):
            chunk = bodies[position * args.requests : (position + 1) * args.requests]
            STAGES.clear()
            profiler = None
            if args.py_spy and concurrency == 4:
                profiler = start_profile(server.pid, args.py_spy, 30)
                time.sleep(1.0)
            elapsed, latencies, errors = load(args.port, key, chunk, concurrency)
            if profiler is not None:
                profiler.wait(timeout=120)
            http_p50[concurrency] = pct(latencies, 0.5)
            print(
                f"concurrency {concurrency:>2}: {len(latencies) / elapsed:7.1f} checks/s, p50 {pct(latencies, 0.5):6.1f} ms, "
                f"p99 {pct(latencies, 0.99):6.1f} ms, errors {errors}"
            )
            stages = ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in STAGES.items())
            print(f"    server-side stage medians (ms): {stages}")
        elapsed, latencies, errors = load(args.port, key, bodies[: args.requests], 4)
        print(
            f"cached (identical bytes again), concurrency 4: {len(latencies) / elapsed:7.1f} checks/s, "
            f"p50 {pct(latencies, 0.5):6.1f} ms, p99 {pct(latencies, 0.99):6.1f} ms, errors {errors}"
        )
        memory = {pid: rss_mib(pid) for pid in server_processes(server.pid)}
        print(
            "server resident memory (MiB): "
            + ", ".join(f"pid {pid} {mib:.0f}" for pid, mib in memory.items())
            + f"; total {sum(memory.values()):.0f}"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)

    # In-process decode + hash + match of the same images, with the same bank loaded.
    os.environ.update(env)
    from moderation.config import get_settings
    from moderation.db import get_engine
    from moderation.hashing.hashers import hash_decoded
    from moderation.hashing.intake import ImageLimits, decode_image
    from moderation.matching.service import matcher

    get_settings.cache_clear()
    matcher.start(get_engine(get_settings()), background=False)
    limits = ImageLimits()
    timings = []
    for data in images[:200]:
        started = time.perf_counter()
        decoded = decode_image(data, limits)
        hashes = hash_decoded(data, decoded)
        matcher.match(hashes.typed())
        timings.append(time.perf_counter() - started)
    inproc = pct(timings, 0.5)
    matcher.stop()
    if args.py_spy and Path(args.py_spy).exists():
        profile_summary(args.py_spy)
    print(
        f"in-process decode + hash + match: p50 {inproc:.2f} ms, mean {statistics.mean(timings) * 1000:.2f} ms"
    )
    for concurrency, p50 in http_p50.items():
        print(f"HTTP p50 / in-process p50 at concurrency {concurrency}: {p50 / inproc:.2f}x")


if __name__ == "__main__":
    main()
