"""Regime policy files: the shipped set loads, and broken copies fail naming the file and field."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from moderation.config import PROJECT_ROOT
from moderation.exceptions import PolicyError
from moderation.policy import loader
from moderation.policy.loader import Policy, load_policy
from moderation.policy.regimes import RegimeSet, UnknownRegime, load_regimes

POLICIES = PROJECT_ROOT / "policies"
REQUIRED_IDS = {
    "us-take-it-down",
    "in-it-rules-3-1-d",
    "in-it-rules-3-2-b",
    "eu-tco",
    "eu-dsa-16",
    "uk-osa-intimate-image",
    "au-osa-removal-notice",
    "us-dmca",
    "us-nc-66-507",
    "terms-of-service",
    "us-ut-13-72b",
    "in-it-rules-3-2-a-grievance",
    "in-it-rules-3-2-a-removal",
    "au-osa-class-1-removal",
    "au-osa-adult-cyber-abuse",
    "au-osa-child-cyber-bullying",
    "us-ca-sb-981",
    "us-fl-836-13",
    "fr-lcen-sren",
}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def regimes() -> RegimeSet:
    return load_regimes(POLICIES)


def test_shipped_regimes_load_with_sources_and_review_note(regimes: RegimeSet) -> None:
    assert set(regimes.ids()) == REQUIRED_IDS
    for regime in regimes:
        assert regime.sources, regime.id
        assert "review with counsel before use" in regime.review.lower(), regime.id
        for version in regime.versions:
            assert version.alerts.thresholds == (0.5, 0.75, 0.9), regime.id
            assert version.alerts.breach and version.alerts.escalation, regime.id


def test_unconfirmed_facts_are_marked(regimes: RegimeSet) -> None:
    uk = regimes.get("uk-osa-intimate-image")
    assert any("commencement" in note.lower() for note in uk.unconfirmed)
    assert uk.versions[0].confidence == "unverified"
    india = regimes.get("in-it-rules-3-1-d")
    assert india.versions[-1].clocks[0].confidence == "secondary"
    assert india.versions[-1].preservation is not None
    assert india.versions[-1].preservation.confidence == "unverified"


def test_shipped_facts(regimes: RegimeSet) -> None:
    tco = regimes.get("eu-tco").versions[0]
    assert tco.clock("removal").pausable
    assert set(tco.clock("removal").pause_reasons) == {
        "force_majeure",
        "technical_impossibility",
        "manifest_error",
        "missing_information",
    }
    assert tco.preservation is not None and (tco.preservation.length, tco.preservation.unit) == (6, "months")
    uk = regimes.get("uk-osa-intimate-image").versions[0]
    assert set(uk.removal_scope) == {"item", "identical_copies", "substantially_similar"}
    tida = regimes.get("us-take-it-down").versions[0]
    assert tida.clock("removal").trigger == "completed"
    assert set(tida.removal_scope) == {"item", "identical_copies"}
    assert tida.preservation is None and not tida.notify_uploader
    dmca = regimes.get("us-dmca").versions[0]
    window = dmca.appeal.restore_window
    assert dmca.appeal.route == "counter_notice" and window is not None
    assert (window.min, window.max, str(window.calendar), window.timezone) == (
        10,
        14,
        "US",
        "America/New_York",
    )
    dsa = regimes.get("eu-dsa-16").versions[0]
    assert {(c.kind, c.length) for c in dsa.clocks} == {("statutory", None), ("internal", 24)}


def test_india_version_boundary_is_midnight_ist(regimes: RegimeSet) -> None:
    india = regimes.get("in-it-rules-3-1-d")
    assert [v.version for v in india.versions] == ["2021", "2025-11-15", "2026-02-20"]
    # 00:00 IST on 20 Feb 2026 is 18:30 UTC on 19 Feb.
    assert india.version_at(at("2026-02-19T18:29:59Z")).version == "2025-11-15"  # type: ignore[union-attr]
    assert india.version_at(at("2026-02-19T18:30:00Z")).version == "2026-02-20"  # type: ignore[union-attr]
    assert india.version_at(at("2026-02-20T00:00:00+05:30")).version == "2026-02-20"  # type: ignore[union-attr]
    assert india.version_at(at("2021-02-24T18:29:59Z")) is None


def test_future_version_is_not_in_force_yet(regimes: RegimeSet) -> None:
    utah = regimes.get("us-ut-13-72b")
    assert utah.version_at(at("2026-12-31T23:59:59-07:00")) is None
    assert utah.version_at(at("2027-01-01T00:00:00-07:00")).version == "2027-01-01"  # type: ignore[union-attr]


def test_version_at_refuses_naive_instants(regimes: RegimeSet) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        regimes.get("eu-tco").version_at(datetime(2026, 1, 1))


def test_unknown_regime_lists_valid_ids(regimes: RegimeSet) -> None:
    with pytest.raises(UnknownRegime) as caught:
        regimes.get("us-nope")
    assert caught.value.code == "unknown_regime" and caught.value.status == 404
    assert "eu-tco" in caught.value.message and "us-dmca" in caught.value.message


def test_regimes_are_a_registered_policy_part() -> None:
    assert ("regimes", load_regimes) in loader._validators
    part = Policy(POLICIES).part("regimes", load_regimes)
    assert isinstance(part, RegimeSet) and "eu-tco" in part


# --- broken copies -------------------------------------------------------------------------------


@pytest.fixture
def broken(tmp_path: Path) -> Callable[[str, Callable[[dict[str, Any]], Any]], str]:
    """Copy the shipped regimes into tmp/policies, edit one file, load, and return the error text."""

    def _break(regime_id: str, edit: Callable[[dict[str, Any]], Any]) -> str:
        target = tmp_path / "policies" / "regimes"
        shutil.copytree(POLICIES / "regimes", target)
        path = target / f"{regime_id}.yaml"
        data = yaml.safe_load(path.read_text())
        edit(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        with pytest.raises(PolicyError) as caught:
            load_regimes(tmp_path / "policies")
        return str(caught.value)

    return _break


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        if value is _DELETE:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return edit


_DELETE = object()

CASES = [
    ("eu-tco", _set("versions.0.clocks.0.length", 0), "versions[0].clocks[0].length: must be > 0"),
    ("eu-tco", _set("versions.0.clocks.0.length", -1), "versions[0].clocks[0].length: must be > 0"),
    ("eu-tco", _set("versions.0.clocks.0.unit", "minutes"), "versions[0].clocks[0].unit: must be one of"),
    ("eu-tco", _set("versions.0.clocks.0.kind", "advisory"), "versions[0].clocks[0].kind: must be one of"),
    (
        "eu-tco",
        _set("versions.0.clocks.0.trigger", "noticed"),
        "versions[0].clocks[0].trigger: must be one of",
    ),
    (
        "eu-tco",
        _set("versions.0.alerts.thresholds", [0.5, 1.5]),
        "versions[0].alerts.thresholds[1]: must be <= 1",
    ),
    (
        "eu-tco",
        _set("versions.0.alerts.thresholds", [0, 0.5]),
        "versions[0].alerts.thresholds[0]: must be > 0",
    ),
    (
        "eu-tco",
        _set("versions.0.alerts.thresholds", [0.9, 0.5]),
        "versions[0].alerts.thresholds: must be strictly",
    ),
    (
        "eu-tco",
        _set("versions.0.clocks.0.pause_reasons", []),
        "versions[0].clocks[0].pause_reasons: a pausable",
    ),
    (
        "eu-tco",
        _set("versions.0.clocks.0.unit", None),
        "versions[0].clocks[0].unit: required when length is set",
    ),
    (
        "eu-tco",
        _set("versions.0.removal_scope", ["identical_copies"]),
        "versions[0].removal_scope: must include",
    ),
    (
        "eu-tco",
        _set("versions.0.effective_from", "2022-06-07T00:00:00"),
        "versions[0].effective_from: a date-time",
    ),
    (
        "eu-tco",
        _set("versions.0.effective_until", "2020-01-01"),
        "versions[0].effective_until: must not be before",
    ),
    ("eu-tco", _set("versions.0.effective_from", "2026-13-01"), "versions[0].effective_from: must be a date"),
    ("eu-tco", _set("id", "eu-tco-2"), "id: 'eu-tco-2' must match the file name"),
    ("eu-tco", _set("timezone", "Europe/Atlantis"), "timezone: unknown time zone 'Europe/Atlantis'"),
    ("eu-tco", _set("title", _DELETE), "eu-tco.yaml: title: required field is missing"),
    ("eu-tco", _set("versions.0.colour", "red"), "versions[0].colour: unknown field"),
    (
        "eu-tco",
        _set("versions.0.required_fields", ["Bad Field"]),
        "versions[0].required_fields[0]: 'Bad Field'",
    ),
    (
        "us-dmca",
        _set("versions.0.clocks.1.calendar", None),
        "versions[0].clocks[1].calendar: required for business",
    ),
    (
        "us-dmca",
        _set("versions.0.clocks.1.calendar", {"country": "XX"}),
        "versions[0].clocks[1].calendar: no holiday calendar for 'XX'",
    ),
    (
        "us-dmca",
        _set("versions.0.clocks.0.wording", None),
        "versions[0].clocks[0].wording: required when length",
    ),
    ("us-dmca", _set("versions.0.clocks.1.id", "removal"), "versions[0].clocks[1].id: duplicate clock id"),
    (
        "us-dmca",
        _set("versions.0.clocks.1.length", 1.5),
        "versions[0].clocks[1].length: must be a whole number",
    ),
    (
        "us-dmca",
        _set("versions.0.appeal.restore_window.min", 15),
        "versions[0].appeal.restore_window.min: must be",
    ),
    (
        "in-it-rules-3-1-d",
        _set("versions.1.effective_until", _DELETE),
        "versions[2].effective_from: overlaps",
    ),
    (
        "in-it-rules-3-1-d",
        _set("versions.2.effective_from", "2025-12-01"),
        "versions[2].effective_from: overlaps",
    ),
    ("in-it-rules-3-1-d", _set("versions.2.version", "2021"), "versions[2].version: duplicate version label"),
    (
        "in-it-rules-3-1-d",
        _set("versions.2.effective_from", "2020-01-01"),
        "versions[2].effective_from: versions must be in order",
    ),
    (
        "eu-tco",
        _set("versions.0.clocks.0.pause_semantics", _DELETE),
        "versions[0].clocks[0].pause_semantics: a pausable clock must say extend or restart",
    ),
    (
        "eu-tco",
        _set("versions.0.clocks.0.pause_semantics", "resume"),
        "versions[0].clocks[0].pause_semantics: must be one of",
    ),
    (
        "us-take-it-down",
        _set("versions.0.clocks.0.pause_semantics", "restart"),
        "versions[0].clocks[0].pause_semantics: only allowed when pausable",
    ),
    ("eu-tco", _set("versions.0.clocks.0.step", "apology"), "versions[0].clocks[0].step: must be one of"),
    (
        "us-ca-sb-981",
        _set("versions.0.clocks.0.step", "decision"),
        "versions[0].clocks[1].trigger: 'acknowledged' needs an acknowledgement clock",
    ),
    (
        "eu-dsa-16",
        _set("versions.0.preservation.kind", "optional"),
        "versions[0].preservation.kind: must be one",
    ),
    ("eu-tco", _set("versions.0.appeal.route", "tribunal"), "versions[0].appeal.route: must be one of"),
]


@pytest.mark.parametrize(("regime_id", "edit", "expected"), CASES)
def test_broken_copy_names_file_and_field(
    broken: Callable[[str, Callable[[dict[str, Any]], Any]], str],
    regime_id: str,
    edit: Callable[[dict[str, Any]], Any],
    expected: str,
) -> None:
    message = broken(regime_id, edit)
    assert message.startswith(f"policies/regimes/{regime_id}.yaml: "), message
    assert expected in message, message


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "policies" / "regimes"
    folder.mkdir(parents=True)
    (folder / "eu-tco.yaml").write_text("id: eu-tco\nversions: [unclosed\n")
    with pytest.raises(PolicyError, match=r"policies/regimes/eu-tco.yaml: not valid YAML"):
        load_regimes(tmp_path / "policies")


def test_non_mapping_file_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "policies" / "regimes"
    folder.mkdir(parents=True)
    (folder / "eu-tco.yaml").write_text("- just\n- a list\n")
    with pytest.raises(PolicyError, match=r"policies/regimes/eu-tco.yaml: must be a mapping"):
        load_regimes(tmp_path / "policies")


def test_missing_or_empty_regime_directory(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"policies/regimes: regime directory is missing"):
        load_regimes(tmp_path / "policies")
    (tmp_path / "policies" / "regimes").mkdir(parents=True)
    with pytest.raises(PolicyError, match=r"no regime files"):
        load_regimes(tmp_path / "policies")


def test_load_policy_fails_at_start_up_on_a_broken_regime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only this part: the other parts' files are not this test's business.
    monkeypatch.setattr(loader, "_validators", [("regimes", load_regimes)])
    shutil.copytree(POLICIES / "regimes", tmp_path / "policies" / "regimes")
    assert isinstance(load_policy(tmp_path / "policies").part("regimes", load_regimes), RegimeSet)
    path = tmp_path / "policies" / "regimes" / "eu-tco.yaml"
    path.write_text(path.read_text().replace("length: 1\n", "length: 0\n"))
    with pytest.raises(PolicyError, match=r"eu-tco.yaml: versions\[0\].clocks\[0\].length: must be > 0"):
        load_policy(tmp_path / "policies")


def test_effective_instant_with_offset_is_accepted(tmp_path: Path) -> None:
    shutil.copytree(POLICIES / "regimes", tmp_path / "policies" / "regimes")
    path = tmp_path / "policies" / "regimes" / "in-it-rules-3-2-b.yaml"
    text = path.read_text()
    text = text.replace("effective_until: 2026-02-19", "effective_until: 2026-02-20T06:00:00+05:30")
    text = text.replace("effective_from: 2026-02-20", "effective_from: 2026-02-20T06:00:00+05:30")
    path.write_text(text)
    india = load_regimes(tmp_path / "policies").get("in-it-rules-3-2-b")
    assert india.version_at(at("2026-02-20T00:29:59Z")).version == "2025-11-11"  # type: ignore[union-attr]
    assert india.version_at(at("2026-02-20T00:30:00Z")).version == "2026-02-20"  # type: ignore[union-attr]


def test_version_label_lookup(regimes: RegimeSet) -> None:
    india = regimes.get("in-it-rules-3-2-b")
    assert india.version("2021").clocks[0].length == 24
    assert india.version("2026-02-20").clocks[0].length == 2
    with pytest.raises(KeyError):
        india.version("1999")
    assert datetime(2026, 1, 1, tzinfo=UTC) >= india.versions[0].starts_at(india.zone)
