"""Redress test helpers: delivering the outboxes (two workers at once where it matters) and the
emails one address received."""

from __future__ import annotations

import threading
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from moderation.config import Settings
from moderation.worker.runner import run_once
from tests.email.smtp_server import Received, SMTPServer

Auth = Callable[[str], dict[str, str]]


def deliver_emails(engine: Engine, settings: Settings, *, workers: int = 2) -> None:
    """Run `email.deliver_outbox` on `workers` workers at the same time."""
    errors: list[str] = []

    def work(n: int) -> None:
        for outcome in run_once(engine, settings, names=["email.deliver_outbox"], worker_id=f"worker-{n}"):
            if outcome.status == "failed":
                errors.append(str(outcome.error))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def mail_to(server: SMTPServer, address: str) -> list[Received]:
    return [m for m in server.received if address in m.envelope_to]


def subjects(server: SMTPServer, address: str) -> list[str]:
    return sorted(m.subject for m in mail_to(server, address))


def run_job(engine: Engine, settings: Settings, name: str, worker: str = "worker-1") -> dict[str, object]:
    (outcome,) = run_once(engine, settings, names=[name], worker_id=worker)
    assert outcome.status == "ok", outcome.error
    return dict(outcome.result or {})


def file_appeal(
    client: TestClient, auth: Auth, headers: dict[str, str] | None = None, **body: object
) -> dict[str, object]:
    """File an appeal with `headers` (default: a fresh checker key, the platform's); 201 expected."""
    response = client.post("/v1/appeals", json=body, headers=headers or auth("checker"))
    assert response.status_code == 201, response.text
    return dict(response.json())
