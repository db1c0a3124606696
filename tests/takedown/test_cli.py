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
