"""`moderation worker --list/--job` and the in-process scheduler of `serve --with-worker`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from moderation.cli import app
from moderation.config import Settings
from tests.email.smtp_server import free_port

runner = CliRunner()


def test_list_names_every_job(settings: Settings) -> None:
    result = runner.invoke(app, ["worker", "--list"])
    assert result.exit_code == 0, result.output
    for name in (
        "alerts.scan_deadlines",
        "alerts.daily_digest",
        "email.deliver_outbox",
        "takedown.deliver_webhooks",
        "takedown.purge_evidence",
    ):
        assert name in result.output


def test_unknown_job_is_a_clear_error(settings: Settings) -> None:
    result = runner.invoke(app, ["worker", "--job", "nope.nothing"])
    assert result.exit_code == 2
    assert "error [unknown_job]" in result.output


def test_single_job_runs_once(settings: Settings) -> None:
    result = runner.invoke(app, ["worker", "--job", "email.deliver_outbox"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("email.deliver_outbox: ok sent=0")
    assert "alerts.scan_deadlines" not in result.output


def test_serve_with_worker_runs_the_scheduler_in_process(settings: Settings) -> None:
    from moderation.app import create_app

    with_worker = settings.model_copy(update={"run_worker_in_process": True})
    application = create_app(with_worker)
    with TestClient(application) as client:
        body = client.get("/readyz").json()
        worker = body["checks"]["worker"]
        assert worker["state"] == "ready"
        assert "email.deliver_outbox" in worker["next_runs"]
    assert not application.state.worker.running


def test_serve_without_worker_has_no_scheduler(app_client: TestClient) -> None:
    assert "worker" not in app_client.get("/readyz").json()["checks"]


def test_serve_with_worker_process_reports_the_worker_ready(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    env.update({"MODERATION_DATA_DIR": str(tmp_path / "var"), "MODERATION_CLASSIFIER_ENABLED": "false"})
    process = subprocess.Popen(
        [sys.executable, "-m", "moderation", "serve", "--port", str(port), "--with-worker"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        checks: dict[str, Any] = {}
        while time.monotonic() < deadline and "worker" not in checks:
            try:
                checks = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).json()["checks"]
            except httpx.TransportError:
                time.sleep(0.2)
        assert checks["worker"]["state"] == "ready"
    finally:
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status names it.
        assert process.wait(timeout=15) in (0, -signal.SIGTERM)


def test_worker_stops_cleanly_on_sigterm(settings: Settings) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "moderation", "worker"],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        lines = []
        while time.monotonic() < deadline:
            line = process.stdout.readline().decode()
            lines.append(line)
            if "job email.deliver_outbox" in line:  # the first round of jobs has run
                break
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0, "".join(lines)
        rest = process.stdout.read().decode()
        assert "stopped" in rest
    finally:
        if process.poll() is None:
            process.kill()


def test_once_prints_each_job_one_time(settings: Settings) -> None:
    """As an operator sees it in a terminal (standard output and error together): one line per job."""
    result = subprocess.run(
        [sys.executable, "-m", "moderation", "worker", "--once"],
        env=dict(os.environ),
        capture_output=True,
        timeout=120,
        check=False,
    )
    text = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 0, text
    mentions = [line for line in text.splitlines() if "email.deliver_outbox" in line]
    assert len(mentions) == 1, text
    assert mentions[0].startswith("email.deliver_outbox: ok")
