"""An appeal's clock: due MODERATION_APPEAL_DECISION_DAYS after filing, alerted once when overdue,
marked overdue in the queue; a decided appeal is never alerted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from moderation.config import Settings
from moderation.kit.time import set_clock
from moderation.redress.tasks import SCAN_CLOCKS
from tests.factories import bank_image, jpeg, post_check
from tests.redress.conftest import file_appeal, run_job

Auth = Callable[[str], dict[str, str]]
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_overdue_appeal_is_alerted_once(
    app_client: TestClient, auth: Auth, engine: Engine, mail_settings: Settings
) -> None:
    set_clock(T0)
    bank_image(engine, "known-bad", jpeg(81))
    checker = auth("checker")
    ids = []
    for seed, content in ((81, "a"), (81, "b")):
        check = post_check(app_client, checker, jpeg(seed), {"content_id": content}).json()
        appeal = file_appeal(
            app_client,
            auth,
            checker,
            subject={"type": "check", "id": check["check_id"]},
            appellant={"role": "uploader"},
            statement="mine",
        )
        ids.append(appeal["id"])
    assert appeal["due_at"] == (T0 + timedelta(days=mail_settings.appeal_decision_days)).isoformat().replace(
        "+00:00", "Z"
    )
    decided = app_client.post(
        f"/v1/appeals/{ids[1]}/decision",
        json={"outcome": "uphold", "reason": "matches"},
        headers=auth("admin"),
    )
    assert decided.status_code == 200
    set_clock(T0 + timedelta(days=mail_settings.appeal_decision_days) - timedelta(minutes=1))
    assert run_job(engine, mail_settings, SCAN_CLOCKS)["appeals_overdue"] == 0
    set_clock(T0 + timedelta(days=mail_settings.appeal_decision_days, minutes=1))
    assert run_job(engine, mail_settings, SCAN_CLOCKS)["appeals_overdue"] == 1
    assert run_job(engine, mail_settings, SCAN_CLOCKS, worker="worker-2")["appeals_overdue"] == 0
    queue = app_client.get("/v1/appeals?limit=1", headers=auth("admin")).json()
    assert [a["id"] for a in queue["items"]] == [ids[0]] and queue["items"][0]["overdue"] is True
    assert queue["next_cursor"]
    rest = app_client.get(f"/v1/appeals?limit=1&cursor={queue['next_cursor']}", headers=auth("admin")).json()
    assert [a["id"] for a in rest["items"]] == [ids[1]] and rest["next_cursor"] is None
    open_only = app_client.get("/v1/appeals?state=open", headers=auth("admin")).json()
    assert [a["id"] for a in open_only["items"]] == [ids[0]]
