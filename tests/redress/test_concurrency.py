"""Two reviewers deciding one appeal at once, and two workers restoring one counter-notice at once:
exactly one wins, the other is told (409) or finds nothing; one webhook row and one email each."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from moderation.config import Settings
from moderation.db import session_factory, transaction
from moderation.exceptions import ModerationError
from moderation.kit.time import set_clock
from moderation.models.email_message import EmailMessage
from moderation.models.webhook_delivery import WebhookDelivery
from moderation.redress.service import appeals
from moderation.redress.tasks import RESTORE_COUNTER_NOTICED
from moderation.worker.runner import run_once
from tests.factories import bank_image, jpeg, post_check
from tests.redress.conftest import file_appeal
from tests.redress.test_counter_notices_done_when import COUNTER, MONDAY, OPENS, _removed

Auth = Callable[[str], dict[str, str]]


def _race(*targets: Callable[[], object]) -> list[object]:
    barrier = threading.Barrier(len(targets))
    results: list[object] = [None] * len(targets)

    def run(index: int, target: Callable[[], object]) -> None:
        barrier.wait()
        try:
            results[index] = target()
        except ModerationError as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_reviewers_overturn_at_once_exactly_one_wins(
    app_client: TestClient, auth: Auth, engine: Engine, settings: Settings
) -> None:
    bank_image(engine, "known-bad", jpeg(71))
    checker = auth("checker")
    blocked = post_check(app_client, checker, jpeg(71), {"content_id": "up-71"}).json()
    appeal = file_appeal(
        app_client,
        auth,
        checker,
        subject={"type": "check", "id": blocked["check_id"]},
        appellant={"role": "uploader", "email": "u71@example.org"},
        statement="mine",
    )

    def decide(reviewer: str) -> Callable[[], object]:
        def go() -> object:
            with transaction(engine) as session:
                return appeals.decide(
                    session, int(appeal["id"]), "overturn", reason="fine", actor=reviewer, settings=settings
                ).state

        return go

    results = _race(decide("user:a"), decide("user:b"))
    assert sorted(str(r) for r in results if not isinstance(r, ModerationError)) == ["overturned"]
    [lost] = [r for r in results if isinstance(r, ModerationError)]
    assert lost.code == "appeal_already_decided" and lost.status == 409
    with session_factory(engine)() as session:
        keys = session.scalars(select(WebhookDelivery.idempotency_key)).all()
        assert keys == [f"appeal-{appeal['id']}/restore"]
        decisions = session.scalar(
            select(func.count())
            .select_from(EmailMessage)
            .where(EmailMessage.key == f"appeal:{appeal['id']}:decision")
        )
        assert decisions == 1


def test_two_workers_restore_a_counter_notice_once(
    app_client: TestClient, auth: Auth, engine: Engine, settings: Settings
) -> None:
    set_clock(MONDAY - timedelta(hours=2))
    url = _removed(app_client, auth, "p-90")
    set_clock(MONDAY)
    assert app_client.post(f"{url}/counter-notices", json=COUNTER, headers=auth("checker")).status_code == 201
    set_clock(OPENS + timedelta(minutes=5))

    def worker(name: str) -> Callable[[], object]:
        def go() -> object:
            (outcome,) = run_once(engine, settings, names=[RESTORE_COUNTER_NOTICED], worker_id=name)
            assert outcome.status in ("ok", "skipped"), outcome.error
            return int((outcome.result or {}).get("restored", 0))

        return go

    results = _race(worker("w-1"), worker("w-2"))
    assert sorted(int(str(r)) for r in results) == [0, 1]
    detail = app_client.get(url, headers=auth("admin")).json()
    assert detail["state"] == "restored"
    assert [e["action"] for e in detail["timeline"]].count("notice.restore") == 1
