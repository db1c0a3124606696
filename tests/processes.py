"""Real service and worker processes for the operations tests: `moderation serve` and `moderation
worker` started as subprocesses of this checkout, each logging (JSON) into a file of its own."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from moderation.config import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a node: no MODERATION_* from the test process, then these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODERATION_", "PROMETHEUS_"))}
    env.update(
        {
            "MODERATION_ENV": "test",
            "MODERATION_DATABASE_URL": database_url,
            "MODERATION_DATA_DIR": str(data_dir),
            "MODERATION_CLASSIFIER_ENABLED": "false",
            "MODERATION_MATCH_REFRESH_SECONDS": "0.5",
            "MODERATION_LOG_FORMAT": "json",
            "PYTHONPATH": str(PROJECT_ROOT),
        }
    )
    env.update(extra)
    return env


@dataclass
class Node:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

    @property
    def url(self) -> str:
        assert self.port is not None, f"{self.name} is a worker, it has no URL"
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """What the process logged (stderr)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def output(self) -> str:
        """What the process printed (stdout)."""
        path = self.log_path.with_suffix(".out")
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send `sig` and wait for the process to exit; returns its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return int(self.process.returncode)


def _spawn(
    name: str, args: list[str], env: dict[str, str], logs: Path
) -> tuple[subprocess.Popen[bytes], Path]:
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    # Logs go to stderr; stdout holds what a command prints for its user (`worker --once` outcomes).
    with log_path.open("wb") as errors, (logs / f"{name}.out").open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "moderation", *args],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=output,
            stderr=errors,
        )
    return process, log_path


def start_service(name: str, env: dict[str, str], logs: Path, *, workers: int = 1) -> Node:
    port = free_port()
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    process, log_path = _spawn(name, args, env, logs)
    return Node(name, process, log_path, port)


def start_worker(name: str, env: dict[str, str], logs: Path, *args: str) -> Node:
    process, log_path = _spawn(name, ["worker", *args], env, logs)
    return Node(name, process, log_path)


def wait_ready(node: Node, timeout: float = 240) -> None:
    """Until `/readyz` answers 200 (start-up imports take tens of seconds on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert node.process.poll() is None, f"{node.name} exited:\n{node.log()[-3000:]}"
        try:
            if httpx.get(f"{node.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{node.name} not ready after {timeout}s:\n{node.log()[-3000:]}")
