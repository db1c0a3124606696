"""The command line lists every command with a one-line description."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from moderation.cli import app


def test_help_lists_every_command_with_a_description() -> None:
    group = typer.main.get_command(app)
    commands = group.commands  # type: ignore[attr-defined]
    assert {"serve", "db", "apikey", "audit"} <= set(commands)
    outcome = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert outcome.exit_code == 0
    for name, command in commands.items():
        summary = command.get_short_help_str(limit=200)
        assert len(summary) > 10, f"`moderation {name}` needs a one-line description"
        assert name in outcome.output and summary[:30] in outcome.output
