"""`moderation worker --list/--job` and the in-process scheduler of `serve --with-worker`."""

from __future__ import annotations

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from moderation.cli import app
from moderation.config import Settings

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
