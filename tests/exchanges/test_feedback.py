"""Feedback to exchanges: a reviewer's verdict on a match of an exchange entry is sent exactly once
(retried through the outbox when the exchange fails), only where the operator enabled it; confirmations
promote held entries; an operator's overturn disables the entry and says `NotBlocked`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from moderation.audit.service import audit
from moderation.checks.review import review_queue
from moderation.cli import app
from moderation.config import Settings
from moderation.db import transaction
from moderation.exchanges.feedback import exchange_feedback
from moderation.exchanges.service import exchanges
from moderation.hashing.hashers import hash_image_bytes
from moderation.hashing.intake import ImageLimits
from moderation.kit.time import set_clock
from moderation.matching.service import matcher
from moderation.models.exchange_feedback import ExchangeFeedback
from tests.exchanges import fakes, scenarios
from tests.exchanges.conftest import add_exchange, bank_rows, fetch
from tests.factories import jpeg, post_check

Auth = Callable[[str], dict[str, str]]
runner = CliRunner()


def _deliver(engine: Engine, settings: Settings) -> dict[str, int]:
    return exchange_feedback.deliver(
        lambda: transaction(engine), settings=settings, worker="w1", actor="system:test"
    )


def _reviewed_match(client: TestClient, auth: Auth, seed: int) -> dict[str, Any]:
    matcher.refresh()
    body: dict[str, Any] = post_check(client, auth("checker"), jpeg(seed), {"content_id": f"c{seed}"}).json()
    assert body["decision"] == "review", body
    assert body["reasons"][0]["kind"] == "bank_match"
    return body


def test_feedback_is_delivered_exactly_once_after_a_reviewers_verdict(
    app_client: TestClient,
    auth: Auth,
    fake: fakes.FakeExchanges,
    credentials: Settings,
    engine: Engine,
    session: Session,
) -> None:
    pdq = hash_image_bytes(jpeg(5), ImageLimits()).pdq
    fake.state.stopncii = [fakes.stopncii_record(pdq, scenarios.BASE_TS)]
    add_exchange(engine, fake, "stopncii", review_only=True, feedback_enabled=True)
    fetch(engine, credentials, "stopncii")
    body = _reviewed_match(app_client, auth, 5)

    review_queue.verdict(
        session, body["review_item_id"], verdict="block", actor="user:rita", settings=credentials
    )
    session.commit()
    # Enqueued once, in the verdict's transaction; the exchange fails the first attempt.
    fake.state.failures.append(fakes.Failure("/stopncii/SubmitFeedback", 500, times=1, method="POST"))
    assert _deliver(engine, credentials) == {"sent": 0, "retried": 1, "failed": 0}
    assert _deliver(engine, credentials) == {"sent": 0, "retried": 0, "failed": 0}  # backing off
    set_clock(offset=timedelta(seconds=credentials.exchange_feedback_retry_base_seconds + 1))
    result = runner.invoke(app, ["worker", "--job", "exchanges.deliver_feedback"])
    assert result.exit_code == 0 and "sent=1" in result.output, result.output
    assert _deliver(engine, credentials) == {"sent": 0, "retried": 0, "failed": 0}

    posts = fake.received("POST", "/stopncii/SubmitFeedback")
    assert len(posts) == 2  # the failed attempt and the one that went through
    assert json.loads(posts[-1].body) == {
        "count": 1,
        "hashFeedbacks": [{"tags": [], "feedbackValue": "Blocked", "hashValue": pdq}],
    }
    assert posts[-1].headers["x-functions-key"] == fakes.STOPNCII_FEEDBACK_KEY
    session.expire_all()
    status = exchanges.status(session, "stopncii")
    assert status.feedback == {"sent": 1}
    assert (status.counts.reviewed, status.counts.confirmations, status.counts.overturns) == (1, 1, 0)
    # The same verdict again (a retried request, a second hook call) enqueues nothing more.
    entry_id = body["reasons"][0]["entry_id"]
    assert (
        exchange_feedback.on_verdict(
            session, check_id=body["check_id"], entry_ids=[entry_id], verdict="block", actor="user:rita"
        )
        == 0
    )
    assert session.scalar(select(func.count(ExchangeFeedback.id))) == 1
    assert [e.action for e in audit.page(session, action="exchange.feedback_sent")] == [
        "exchange.feedback_sent"
    ]


def test_no_feedback_leaves_unless_the_operator_enabled_it(
    app_client: TestClient,
    auth: Auth,
    fake: fakes.FakeExchanges,
    credentials: Settings,
    engine: Engine,
    session: Session,
) -> None:
    pdq = hash_image_bytes(jpeg(6), ImageLimits()).pdq
    fake.state.stopncii = [fakes.stopncii_record(pdq, scenarios.BASE_TS)]
    add_exchange(engine, fake, "stopncii", review_only=True)
    fetch(engine, credentials, "stopncii")
    body = _reviewed_match(app_client, auth, 6)
    review_queue.verdict(
        session, body["review_item_id"], verdict="allow", actor="user:rita", settings=credentials
    )
    session.commit()
    assert _deliver(engine, credentials) == {"sent": 0, "retried": 0, "failed": 0}
    assert fake.received("POST", "/stopncii") == []
    status = exchanges.status(session, "stopncii")
    assert (status.counts.reviewed, status.counts.overturns, status.feedback) == (1, 1, {})


def test_ncmec_votes_and_threatexchange_reactions_go_through_the_librarys_clients(
    fake: fakes.FakeExchanges,
    credentials: Settings,
    engine: Engine,
    session: Session,
    tmp_path: Path,
    ncmec_clock: list[float],
) -> None:
    story = scenarios.scenario()
    for kind in ("ncmec", "threatexchange"):
        scenarios.seed(fake, kind, story, tmp_path / "x")
        add_exchange(engine, fake, kind, feedback_enabled=True)
        fetch(engine, credentials, kind)
    records = {
        kind: {r.value: r for r in exchanges.records(session, kind).items}
        for kind in ("ncmec", "threatexchange")
    }
    confirmed = [records["ncmec"][story.pdqs[1]].entry_id, records["threatexchange"][story.pdqs[2]].entry_id]
    overturned = [records["ncmec"][story.pdqs[2]].entry_id]
    exchange_feedback.on_verdict(session, check_id=1, entry_ids=confirmed, verdict="block", actor="user:rita")
    exchange_feedback.on_verdict(
        session, check_id=2, entry_ids=overturned, verdict="allow", actor="user:rita"
    )
    session.commit()
    assert _deliver(engine, credentials) == {"sent": 3, "retried": 0, "failed": 0}

    puts = {r.path: r.body for r in fake.received("PUT", "/ncmec/v2/entries")}
    assert set(puts) == {"/ncmec/v2/entries/7/e1/PDQ/feedback", "/ncmec/v2/entries/8/e2/PDQ/feedback"}
    assert b"<affirmative" in puts["/ncmec/v2/entries/7/e1/PDQ/feedback"]
    downvote = puts["/ncmec/v2/entries/8/e2/PDQ/feedback"]
    assert b"<negative>" in downvote and b"guid-not-csam" in downvote  # the only reason NCMEC offers
    (reaction,) = fake.received("POST", "/te/")
    assert reaction.path == "/te/9001/" and reaction.query["reactions"] == ["HELPFUL"]


def test_confirmations_promote_a_held_entry_to_the_block_bank(
    app_client: TestClient,
    auth: Auth,
    fake: fakes.FakeExchanges,
    credentials: Settings,
    engine: Engine,
    session: Session,
) -> None:
    pdq = hash_image_bytes(jpeg(8), ImageLimits()).pdq
    fake.state.stopncii = [fakes.stopncii_record(pdq, scenarios.BASE_TS)]
    add_exchange(engine, fake, "stopncii", confirmations_required=2, promote_to="ncii-block")
    fetch(engine, credentials, "stopncii")
    (record,) = exchanges.records(session, "stopncii").items
    for check_id in (1, 2):
        assert bank_rows(engine, "ncii-block") == []
        exchange_feedback.on_verdict(
            session, check_id=check_id, entry_ids=[record.entry_id], verdict="block", actor="user:rita"
        )
        session.commit()
    assert bank_rows(engine, "ncii-block") == [("pdq", pdq)]
    assert bank_rows(engine, "stopncii-bank") == []
    (promoted,) = exchanges.records(session, "stopncii").items
    assert promoted.promoted and promoted.confirmations == 2 and promoted.entry_id != record.entry_id
    matcher.refresh()
    body = post_check(app_client, auth("checker"), jpeg(8)).json()
    assert body["decision"] == "block" and body["reasons"][0]["bank"] == "ncii-block"
    # A later withdrawal removes the promoted entry.
    fake.state.stopncii = [fakes.stopncii_record(pdq, scenarios.BASE_TS + 1, status="Withdrawn")]
    assert fetch(engine, credentials, "stopncii").removed == 1
    assert bank_rows(engine, "ncii-block") == []


def test_an_operators_overturn_disables_the_entry_and_says_not_blocked(
    app_client: TestClient,
    auth: Auth,
    fake: fakes.FakeExchanges,
    credentials: Settings,
    engine: Engine,
) -> None:
    pdq = hash_image_bytes(jpeg(9), ImageLimits()).pdq
    fake.state.stopncii = [fakes.stopncii_record(pdq, scenarios.BASE_TS)]
    add_exchange(engine, fake, "stopncii", feedback_enabled=True)
    fetch(engine, credentials, "stopncii")
    admin = auth("admin")
    (record,) = app_client.get("/v1/exchanges/stopncii/records", headers=admin).json()["items"]
    url = f"/v1/exchanges/stopncii/records/{record['id']}/overturn"
    response = app_client.post(url, headers=admin, json={"reason": "a landscape photo, not NCII"})
    assert response.status_code == 200, response.text
    assert response.json()["overturns"] == 1
    matcher.refresh()
    assert post_check(app_client, auth("checker"), jpeg(9)).json()["decision"] == "allow"
    assert _deliver(engine, credentials)["sent"] == 1
    (post,) = fake.received("POST", "/stopncii/SubmitFeedback")
    assert json.loads(post.body)["hashFeedbacks"][0]["feedbackValue"] == "NotBlocked"
    assert app_client.post(url, headers=admin, json={"reason": ""}).status_code == 422
    other = app_client.post(
        "/v1/exchanges/stopncii/records/999/overturn", headers=admin, json={"reason": "x"}
    )
    assert other.status_code == 404 and other.json()["code"] == "exchange_record_not_found"
