"""`moderation hash FILE... --json`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from moderation.cli import app
from moderation.hashing.hashers import hash_image_bytes
from moderation.hashing.intake import ImageLimits

from .factories import encode, scene


def test_hash_prints_one_json_object_per_file(tmp_path: Path) -> None:
    good = tmp_path / "a.png"
    good.write_bytes(encode(scene(1), "PNG"))
    outcome = CliRunner().invoke(app, ["hash", str(good), "--json"])
    assert outcome.exit_code == 0, outcome.output
    row = json.loads(outcome.stdout.strip())
    expected = hash_image_bytes(good.read_bytes(), ImageLimits())
    assert row == {"path": str(good), **expected.as_dict()}
    assert len(row["pdq"]) == 64


def test_unhashable_files_report_their_code_and_exit_non_zero(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    good.write_bytes(encode(scene(2), "JPEG"))
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(good.read_bytes()[:300])
    missing = tmp_path / "missing.jpg"
    args = ["hash", "--json", str(text), str(good), str(empty), str(truncated), str(missing)]
    outcome = CliRunner().invoke(app, args)
    assert outcome.exit_code == 1
    rows = [json.loads(line) for line in outcome.stdout.splitlines()]
    assert [r["path"] for r in rows] == args[2:]
    assert [r.get("error") for r in rows] == [
        "unsupported_format",
        None,
        "empty_image",
        "corrupt_image",
        "unreadable_file",
    ]
    assert len(rows[1]["pdq"]) == 64


def test_plain_output_is_one_line_per_file(tmp_path: Path) -> None:
    path = tmp_path / "a.webp"
    path.write_bytes(encode(scene(3), "WEBP"))
    outcome = CliRunner().invoke(app, ["hash", str(path)])
    assert outcome.exit_code == 0
    assert outcome.stdout.count("\n") == 1 and "pdq=" in outcome.stdout
