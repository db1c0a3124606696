"""`moderation notice create` and `moderation notice list`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from moderation.cli import app as cli
from moderation.config import Settings


def test_create_prints_id_and_due_time_and_list_shows_it(settings: Settings) -> None:
    runner = CliRunner()
    outcome = runner.invoke(
        cli,
        [
            "notice",
            "create",
            "--regime",
            "us-take-it-down",
            "--regime",
            "uk-osa-intimate-image",
            "--received-at",
            "2026-11-20T09:00:00Z",
            "--content-id",
            "c-1",
            "--content-id",
            "c-2",
            "--reporter-email",
            "person@example.org",
            "--reporter-name",
            "A. Person",
            "--channel",
            "post",
            "--field",
            "signature=/s/ A. Person",
            "--field",
            "non_consent_statement=no consent",
        ],
    )
    assert outcome.exit_code == 0, outcome.output
    assert outcome.output.startswith("notice 1 created: state needs_info, due 2026-11-22T09:00:00Z")
    assert "uk-osa-intimate-image: missing intimate_image_declaration, subject_declaration" in outcome.output

    listed = runner.invoke(cli, ["notice", "list", "--overdue", "--json"])
    assert listed.exit_code == 0, listed.output
    [row] = [json.loads(line) for line in listed.output.splitlines()]
    assert row["id"] == 1 and row["overdue"] is True and row["due_at"] == "2026-11-22T09:00:00Z"
    table = runner.invoke(cli, ["notice", "list"])
    assert "us-take-it-down,uk-osa-intimate-image" in table.output


def test_create_reports_errors_with_codes(settings: Settings) -> None:
    runner = CliRunner()
    base = ["notice", "create", "--content-id", "c", "--reporter-email", "a@example.org"]
    outcome = runner.invoke(cli, [*base, "--regime", "nope", "--received-at", "2026-11-20T09:00:00Z"])
    assert outcome.exit_code == 1 and "error [unknown_regime]" in outcome.output
    outcome = runner.invoke(cli, [*base, "--regime", "us-dmca", "--received-at", "2026-11-20T09:00:00"])
    assert outcome.exit_code == 1 and "error [naive_datetime]" in outcome.output
    outcome = runner.invoke(cli, [*base, "--regime", "us-dmca", "--received-at", "yesterday"])
    assert outcome.exit_code == 2 and "error [validation_error]" in outcome.output


def test_list_refuses_an_unknown_state_and_create_an_unusable_email(settings: Settings) -> None:
    runner = CliRunner()
    outcome = runner.invoke(cli, ["notice", "list", "--state", "bogus"])
    assert outcome.exit_code == 2 and "error [invalid_state]" in outcome.output
    assert "actioned" in outcome.output  # the valid states are listed
    outcome = runner.invoke(
        cli,
        [
            "notice",
            "create",
            "--regime",
            "us-dmca",
            "--received-at",
            "2026-11-20T09:00:00Z",
            "--content-id",
            "c",
            "--reporter-email",
            "not-an-email",
        ],
    )
    assert outcome.exit_code == 2 and "reporter.email" in outcome.output
    assert "not an email address" in outcome.output
    # Nothing was created: the queue of received notices is empty.
    assert runner.invoke(cli, ["notice", "list", "--json", "--state", "received"]).output == ""


def test_every_notice_action_has_a_command(settings: Settings) -> None:
    """What the dashboard does to a notice, from the shell: validate, action (remove), show, close;
    a reason where the state change needs one; illegal moves exit 1 with the API's code."""
    runner = CliRunner()
    created = runner.invoke(
        cli,
        [
            "notice",
            "create",
            "--regime",
            "us-take-it-down",
            "--received-at",
            "2026-11-20T09:00:00Z",
            "--content-id",
            "post-1",
            "--reporter-email",
            "person@example.org",
            "--field",
            "signature=/s/ A. Person",
            "--field",
            "non_consent_statement=no consent",
            "--json",
        ],
    )
    notice_id = json.loads(created.output)["id"]
    step = runner.invoke(cli, ["notice", "assign", str(notice_id), "rita"])
    assert step.exit_code == 0 and step.output.strip() == f"notice {notice_id}: received, assigned to rita"
    step = runner.invoke(cli, ["notice", "close", str(notice_id)])
    assert step.exit_code == 1 and "error [illegal_transition]" in step.output
    step = runner.invoke(cli, ["notice", "reject", str(notice_id)])
    assert step.exit_code == 2 and "error [reason_required]" in step.output
    assert runner.invoke(cli, ["notice", "validate", str(notice_id)]).exit_code == 0
    step = runner.invoke(cli, ["notice", "action", str(notice_id), "--reason", "confirmed", "--json"])
    assert step.exit_code == 0, step.output
    assert json.loads(step.output) == {"id": notice_id, "state": "actioned", "assignee": "rita"}
    shown = json.loads(runner.invoke(cli, ["notice", "show", str(notice_id)]).output)
    assert shown["state"] == "actioned" and shown["content"][0]["state"] == "removed"
    actions = [t["action"] for t in shown["timeline"]]
    assert [a for a in actions if a in {"notice.assign", "notice.validate", "notice.action"}] == [
        "notice.assign",
        "notice.validate",
        "notice.action",
    ]
    closed = runner.invoke(cli, ["notice", "close", str(notice_id)])
    assert closed.output.startswith(f"notice {notice_id}: closed")
    step = runner.invoke(cli, ["notice", "show", "999"])
    assert step.exit_code == 1 and "error [notice_not_found]" in step.output
