"""`moderation appeal list|show|decide` and `moderation counter-notice list|court-action`."""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from moderation.cli import app as cli
from moderation.kit.cli import cli_actor
from tests.factories import bank_image, jpeg, post_check
from tests.redress.conftest import file_appeal
from tests.redress.test_counter_notices_done_when import COUNTER, _removed

Auth = Callable[[str], dict[str, str]]


def test_appeal_commands_list_show_and_decide(app_client: TestClient, auth: Auth, engine: Engine) -> None:
    bank_image(engine, "known-bad", jpeg(71))
    checker = auth("checker")
    blocked = post_check(app_client, checker, jpeg(71), {"content_id": "c-71"}).json()
    appeal = file_appeal(
        app_client,
        auth,
        checker,
        subject={"type": "check", "id": blocked["check_id"]},
        appellant={"role": "uploader"},
        statement="it is my own photo",
    )
    runner = CliRunner()
    table = runner.invoke(cli, ["appeal", "list"])
    assert table.exit_code == 0, table.output
    assert f"{appeal['id']:>6} open       check_block" in table.output
    assert f"check {blocked['check_id']}" in table.output
    listed = runner.invoke(cli, ["appeal", "list", "--state", "open", "--json"])
    assert [json.loads(line)["id"] for line in listed.output.splitlines()] == [appeal["id"]]
    assert runner.invoke(cli, ["appeal", "list", "--state", "closed"]).exit_code == 2

    shown = runner.invoke(cli, ["appeal", "show", str(appeal["id"])])
    assert shown.exit_code == 0, shown.output
    detail = json.loads(shown.output)
    assert detail["statement"] == "it is my own photo"
    [filed] = [e for e in detail["timeline"] if e["action"] == "appeal.filed"]
    assert filed["details"]["terms"]["window_source"] == "policy default"

    no_reason = runner.invoke(cli, ["appeal", "decide", str(appeal["id"]), "overturn", "--reason", " "])
    assert no_reason.exit_code == 1 and "error [reason_required]" in no_reason.output
    decided = runner.invoke(
        cli, ["appeal", "decide", str(appeal["id"]), "overturn", "--reason", "own work", "--json"]
    )
    assert decided.exit_code == 0, decided.output
    result = json.loads(decided.output)
    assert result["state"] == "overturned" and result["decided_by"] == cli_actor()
    assert result["reversal"]["webhook_key"] == f"appeal-{appeal['id']}/restore"
    again = runner.invoke(cli, ["appeal", "decide", str(appeal["id"]), "uphold", "--reason", "no"])
    assert again.exit_code == 1 and "error [appeal_already_decided]" in again.output
    missing = runner.invoke(cli, ["appeal", "show", "99999"])
    assert missing.exit_code == 1 and "error [appeal_not_found]" in missing.output
    assert (
        runner.invoke(cli, ["appeal", "decide", str(appeal["id"]), "maybe", "--reason", "x"]).exit_code == 2
    )


def test_counter_notice_commands_list_and_record_a_court_action(app_client: TestClient, auth: Auth) -> None:
    url = _removed(app_client, auth, "p-90")
    counter = app_client.post(f"{url}/counter-notices", json=COUNTER, headers=auth("checker")).json()
    runner = CliRunner()
    table = runner.invoke(cli, ["counter-notice", "list", "--state", "waiting"])
    assert table.exit_code == 0, table.output
    assert f"{counter['id']:>6}" in table.output and "waiting" in table.output
    empty = runner.invoke(cli, ["counter-notice", "list", "--state", "restored", "--json"])
    assert empty.exit_code == 0 and empty.output == ""

    recorded = runner.invoke(
        cli, ["counter-notice", "court-action", str(counter["id"]), "--note", "Holder v. Ploader, S.D.N.Y."]
    )
    assert recorded.exit_code == 0, recorded.output
    assert recorded.output.strip() == f"counter-notice {counter['id']}: court_action"
    row = app_client.get(f"/v1/counter-notices/{counter['id']}", headers=auth("admin")).json()
    assert row["state"] == "court_action" and row["court_action_note"] == "Holder v. Ploader, S.D.N.Y."
    assert app_client.get(url, headers=auth("admin")).json()["state"] == "actioned"
    listed = runner.invoke(cli, ["counter-notice", "list", "--json"])
    assert [json.loads(line)["state"] for line in listed.output.splitlines()] == ["court_action"]
    blank = runner.invoke(cli, ["counter-notice", "court-action", str(counter["id"]), "--note", " "])
    assert blank.exit_code == 2
    unknown = runner.invoke(cli, ["counter-notice", "court-action", "4242", "--note", "x"])
    assert unknown.exit_code == 1 and "error [counter_notice_not_found]" in unknown.output
