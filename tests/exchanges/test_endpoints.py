"""The exchanges API (admin): configure, page, status, switch, request a fetch, records, feedback; bad
input gets stable 4xx codes; the CLI's add/list/status/set/fetch against a fake exchange."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from moderation.cli import app
from moderation.config import Settings
from moderation.db import transaction
from moderation.exchanges.feedback import exchange_feedback
from moderation.exchanges.service import exchanges
from tests.admin.conftest import signed_in
from tests.exchanges import fakes, scenarios
from tests.exchanges.conftest import add_exchange, fetch

Auth = Callable[[str], dict[str, str]]
runner = CliRunner()
__all__ = ["signed_in"]


def test_configure_page_inspect_and_switch_exchanges(
    app_client: TestClient,
    auth: Auth,
    fake: fakes.FakeExchanges,
    credentials: Settings,
    engine: Engine,
    tmp_path: Path,
) -> None:
    admin = auth("admin")
    for index in range(3):
        body = {
            "name": f"ncii-{index}",
            "type": "stopncii",
            "bank": "ncii",
            "review_only": True,
            "base_url": fake.base("stopncii"),
        }
        response = app_client.post("/v1/exchanges", headers=admin, json=body)
        assert response.status_code == 201, response.text
    created = response.json()
    assert created["bank"] == "ncii" and created["signal_types"] == ["pdq", "video_md5"]
    assert app_client.get("/v1/banks/ncii", headers=admin).json()["action"] == "review"
    first = app_client.get("/v1/exchanges?limit=2", headers=admin).json()
    assert [e["name"] for e in first["items"]] == ["ncii-0", "ncii-1"] and first["next_cursor"]
    second = app_client.get(f"/v1/exchanges?limit=2&cursor={first['next_cursor']}", headers=admin).json()
    assert [e["name"] for e in second["items"]] == ["ncii-2"] and second["next_cursor"] is None

    status = app_client.get("/v1/exchanges/ncii-0", headers=admin).json()
    assert status["last_fetch_at"] is None and status["counts"]["records"] == 0 and status["feedback"] == {}
    patched = app_client.patch(
        "/v1/exchanges/ncii-0", headers=admin, json={"enabled": False, "feedback_enabled": True}
    )
    assert (
        patched.status_code == 200
        and patched.json()["enabled"] is False
        and patched.json()["feedback_enabled"]
    )
    accepted = app_client.post("/v1/exchanges/ncii-1/fetch", headers=admin)
    assert accepted.status_code == 202 and accepted.json()["last_fetch_started_at"] is None
    assert app_client.get("/v1/exchanges/ncii-1/records", headers=admin).json() == {
        "items": [],
        "next_cursor": None,
    }
    assert app_client.get("/v1/exchanges/ncii-1/feedback", headers=admin).json() == {
        "items": [],
        "next_cursor": None,
    }


def test_bad_input_gets_stable_codes(app_client: TestClient, auth: Auth) -> None:
    admin = auth("admin")

    def post(body: dict[str, object]) -> tuple[int, str]:
        response = app_client.post("/v1/exchanges", headers=admin, json=body)
        return response.status_code, response.json().get("code", "")

    base = {"name": "x", "type": "stopncii", "bank": "b"}
    assert post({**base, "type": "myspace"})[0] == 422
    assert post({**base, "name": "bad name!"}) == (422, "invalid_exchange_name")
    assert post({**base, "signal_types": ["photodna"]}) == (422, "invalid_signal_type")
    assert post({**base, "type": "tat", "feedback_enabled": True}) == (422, "exchange_feedback_not_supported")
    assert post({**base, "type": "threatexchange"}) == (422, "invalid_exchange_config")
    assert post({**base, "type": "ncmec", "environment": "Mars"}) == (422, "invalid_exchange_config")
    assert post({**base, "type": "file", "filename": "relative.txt"}) == (422, "invalid_exchange_config")
    assert post({**base, "base_url": "ftp://x"}) == (422, "invalid_exchange_config")
    assert post({**base, "confirmations_required": 2}) == (422, "invalid_promotion")
    assert post({**base, "confirmations_required": 2, "promote_to": "b"}) == (422, "invalid_promotion")
    assert post({**base, "credentials": {"password": "x"}})[0] == 422  # never accepted in a request
    assert post(base)[0] == 201
    assert post(base) == (409, "exchange_exists")
    assert app_client.get("/v1/exchanges/nope", headers=admin).json()["code"] == "exchange_not_found"
    assert app_client.get("/v1/exchanges?cursor=abc", headers=admin).json()["code"] == "invalid_cursor"
    assert app_client.get("/v1/exchanges?limit=0", headers=admin).status_code == 422
    assert app_client.patch("/v1/exchanges/x", headers=admin, json={"nope": 1}).status_code == 422
    tat = app_client.post("/v1/exchanges", headers=admin, json={"name": "t", "type": "tat", "bank": "b"})
    assert tat.status_code == 201
    refused = app_client.patch("/v1/exchanges/t", headers=admin, json={"feedback_enabled": True})
    assert refused.json()["code"] == "exchange_feedback_not_supported"


def test_cli_add_list_status_set_and_fetch(
    fake: fakes.FakeExchanges, credentials: Settings, engine: Engine, tmp_path: Path
) -> None:
    story = scenarios.scenario()
    scenarios.seed(fake, "tat", story, tmp_path / "x")
    result = runner.invoke(
        app, ["exchange", "add", "tat", "--type", "tat", "--bank", "tcap", "--base-url", fake.base("tat")]
    )
    assert result.exit_code == 0 and "fills bank tcap" in result.output, result.output
    result = runner.invoke(app, ["exchange", "add", "tat", "--type", "tat", "--bank", "tcap"])
    assert result.exit_code == 1 and "exchange_exists" in result.output
    assert "tat\ttat\ttcap\tenabled" in runner.invoke(app, ["exchange", "list"]).output

    result = runner.invoke(app, ["exchange", "fetch", "tat", "--max-pages", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["pages"] == 1 and report["added"] == 2 and report["complete"] is False
    result = runner.invoke(app, ["exchange", "fetch", "tat"])
    assert result.exit_code == 0 and json.loads(result.stdout.strip().splitlines()[-1])["complete"] is True
    status = json.loads(runner.invoke(app, ["exchange", "status", "tat", "--json"]).output)
    assert status["counts"]["records"] == len(story.first) and status["checkpoint"]["checkpoint"]
    text = runner.invoke(app, ["exchange", "status", "tat"]).output
    assert f"records: {len(story.first)}" in text and "last error: -" in text
    assert "password" not in text and fakes.TAT_PASSWORD not in text

    with transaction(engine) as session:
        record = exchanges.records(session, "tat").items[0]
    result = runner.invoke(
        app, ["exchange", "overturn", "tat", str(record.id), "--reason", "not terrorist content"]
    )
    assert result.exit_code == 0 and f"entry {record.entry_id} disabled" in result.output, result.output
    result = runner.invoke(app, ["exchange", "overturn", "tat", "999", "--reason", "x"])
    assert result.exit_code == 1 and "exchange_record_not_found" in result.output
    assert runner.invoke(app, ["exchange", "set", "tat", "--disabled"]).exit_code == 0
    with transaction(engine) as session:
        assert exchanges.get(session, "tat").enabled is False
    fake.state.failures.append(fakes.Failure("/tat/token-auth", 503, times=10, method="POST"))
    result = runner.invoke(app, ["exchange", "fetch", "tat", "--quiet"])
    assert result.exit_code == 1 and "exchange_unavailable" in result.output


def test_the_worker_job_fetches_due_enabled_exchanges(
    fake: fakes.FakeExchanges, credentials: Settings, engine: Engine, tmp_path: Path
) -> None:
    story = scenarios.scenario()
    scenarios.seed(fake, "stopncii", story, tmp_path / "x")
    add_exchange(engine, fake, "stopncii")
    add_exchange(engine, fake, "tat", enabled=False)
    result = runner.invoke(app, ["worker", "--job", "exchanges.fetch"])
    assert (
        result.exit_code == 0
        and "exchanges=1" in result.output
        and f"added={len(story.first)}" in result.output
    )
    # Fetched just now: not due again until the interval passes.
    result = runner.invoke(app, ["worker", "--job", "exchanges.fetch"])
    assert "exchanges=0" in result.output, result.output
    assert fetch(engine, credentials, "stopncii").added == 0


def test_dashboard_shows_matches_confirmations_and_overturns_per_exchange(
    signed_in: Callable[[str], TestClient],
    fake: fakes.FakeExchanges,
    credentials: Settings,
    engine: Engine,
    tmp_path: Path,
) -> None:
    story = scenarios.scenario()
    scenarios.seed(fake, "stopncii", story, tmp_path / "x")
    add_exchange(engine, fake, "stopncii", feedback_enabled=True)
    fetch(engine, credentials, "stopncii")
    with transaction(engine) as session:
        records = exchanges.records(session, "stopncii").items
        exchange_feedback.on_verdict(
            session,
            check_id=1,
            entry_ids=[records[0].entry_id, records[1].entry_id],
            verdict="block",
            actor="t",
        )
        exchange_feedback.on_verdict(
            session, check_id=2, entry_ids=[records[2].entry_id], verdict="allow", actor="t"
        )
    page = signed_in("admin").get("/admin/exchanges")
    assert page.status_code == 200
    row = page.text.split('data-exchange="stopncii"', 1)[1].split("</tr>", 1)[0]
    assert '"reviewed">3<' in row and '"confirmations">2<' in row and '"overturns">1<' in row
    assert "pending: 3" in row
    assert signed_in("reviewer").get("/admin/exchanges").status_code == 403
