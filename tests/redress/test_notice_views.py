"""The notice routes `appeal`, `uphold`, `restore` (API, dashboard, CLI) are views of the appeal and
counter-notice records, under the appeal rules; `counter-notice` is 410; overturning a removal adds an
allow-list entry so the same image re-checked is allowed by it (issue 16, "the existing notice
transitions become views of this")."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from moderation.cli import app as cli
from moderation.config import Settings
from moderation.db import transaction
from moderation.exceptions import ModerationError
from moderation.kit.time import set_clock
from moderation.matching.service import matcher
from moderation.redress.notice_views import notice_redress
from moderation.redress.service import appeals
from tests.admin.conftest import form_token, sign_in
from tests.factories import jpeg, post_check
from tests.redress.conftest import file_appeal
from tests.redress.test_concurrency import _race
from tests.redress.test_counter_notices_done_when import COUNTER, MONDAY, OPENS, _removed

Auth = Callable[[str], dict[str, str]]
Key = Callable[..., str]
TOS_FIELDS = {"reason": "harassment", "signature": "/s/ A. Person"}


def _bearer(make_key: Key, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key('admin', name)}"}


def _actioned(client: TestClient, auth: Auth, actioner: dict[str, str], seed: int) -> str:
    created = client.post(
        "/v1/notices",
        json={
            "regimes": ["terms-of-service"],
            "reporter": {"email": "person@example.org"},
            "fields": TOS_FIELDS,
            "content": {"image_base64": base64.b64encode(jpeg(seed)).decode()},
        },
        headers=auth("intake"),
    )
    assert created.status_code == 201, created.text
    url = f"/v1/notices/{created.json()['id']}"
    assert client.post(f"{url}/validate", headers=actioner).status_code == 200
    assert client.post(f"{url}/action", json={"reason": "rules"}, headers=actioner).status_code == 200
    return url


def _appeals_of(client: TestClient, notice_id: int, admin: dict[str, str]) -> list[dict[str, object]]:
    items = client.get("/v1/appeals?state=open&limit=500", headers=admin).json()["items"]
    items += client.get("/v1/appeals?state=overturned&limit=500", headers=admin).json()["items"]
    items += client.get("/v1/appeals?state=upheld&limit=500", headers=admin).json()["items"]
    return [a for a in items if a["notice_id"] == notice_id]


def test_appeal_and_restore_routes_file_and_overturn_an_appeal_record_and_allow_list_the_image(
    app_client: TestClient, auth: Auth, make_key: Key
) -> None:
    actioner, other = _bearer(make_key, "reviewer-a"), _bearer(make_key, "reviewer-b")
    url = _actioned(app_client, auth, actioner, 91)
    notice_id = int(url.rsplit("/", 1)[1])
    matcher.refresh()
    assert post_check(app_client, auth("checker"), jpeg(91)).json()["decision"] == "block"

    appealed = app_client.post(f"{url}/appeal", json={"reason": "it is satire"}, headers=other)
    assert appealed.status_code == 200 and appealed.json()["state"] == "appealed"
    again = app_client.post(f"{url}/appeal", headers=other)
    assert again.status_code == 200 and again.json()["state"] == "appealed"
    [appeal] = _appeals_of(app_client, notice_id, other)
    assert appeal["kind"] == "notice_action" and appeal["statement"] == "it is satire"
    assert appeal["original_decider"] == "apikey:reviewer-a" and appeal["filed_by"] == "apikey:reviewer-b"

    same = app_client.post(f"{url}/restore", json={"reason": "mine now"}, headers=actioner)
    assert same.status_code == 403 and same.json()["code"] == "same_decision_maker"
    assert app_client.post(f"{url}/restore", json={"reason": " "}, headers=other).status_code == 422
    assert app_client.get(url, headers=other).json()["state"] == "appealed"

    restored = app_client.post(f"{url}/restore", json={"reason": "satire is allowed"}, headers=other)
    assert restored.status_code == 200, restored.text
    assert restored.json()["state"] == "restored"
    retried = app_client.post(f"{url}/restore", json={"reason": "satire is allowed"}, headers=other)
    assert retried.status_code == 200 and retried.json()["state"] == "restored"
    third = app_client.post(f"{url}/restore", json={"reason": "x"}, headers=auth("admin"))
    assert third.status_code == 409 and third.json()["code"] == "illegal_transition"

    [decided] = _appeals_of(app_client, notice_id, other)
    assert decided["state"] == "overturned" and decided["decided_by"] == "apikey:reviewer-b"
    assert decided["decision_reason"] == "satire is allowed"
    reversal = decided["reversal"]
    assert isinstance(reversal, dict) and reversal["notice"] == "restored"
    assert len(reversal["allow_list_entries"]) == 3  # SHA-256, MD5, PDQ of the uploaded image
    timeline = {e["action"]: e for e in restored.json()["timeline"]}
    assert timeline["notice.appeal"]["details"]["appeal_id"] == decided["id"]
    assert timeline["notice.restore"]["details"]["appeal_id"] == decided["id"]

    # The same image re-checked is allowed, by the allow-list entry of the overturned appeal.
    matcher.refresh()
    body = post_check(app_client, auth("checker"), jpeg(91)).json()
    assert body["decision"] == "allow"
    assert {r["bank"] for r in body["reasons"] if r["kind"] == "bank_match"} == {"appeal-allow"}


def test_uphold_route_upholds_the_open_appeal_under_the_appeal_rules(
    app_client: TestClient, auth: Auth, make_key: Key
) -> None:
    actioner, other = _bearer(make_key, "reviewer-a"), _bearer(make_key, "reviewer-b")
    url = _actioned(app_client, auth, actioner, 92)
    notice_id = int(url.rsplit("/", 1)[1])
    appeal = file_appeal(
        app_client,
        auth,
        subject={"type": "notice", "id": notice_id},
        appellant={"role": "uploader"},
        statement="satire",
    )
    same = app_client.post(f"{url}/uphold", json={"reason": "stands"}, headers=actioner)
    assert same.status_code == 403 and same.json()["code"] == "same_decision_maker"
    upheld = app_client.post(f"{url}/uphold", json={"reason": "clear harassment"}, headers=other)
    assert upheld.status_code == 200 and upheld.json()["state"] == "actioned"
    retried = app_client.post(f"{url}/uphold", json={"reason": "clear harassment"}, headers=other)
    assert retried.status_code == 200
    stored = app_client.get(f"/v1/appeals/{appeal['id']}", headers=other).json()
    assert stored["state"] == "upheld" and stored["decision_reason"] == "clear harassment"
    # A notice with no appeal cannot be upheld or restored, as before.
    bare = app_client.post(f"{url}/restore", json={"reason": "x"}, headers=other)
    assert bare.status_code == 409 and bare.json()["code"] == "illegal_transition"


def test_nothing_automated_decides_through_the_views(
    app_client: TestClient, auth: Auth, make_key: Key, session: Session, settings: Settings
) -> None:
    url = _actioned(app_client, auth, _bearer(make_key, "reviewer-a"), 93)
    notice_id = int(url.rsplit("/", 1)[1])
    notice_redress.appeal(session, notice_id, statement=None, actor="apikey:platform", settings=settings)
    for decide in (notice_redress.uphold, notice_redress.restore):
        try:
            decide(session, notice_id, reason="auto", actor="system:redress.scan_clocks", settings=settings)
            raise AssertionError("an automated decision was accepted")
        except ModerationError as exc:
            assert exc.code == "automated_decision_forbidden"
    [appeal] = appeals.of_notice(session, notice_id)
    assert appeal.state == "open" and appeal.statement.startswith("Appeal against the removal")


def test_counter_notice_route_is_gone_and_uphold_restore_follow_the_counter_notice(
    app_client: TestClient, auth: Auth
) -> None:
    set_clock(MONDAY - timedelta(hours=2))
    sued, waiting = _removed(app_client, auth, "p-95"), _removed(app_client, auth, "p-96")
    admin = auth("admin")
    gone = app_client.post(f"{sued}/counter-notice", json={"reason": "mistake"}, headers=admin)
    assert gone.status_code == 410 and gone.json()["code"] == "counter_notice_intake_required"
    assert gone.json()["details"]["endpoint"] == f"{sued}/counter-notices"
    assert app_client.get(sued, headers=admin).json()["state"] == "actioned"

    set_clock(MONDAY)
    for url in (sued, waiting):
        assert (
            app_client.post(f"{url}/counter-notices", json=COUNTER, headers=auth("checker")).status_code
            == 201
        )
    early = app_client.post(f"{waiting}/restore", json={"reason": "filed"}, headers=admin)
    assert early.status_code == 409 and early.json()["code"] == "restore_window_not_open"
    assert early.json()["details"]["earliest"] == OPENS.isoformat().replace("+00:00", "Z")

    # `uphold` on a counter-noticed notice records the claimant's court action: no restore.
    court = app_client.post(f"{sued}/uphold", json={"reason": "Holder v. Ploader, S.D.N.Y."}, headers=admin)
    assert court.status_code == 200 and court.json()["state"] == "actioned"
    counters = app_client.get("/v1/counter-notices?state=court_action", headers=admin).json()["items"]
    assert [c["court_action_note"] for c in counters] == ["Holder v. Ploader, S.D.N.Y."]

    set_clock(OPENS + timedelta(minutes=1))
    restored = app_client.post(f"{waiting}/restore", json={"reason": "window open"}, headers=admin)
    assert restored.status_code == 200 and restored.json()["state"] == "restored"
    assert app_client.get("/v1/counter-notices?state=restored", headers=admin).json()["items"][0][
        "notice_id"
    ] == int(waiting.rsplit("/", 1)[1])


def test_dashboard_forms_and_cli_are_views_too(
    app_client: TestClient, auth: Auth, make_key: Key, make_user: Callable[..., str]
) -> None:
    url = _actioned(app_client, auth, _bearer(make_key, "reviewer-a"), 94)
    notice_id = int(url.rsplit("/", 1)[1])
    runner = CliRunner()
    filed = runner.invoke(cli, ["notice", "appeal", str(notice_id), "--reason", "my own photo", "--json"])
    assert filed.exit_code == 0, filed.output
    assert '"state": "appealed"' in filed.output
    [appeal] = appeals_of = _appeals_of(app_client, notice_id, auth("admin"))
    assert appeal["statement"] == "my own photo" and len(appeals_of) == 1
    assert runner.invoke(cli, ["notice", "counter-notice", str(notice_id)]).exit_code != 0

    client = sign_in(app_client, make_user("admin", "ada"))
    token = form_token(client.get(f"/admin/notices/{notice_id}").text)
    empty = client.post(
        f"/admin/notices/{notice_id}/transition", data={"csrf_token": token, "name": "restore"}
    )
    assert empty.status_code == 422
    bare = client.post(
        f"/admin/notices/{notice_id}/transition", data={"csrf_token": token, "name": "counter_notice"}
    )
    assert bare.status_code == 422
    done = client.post(
        f"/admin/notices/{notice_id}/transition",
        data={"csrf_token": token, "name": "restore", "reason": "own photo, shown"},
    )
    assert done.status_code == 200 and "restored" in done.text
    stored = app_client.get(f"/v1/appeals/{appeal['id']}", headers=auth("admin")).json()
    assert stored["state"] == "overturned" and stored["decided_by"] == "user:ada"


def test_two_appeal_calls_at_once_file_one_appeal(
    app_client: TestClient, auth: Auth, make_key: Key, engine: Engine, settings: Settings
) -> None:
    url = _actioned(app_client, auth, _bearer(make_key, "reviewer-a"), 95)
    notice_id = int(url.rsplit("/", 1)[1])

    def file(actor: str) -> Callable[[], object]:
        def go() -> object:
            with transaction(engine) as session:
                return notice_redress.appeal(
                    session, notice_id, statement="mine", actor=actor, settings=settings
                )[0].id

        return go

    results = _race(file("apikey:a"), file("apikey:b"))
    ids = {r for r in results if not isinstance(r, ModerationError)}
    assert len(ids) == 1
    assert all(r.status == 409 for r in results if isinstance(r, ModerationError))
    with transaction(engine) as session:
        assert [a.id for a in appeals.of_notice(session, notice_id)] == sorted(ids)
    assert app_client.get(url, headers=auth("admin")).json()["state"] == "appealed"
