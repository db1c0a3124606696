"""One client sending batches: does a single `POST /v1/check/batch` stream use every core?

Starts `moderation serve --workers 1` twice on the same data directory, once with the hashing pool
(`MODERATION_HASH_PROCESSES` unset: the CPUs available) and once without (`0`: a batch is hashed in
the request's thread), alternating `--runs` times, and from one client thread sends batches of
`--batch` distinct 1024x768 JPEGs (each made unique per request by a JPEG comment, so no check is
answered from the cache) back to back for `--duration` seconds. Prints images/s, batch latency p50/p99
and the CPU cores the service's process tree used (CPU seconds per second of wall time).

    .venv/bin/python benchmarks/batch_client.py --data /tmp/sbs-mod --key "$(cat /tmp/sbs-mod/checker.key)"

The data directory must hold a migrated database (any bank; `benchmarks/hma_setup.sh setup-moderation`
makes one with 1M hashes) and the key must be a `checker` key of it.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _machine import machine
from side_by_side import make_jpegs, tree_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent


def unique(jpeg: bytes, counter: int) -> bytes:
    """The same pixels with a JPEG comment holding the counter (a new SHA-256, the same hashes)."""
    comment = f"batch-client {counter}".encode()
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    return jpeg[:2] + segment + jpeg[2:]


def multipart(files: list[bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for i, data in enumerate(files):
        body.write(f"--{boundary}\r\n".encode())
        body.write(f'Content-Disposition: form-data; name="file"; filename="{i}.jpg"\r\n'.encode())
        body.write(b"Content-Type: image/jpeg\r\n\r\n")
        body.write(data)
        body.write(b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    return body.getvalue(), f"multipart/form-data; boundary={boundary}"


def ready(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/readyz")
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False


def one_run(args: argparse.Namespace, images: list[bytes], processes: str | None) -> str:
    env = {
        **os.environ,
        "MODERATION_DATA_DIR": args.data,
        "MODERATION_CLASSIFIER_ENABLED": "false",
        "MODERATION_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("MODERATION_HASH_PROCESSES", None)
    if processes is not None:
        env["MODERATION_HASH_PROCESSES"] = processes
    server = subprocess.Popen(
        [sys.executable, "-m", "moderation", "serve", "--port", str(args.port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not ready(args.port):
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit("the service did not become ready")
            time.sleep(0.5)
        connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=120)
        # Milliseconds since the epoch x 1000: a run lasts seconds, so no stamp is ever sent twice (in this
        # run or any other), and no check is answered from the cache.
        counter = int(time.time() * 1000) * 1000
        latencies: list[float] = []
        checked = 0

        def send() -> float:
            nonlocal counter
            files = []
            for _ in range(args.batch):
                counter += 1
                files.append(unique(images[counter % len(images)], counter))
            body, content_type = multipart(files)
            begin = time.perf_counter()
            connection.request(
                "POST",
                "/v1/check/batch",
                body,
                {"Authorization": f"Bearer {args.key}", "Content-Type": content_type},
            )
            response = connection.getresponse()
            payload = response.read()
            results = json.loads(payload).get("results", []) if response.status == 200 else []
            if len(results) != args.batch or any(r.get("result") is None for r in results):
                sys.exit(f"/v1/check/batch answered {response.status}: {payload[:300]!r}")
            return time.perf_counter() - begin

        send()  # the first batch starts the pool's processes
        cpu_before, start = tree_cpu_seconds(server.pid), time.perf_counter()
        load_before = os.getloadavg()[0]
        while time.perf_counter() - start < args.duration:
            latencies.append(send())
            checked += args.batch
        wall = time.perf_counter() - start
        cores = (tree_cpu_seconds(server.pid) - cpu_before) / wall
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        label = "pool (CPUs)" if processes is None else f"HASH_PROCESSES={processes}"
        return (
            f"{label:18} {checked / wall:6.1f} images/s  batch p50 {statistics.median(latencies) * 1000:6.0f} ms"
            f"  p99 {p99 * 1000:6.0f} ms  service {cores:.2f} cores  (load {load_before:.2f} ->"
            f" {os.getloadavg()[0]:.2f})"
        )
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="MODERATION_DATA_DIR of a migrated service")
    parser.add_argument("--key", required=True, help="a checker key of that service")
    parser.add_argument("--batch", type=int, default=8, help="images per request (at most 16 by default)")
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--port", type=int, default=8792)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        make_jpegs(args.images, Path(folder))
        images = [(Path(folder) / f"{i + 1}.jpg").read_bytes() for i in range(args.images)]
    print(f"{machine(load_values=3, digits=2)}; batches of {args.batch}, one client, serve --workers 1")
    for run in range(args.runs):
        for processes in (None, "0"):
            print(f"run {run + 1}: {one_run(args, images, processes)}", flush=True)


if __name__ == "__main__":
    main()
