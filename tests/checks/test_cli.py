"""`moderation check FILE --json` runs the same pipeline in-process and prints the API's JSON."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from moderation.cli import app
from moderation.config import Settings
from tests.factories import jpeg


def test_check_prints_the_same_json_as_the_api(settings: Settings, tmp_path: Path) -> None:
    image = tmp_path / "a.jpg"
    image.write_bytes(jpeg(3))
    runner = CliRunner()
    outcome = runner.invoke(
        app, ["check", str(image), "--metadata", '{"content_id": "c1", "source": "upload"}', "--json"]
    )
    assert outcome.exit_code == 0, outcome.output
    body = json.loads(outcome.stdout.strip().splitlines()[-1])
    assert body["decision"] == "allow" and body["content_id"] == "c1" and body["cached"] is False
    assert len(body["hashes"]["pdq"]) == 64 and body["policy_version"]
    repeat = runner.invoke(app, ["check", str(image), "--metadata", '{"source": "upload"}', "--json"])
    again = json.loads(repeat.stdout.strip().splitlines()[-1])
    assert again["cached"] is True and again["check_id"] == body["check_id"]
    generated = runner.invoke(
        app, ["check", str(image), "--metadata", '{"source": "generated", "prompt": "a k1d"}']
    )
    assert generated.exit_code == 0 and "block" in generated.stdout and "prompt.minor" in generated.stdout


def test_check_reports_bad_input_with_its_code(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    outcome = CliRunner().invoke(app, ["check", str(bad)])
    assert outcome.exit_code == 1 and "error [empty_image]" in outcome.output
    outcome = CliRunner().invoke(app, ["check", str(bad), "--metadata", "{nope"])
    assert outcome.exit_code == 1 and "error [malformed_metadata]" in outcome.output
