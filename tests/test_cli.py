"""The command line lists every command with a description."""

from __future__ import annotations

from typer.testing import CliRunner

from moderation.cli import app


def test_help_lists_commands_with_descriptions() -> None:
    outcome = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert outcome.exit_code == 0
    for command in ("serve", "db", "apikey", "audit"):
        lines = [line for line in outcome.output.splitlines() if f" {command} " in line]
        assert lines, f"{command} missing from --help"
        assert len(lines[0].split(command, 1)[1].strip(" │")) > 5, f"{command} has no description"
