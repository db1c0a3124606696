"""From nothing to ready: `moderation serve` on the embedded SQLite default answers /readyz."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_on_a_fresh_data_dir_becomes_ready(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    env.update({"MODERATION_DATA_DIR": str(tmp_path / "var"), "MODERATION_CLASSIFIER_ENABLED": "false"})
    process = subprocess.Popen(
        [sys.executable, "-m", "moderation", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                status = response.status_code
                if status == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            time.sleep(0.2)
        assert status == 200
        assert (tmp_path / "var" / "moderation.db").exists()
    finally:
        process.terminate()
        process.wait(timeout=10)


def _established_per_process(pids: list[int], port: int) -> dict[int, int]:
    """How many established TCP connections on local `port` each process holds (from /proc)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                inodes.add(fields[9])
    counts = {}
    for pid in pids:
        held = 0
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                held += 1
        counts[pid] = held
    return counts


def test_workers_share_a_few_keep_alive_clients(tmp_path: Path) -> None:
    """`--workers 2` and four keep-alive connections opened at once: each worker serves two of them
    (uvicorn's shared socket often gives all four to one worker, leaving a core idle)."""
    if not Path("/proc/net/tcp").exists():
        import pytest

        pytest.skip("needs Linux /proc")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    env.update(
        {
            "MODERATION_DATA_DIR": str(tmp_path / "var"),
            "MODERATION_CLASSIFIER_ENABLED": "false",
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),  # this checkout's package
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "moderation", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    clients: list[httpx.Client] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                # Every worker up: a few fresh connections in a row all answer ready.
                if all(
                    httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
                    for _ in range(4)
                ):
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            time.sleep(0.3)
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) for _ in range(4)]
        for client in clients:
            assert client.get("/healthz").status_code == 200
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        workers = [int(pid) for pid in children]
        counts = {
            pid: n for pid, n in _established_per_process(workers, port).items() if n or len(workers) == 2
        }
        assert sorted(counts.values()) == [2, 2], counts
        for client in clients:  # the same connections keep working
            assert client.get("/healthz").status_code == 200
    finally:
        for client in clients:
            client.close()
        process.terminate()
        process.wait(timeout=40)
