"""The command line lists every command with a one-line description."""

from __future__ import annotations

import os

import pytest
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


@pytest.mark.parametrize(
    "words",
    [
        ["hash"],
        ["notice", "list"],
        ["notice", "assign"],
        ["review", "verdict"],
        ["worker"],
        ["exchange", "add"],
    ],
)
def test_help_names_values_not_python_types(words: list[str]) -> None:
    """Help as an operator reads it: `--state STATE`, `FILES...`, flags without a value; no `<bool>`,
    `<str>` or `{files}` (Typer's type tags)."""
    import re
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "moderation", *words, "--help"],
        capture_output=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "120"},
    )
    text = done.stdout.decode()
    assert done.returncode == 0 and "Usage:" in text, done.stderr.decode()
    assert not re.search(r"<(?:bool|str|int|float|list|Path)[^>]*>", text), text
    assert "{" not in text.split("Usage:", 1)[1].splitlines()[0], text
