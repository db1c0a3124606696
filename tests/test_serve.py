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
