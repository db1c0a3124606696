"""Peak server memory under hostile bodies and image bombs (issue 11, findings 2, 5 and 6).

Starts `moderation serve` on a fresh SQLite database (classifier off) and, for --seconds, sends at once:
anonymous 200 MB JSON bodies to /v1/match (streamed), authenticated bank imports declaring 500 MB,
valid 7000x7000 16-bit PNG checks (49 MP, under the 50 MP limit), PNG headers claiming 20000x20000
pixels, and over-limit streamed bodies with a valid key. It samples the server's resident memory every
20 ms and prints the baseline, the peak (sampled and the kernel's VmHWM) and the bound that
docs/configuration.md states (decode slots x pixels x 16 bytes, plus the in-flight body limits).

    /work/main/.venv/bin/python benchmarks/hostile_rss.py --seconds 15
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import numpy as np
from _machine import machine
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def big_png(side: int) -> bytes:
    """A smooth 16-bit greyscale gradient: 2 bytes a pixel decoded, a few MB as PNG."""
    y, x = np.mgrid[0:side, 0:side].astype(np.uint32)
    grey = ((x * 7 + y * 3) % 65536).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def bomb_png(side: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
        + chunk(b"IEND", b"")
    )


def multipart(data: bytes, boundary: str = "rssboundary") -> tuple[bytes, str]:
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
    body = (head + "Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def stream_body(port: int, path: str, headers: dict[str, str], total: int) -> int | str:
    """Send `total` bytes chunked (no Content-Length); the status, or why the connection ended."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        sock.sendall(head.encode())
        chunk = b"[" + b"1," * 32767 + b"1"
        sent = 0
        try:
            while sent < total:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: what we want
        reply = sock.recv(64).decode(errors="replace")
        return int(reply.split()[1]) if reply.startswith("HTTP/") else "closed"
    except OSError as exc:
        return type(exc).__name__
    finally:
        sock.close()


def post(port: int, path: str, body: bytes, headers: dict[str, str]) -> int | str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read()
        if response.status >= 400:
            return f"{response.status} {json.loads(text).get('code')}"
        return response.status
    except OSError as exc:
        return type(exc).__name__
    finally:
        connection.close()


def declared_only(port: int, path: str, headers: dict[str, str], length: int) -> int | str:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        sock.sendall(head.encode() + b"x" * 65536)
        reply = sock.recv(64).decode(errors="replace")
        return int(reply.split()[1]) if reply.startswith("HTTP/") else "closed"
    except OSError as exc:
        return type(exc).__name__
    finally:
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--port", type=int, default=8792)
    parser.add_argument("--side", type=int, default=7000, help="side of the valid 16-bit PNGs")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="hostile-rss-"))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MODERATION_ENV": "development",
        "MODERATION_DATA_DIR": str(data_dir),
        "MODERATION_CLASSIFIER_ENABLED": "false",
    }
    moderation = [sys.executable, "-m", "moderation"]
    subprocess.run([*moderation, "db", "upgrade"], env=env, check=True, capture_output=True)
    created = subprocess.run(
        [*moderation, "apikey", "create", "rss", "--role", "admin"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    key = created.stdout.strip().split()[-1]
    auth = {"Authorization": f"Bearer {key}"}
    sys.path.insert(0, str(ROOT))
    from moderation.config import Settings
    from moderation.guard import BodyLimits
    from moderation.hashing.intake import ImageLimits

    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
    limits, bodies = ImageLimits.from_settings(settings), BodyLimits.from_settings(settings)

    print(f"machine: {machine()}")
    started = time.perf_counter()
    valid, bomb = big_png(args.side), bomb_png(20_000)
    print(
        f"valid {args.side}x{args.side} 16-bit PNG: {len(valid) / MB:.1f} MB file ({time.perf_counter() - started:.1f} s to make)"
    )
    server = subprocess.Popen(
        [*moderation, "serve", "--port", str(args.port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                probe = http.client.HTTPConnection("127.0.0.1", args.port, timeout=2)
                probe.request("GET", "/readyz")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        small, content_type = multipart(_tiny_png())
        post(args.port, "/v1/check", small, {**auth, "Content-Type": content_type})  # warm-up
        time.sleep(1.0)
        baseline = rss_kib(server.pid)
        peak = baseline
        stop = threading.Event()
        outcomes: dict[str, dict[str, int]] = {}
        lock = threading.Lock()

        def note(kind: str, result: int | str) -> None:
            with lock:
                bucket = outcomes.setdefault(kind, {})
                bucket[str(result)] = bucket.get(str(result), 0) + 1

        def loop(kind: str, action: object) -> None:
            while not stop.is_set():
                note(kind, action())  # type: ignore[operator]

        valid_body, valid_type = multipart(valid)
        bomb_body, bomb_type = multipart(bomb)
        attacks = [
            (
                "anonymous 200 MB JSON to /v1/match",
                lambda: stream_body(args.port, "/v1/match", {"Content-Type": "application/json"}, 200 * MB),
            ),
            (
                "anonymous 200 MB JSON to /v1/match",
                lambda: stream_body(args.port, "/v1/match", {"Content-Type": "application/json"}, 200 * MB),
            ),
            (
                "anonymous 200 MB JSON to /v1/match",
                lambda: stream_body(args.port, "/v1/match", {"Content-Type": "application/json"}, 200 * MB),
            ),
            (
                "keyed 200 MB JSON to /v1/match",
                lambda: stream_body(
                    args.port, "/v1/match", {**auth, "Content-Type": "application/json"}, 200 * MB
                ),
            ),
            (
                "keyed import declaring 500 MB",
                lambda: declared_only(args.port, "/v1/banks/b/import", auth, 500 * MB),
            ),
            (
                "valid 16-bit PNG check",
                lambda: post(args.port, "/v1/check", valid_body, {**auth, "Content-Type": valid_type}),
            ),
            (
                "valid 16-bit PNG check",
                lambda: post(args.port, "/v1/check", valid_body, {**auth, "Content-Type": valid_type}),
            ),
            (
                "valid 16-bit PNG check",
                lambda: post(args.port, "/v1/check", valid_body, {**auth, "Content-Type": valid_type}),
            ),
            (
                "valid 16-bit PNG check",
                lambda: post(args.port, "/v1/check", valid_body, {**auth, "Content-Type": valid_type}),
            ),
            (
                "20000x20000 PNG bomb check",
                lambda: post(args.port, "/v1/check", bomb_body, {**auth, "Content-Type": bomb_type}),
            ),
            (
                "20000x20000 PNG bomb check",
                lambda: post(args.port, "/v1/check", bomb_body, {**auth, "Content-Type": bomb_type}),
            ),
        ]
        threads = [threading.Thread(target=loop, args=attack, daemon=True) for attack in attacks]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            peak = max(peak, rss_kib(server.pid))
            time.sleep(0.02)
        stop.set()
        hwm = rss_kib(server.pid, "VmHWM")
        for thread in threads:
            thread.join(timeout=60)
        # In flight at most: the decode slots, one image body per image-carrying connection (6) and
        # one plain body for the keyed over-limit stream; anonymous and over-declared bodies add nothing.
        bound_kib = (limits.decode_memory_bound + 6 * bodies.image + bodies.plain) // 1024
        print(
            f"for {args.seconds:.0f} s, at once: "
            + "; ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
        )
        print(
            f"server RSS baseline {baseline / 1024:.0f} MiB, sampled peak {peak / 1024:.0f} MiB, VmHWM {hwm / 1024:.0f} MiB"
        )
        print(f"growth over baseline {(max(peak, hwm) - baseline) / 1024:.0f} MiB")
        print(
            f"documented bound on growth: {limits.max_concurrent_decodes} decode slots x {limits.max_pixels:,} px x 16 B"
            f" + 6 image bodies + 1 plain body in flight = {bound_kib / 1024:.0f} MiB"
        )
        print(f"machine after: {machine()}")
        print(
            json.dumps(
                {
                    "baseline_mib": baseline // 1024,
                    "peak_mib": max(peak, hwm) // 1024,
                    "bound_mib": bound_kib // 1024,
                }
            )
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


def _tiny_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


if __name__ == "__main__":
    main()
