"""`moderation clocks`: JSON and text output, --list, and clear errors for bad input."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from moderation.cli import app
from moderation.config import PROJECT_ROOT, get_settings
from moderation.kit.time import frozen_clock

runner = CliRunner()


@pytest.fixture(autouse=True)
def shipped_policies(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MODERATION_POLICIES_DIR", str(PROJECT_ROOT / "policies"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run_json(*args: str) -> dict[str, object]:
    result = runner.invoke(app, ["clocks", *args, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert isinstance(body, dict)
    return body


def test_json_output_for_eu_tco() -> None:
    body = run_json("eu-tco", "--received-at", "2026-06-01T12:00:00+02:00")
    assert body["regime"] == "eu-tco" and body["version"] == "2022-06-07"
    assert body["due_at"] == "2026-06-01T11:00:00Z"
    assert body["clocks"] == [
        {
            "id": "removal",
            "kind": "statutory",
            "step": "removal",
            "trigger": "served",
            "starts_at": "2026-06-01T10:00:00Z",
            "due_at": "2026-06-01T11:00:00Z",
            "reason": None,
            "pause_semantics": "restart",
            "paused_seconds": 0.0,
        }
    ]
    assert body["pauses"] == []


@pytest.mark.parametrize(
    ("received", "version", "expected"),
    [
        ("2026-02-19T18:29:00Z", "2025-11-15", "2026-02-21T06:29:00Z"),
        ("2026-02-20T00:00:00+05:30", "2026-02-20", "2026-02-19T21:30:00Z"),
        ("2026-02-19T23:00:00Z", "2026-02-20", "2026-02-20T02:00:00Z"),
    ],
)
def test_json_india_version_by_receipt(received: str, version: str, expected: str) -> None:
    body = run_json("in-it-rules-3-1-d", "--received-at", received)
    assert (body["version"], body["due_at"]) == (version, expected)


def test_json_null_length_clock_and_earliest_due() -> None:
    body = run_json("eu-dsa-16", "--received-at", "2026-06-01T12:00:00Z")
    clocks = {c["id"]: c for c in body["clocks"]}  # type: ignore[attr-defined, index]
    assert clocks["decision"]["kind"] == "statutory" and clocks["decision"]["due_at"] is None
    assert clocks["decision-target"]["kind"] == "internal"
    assert body["due_at"] == clocks["decision-target"]["due_at"] == "2026-06-02T12:00:00Z"


def test_completed_at_moves_the_take_it_down_clock() -> None:
    default = run_json("us-take-it-down", "--received-at", "2026-06-01T12:00:00Z")
    assert default["due_at"] == "2026-06-03T12:00:00Z"
    later = run_json(
        "us-take-it-down", "--received-at", "2026-06-01T12:00:00Z", "--completed-at", "2026-06-02T09:00:00Z"
    )
    assert later["due_at"] == "2026-06-04T09:00:00Z"


def test_dmca_restore_window_in_json() -> None:
    body = run_json(
        "us-dmca", "--received-at", "2026-11-25T15:00:00Z", "--counter-notice-at", "2026-12-10T15:00:00Z"
    )
    assert body["due_at"] == "2026-11-28T05:00:00Z"
    assert body["restore_window"] == {"earliest": "2026-12-25T05:00:00Z", "latest": "2027-01-01T05:00:00Z"}


def test_text_output_lists_every_clock_in_utc() -> None:
    result = runner.invoke(app, ["clocks", "us-dmca", "--received-at", "2026-11-25T10:00:00-05:00"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith("removal ") and "expeditiously" in line for line in lines)
    target = next(line for line in lines if line.startswith("removal-target"))
    assert "2026-11-28T05:00:00Z" in target and "1 business day" in target
    assert "due_at    2026-11-28T05:00:00Z" in result.stdout


def test_list_shows_ids_and_current_versions() -> None:
    with frozen_clock(datetime.fromisoformat("2026-02-19T12:00:00Z")):
        result = runner.invoke(app, ["clocks", "--list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert "eu-tco" in rows and "terms-of-service" in rows and len(rows) >= 10
    assert rows["in-it-rules-3-1-d"]["version"] == "2025-11-15"
    assert rows["in-it-rules-3-1-d"]["next_version"] == "2026-02-20"
    assert rows["us-ut-13-72b"]["version"] is None
    with frozen_clock(datetime.fromisoformat("2027-02-01T00:00:00Z")):
        text = runner.invoke(app, ["clocks", "--list"]).stdout
    assert any(line.startswith("us-ut-13-72b") and "2027-01-01" in line for line in text.splitlines())
    assert any(line.startswith("in-it-rules-3-1-d") and "2026-02-20" in line for line in text.splitlines())


def test_unknown_regime_lists_valid_ids() -> None:
    result = runner.invoke(app, ["clocks", "us-nowhere", "--received-at", "2026-06-01T12:00:00Z"])
    assert result.exit_code == 1
    assert "unknown_regime" in result.stderr and "eu-tco" in result.stderr and "us-dmca" in result.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [("2026-06-01T12:00:00", "has no UTC offset"), ("yesterday", "not an ISO 8601 date-time")],
)
def test_bad_received_at_is_refused(value: str, message: str) -> None:
    result = runner.invoke(app, ["clocks", "eu-tco", "--received-at", value, "--json"])
    assert result.exit_code == 2 and message in result.stderr
    assert result.stdout == ""


def test_missing_arguments() -> None:
    assert runner.invoke(app, ["clocks", "eu-tco"]).exit_code == 2
    assert runner.invoke(app, ["clocks", "--received-at", "2026-06-01T12:00:00Z"]).exit_code == 2


def test_regime_not_in_force_at_receipt() -> None:
    result = runner.invoke(app, ["clocks", "us-ut-13-72b", "--received-at", "2026-12-31T12:00:00Z"])
    assert result.exit_code == 1 and "regime_not_in_force" in result.stderr


def test_broken_policy_is_reported_with_file_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(PROJECT_ROOT / "policies" / "regimes", tmp_path / "policies" / "regimes")
    path = tmp_path / "policies" / "regimes" / "eu-tco.yaml"
    path.write_text(path.read_text().replace("thresholds: [0.5, 0.75, 0.9]", "thresholds: [0.5, 2]"))
    monkeypatch.setenv("MODERATION_POLICIES_DIR", str(tmp_path / "policies"))
    get_settings.cache_clear()
    result = runner.invoke(app, ["clocks", "--list"])
    assert result.exit_code == 1
    assert "policies/regimes/eu-tco.yaml: versions[0].alerts.thresholds[1]: must be <= 1" in result.stderr


@pytest.mark.parametrize(
    ("received", "pauses", "expected"),
    [
        # Received 23:30Z, force majeure 23:40Z-02:00Z: a full hour from 02:00Z.
        (
            "2026-06-01T23:30:00Z",
            ["2026-06-01T23:40:00Z/2026-06-02T02:00:00Z:force_majeure"],
            "2026-06-02T03:00:00Z",
        ),
        # Manifest error 10:59Z-11:30Z after a 10:00Z receipt.
        (
            "2026-06-01T10:00:00Z",
            ["2026-06-01T10:59:00Z/2026-06-01T11:30:00Z:manifest_error"],
            "2026-06-01T12:30:00Z",
        ),
        # No reason: every pausable clock; offsets are accepted.
        (
            "2026-06-01T10:00:00Z",
            ["2026-06-01T12:20:00+02:00/2026-06-01T12:50:00+02:00"],
            "2026-06-01T11:50:00Z",
        ),
        # Repeatable: the second stop falls inside the restarted hour.
        (
            "2026-06-01T10:00:00Z",
            [
                "2026-06-01T10:30:00Z/2026-06-01T11:00:00Z:missing_information",
                "2026-06-01T11:15:00Z/2026-06-01T11:20:00Z",
            ],
            "2026-06-01T12:20:00Z",
        ),
        # A reason the regime does not allow changes nothing.
        ("2026-06-01T10:00:00Z", ["2026-06-01T10:20:00Z/2026-06-01T10:50:00Z:lunch"], "2026-06-01T11:00:00Z"),
    ],
)
def test_pause_option_restarts_the_tco_hour(received: str, pauses: list[str], expected: str) -> None:
    args = ["eu-tco", "--received-at", received]
    for value in pauses:
        args += ["--pause", value]
    body = run_json(*args)
    assert body["due_at"] == expected
    assert len(body["pauses"]) == len(pauses)  # type: ignore[arg-type]


def test_open_pause_and_text_output() -> None:
    body = run_json("eu-tco", "--received-at", "2026-06-01T10:00:00Z", "--pause", "2026-06-01T10:20:00Z/")
    assert body["due_at"] is None
    assert body["pauses"] == [{"from": "2026-06-01T10:20:00Z", "to": None, "reason": None}]
    result = runner.invoke(
        app,
        [
            "clocks",
            "eu-tco",
            "--received-at",
            "2026-06-01T10:00:00Z",
            "--pause",
            "2026-06-01T10:20:00Z/2026-06-01T10:50:00Z:missing_information",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "paused    2026-06-01T10:20:00Z to 2026-06-01T10:50:00Z (missing_information)" in result.stdout
    assert "paused 0 h 30 min; on resume: restart" in result.stdout
    assert "due_at    2026-06-01T11:50:00Z" in result.stdout


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-06-01T10:20:00Z", "FROM/TO"),
        ("2026-06-01T10:20:00/2026-06-01T10:50:00Z", "no UTC offset"),
        ("2026-06-01T10:50:00Z/2026-06-01T10:20:00Z:force_majeure", "ends before it starts"),
        ("yesterday/today", "not an ISO 8601"),
    ],
)
def test_bad_pause_is_refused(value: str, message: str) -> None:
    result = runner.invoke(
        app, ["clocks", "eu-tco", "--received-at", "2026-06-01T10:00:00Z", "--pause", value]
    )
    assert result.exit_code == 2 and message in result.output


def test_acknowledged_at_starts_the_california_steps() -> None:
    waiting = run_json("us-ca-sb-981", "--received-at", "2026-06-01T23:30:00Z")
    steps = {c["id"]: c for c in waiting["clocks"]}  # type: ignore[union-attr]
    assert steps["status-update"]["due_at"] is None and steps["status-update"]["step"] == "status_update"
    body = run_json(
        "us-ca-sb-981", "--received-at", "2026-06-01T23:30:00Z", "--acknowledged-at", "2026-06-02T10:00:00Z"
    )
    steps = {c["id"]: c for c in body["clocks"]}  # type: ignore[union-attr]
    assert steps["status-update"]["due_at"] == "2026-06-10T07:00:00Z"
    assert steps["decision"]["due_at"] == "2026-07-03T07:00:00Z"
    assert body["due_at"] == "2026-06-03T23:30:00Z"


def test_list_shows_the_regimes_added_for_issue_20() -> None:
    with frozen_clock(datetime.fromisoformat("2026-11-29T12:00:00Z")):
        result = runner.invoke(app, ["clocks", "--list", "--json"])
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert rows["in-it-rules-3-2-a-grievance"]["version"] == "2026-02-20"
    assert rows["in-it-rules-3-2-a-removal"]["version"] == "2026-02-20"
    assert rows["us-ca-sb-981"]["version"] == "2025-01-01"
    assert rows["us-fl-836-13"]["version"] == "2025-12-31"
    assert rows["fr-lcen-sren"]["version"] == "2024-05-21"
    for regime_id in ("au-osa-class-1-removal", "au-osa-adult-cyber-abuse", "au-osa-child-cyber-bullying"):
        assert rows[regime_id]["version"] == "2022-01-23"
