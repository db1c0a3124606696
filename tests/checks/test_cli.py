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


def test_review_queue_from_the_shell(settings: Settings, tmp_path: Path) -> None:
    """`moderation review list|verdict`: the dashboard's queue and verdict buttons, scriptable."""
    runner = CliRunner()
    image = tmp_path / "g.jpg"
    image.write_bytes(jpeg(11))
    # A generated image with an ambiguous prompt goes to review (no classifier in tests).
    checked = runner.invoke(
        app, ["check", str(image), "--metadata", '{"source": "generated", "prompt": "a young sailor"}']
    )
    assert checked.exit_code == 0 and "review" in checked.stdout, checked.output
    listed = runner.invoke(app, ["review", "list", "--json"])
    (item,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert item["state"] == "open" and item["source"] == "generated"
    outcome = runner.invoke(app, ["review", "list", "--state", "bogus"])
    assert outcome.exit_code == 2 and "error [invalid_state]" in outcome.output
    outcome = runner.invoke(app, ["review", "verdict", str(item["id"]), "maybe"])
    assert outcome.exit_code == 2 and "error [invalid_verdict]" in outcome.output
    outcome = runner.invoke(app, ["review", "verdict", str(item["id"]), "block", "--note", "not ok"])
    assert outcome.exit_code == 0 and outcome.stdout.strip() == f"review item {item['id']}: blocked"
    outcome = runner.invoke(app, ["review", "verdict", str(item["id"]), "allow"])
    assert outcome.exit_code == 1 and "error [illegal_transition]" in outcome.output
    assert runner.invoke(app, ["review", "list"]).stdout.count("\n") == 1  # the header only
    decided = runner.invoke(app, ["review", "list", "--state", "decided", "--json"]).stdout
    assert json.loads(decided)["note"] == "not ok"


def test_check_on_a_fresh_data_directory_migrates_it_first(tmp_path: Path) -> None:
    """The embedded default: `moderation check` before any `serve` creates the database instead of
    failing with a missing table."""
    import os
    import subprocess
    import sys

    image = tmp_path / "a.jpg"
    image.write_bytes(jpeg(4))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MODERATION_") or k == "MODERATION_TEST_DATABASE_URL"
    }
    env.pop("MODERATION_TEST_DATABASE_URL", None)
    env |= {"MODERATION_DATA_DIR": str(tmp_path / "data"), "MODERATION_CLASSIFIER_ENABLED": "false"}
    done = subprocess.run(
        [sys.executable, "-m", "moderation", "check", str(image)],
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout.decode().startswith(f"{image}: allow - check 1")
    assert (tmp_path / "data" / "moderation.db").is_file()
