"""Worked cases computed from the statutes for the 2026-11-29 corrections and the regimes added then
(issue 20): TCO appeal route, DSA preservation, UK s.20A(2)(c), North Carolina 66-507(d), Utah's
actual-knowledge harbour, India grievances, Australia ss.109/88/65, California SB 981, Florida
836.13(6), France LCEN/SREN."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from moderation.config import PROJECT_ROOT
from moderation.policy.regimes import RegimeSet, load_regimes
from moderation.takedown.clocks import ClockDue, InvalidClockInput, compute_clocks, due_at, iso_utc


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def regimes() -> RegimeSet:
    return load_regimes(PROJECT_ROOT / "policies")


def dues(clocks: list[ClockDue]) -> dict[str, str | None]:
    return {c.id: iso_utc(c.due_at) if c.due_at else None for c in clocks}


# --- corrections -------------------------------------------------------------------------------------


def test_tco_appeal_is_court_action_and_scrutiny_not_a_complaint(regimes: RegimeSet) -> None:
    version = regimes.get("eu-tco").versions[0]
    assert version.appeal.route == "court" and version.appeal.confidence == "confirmed"
    assert "Art. 9" in (version.appeal.description or "") and "72 hours" in (version.appeal.description or "")
    assert version.notify_uploader  # Art. 11, confirmed
    assert not any("Art. 11" in note for note in regimes.get("eu-tco").unconfirmed)


def test_dsa_preservation_is_an_operator_choice(regimes: RegimeSet) -> None:
    preservation = regimes.get("eu-dsa-16").versions[0].preservation
    assert preservation is not None and preservation.kind == "internal"
    assert "Art. 20" in (preservation.note or "") and "no preservation" in (preservation.note or "")
    # TCO's six months stays a statutory duty (Art. 6).
    tco = regimes.get("eu-tco").versions[0].preservation
    assert tco is not None and tco.kind == "statutory"


def test_uk_report_needs_the_good_faith_declaration(regimes: RegimeSet) -> None:
    uk = regimes.get("uk-osa-intimate-image")
    assert "good_faith_declaration" in uk.versions[0].required_fields
    # Commencement still unconfirmed: applied from Royal Assent, 29 Apr 2026 (00:00 BST = 23:00Z on 28 Apr).
    assert any("Royal Assent" in note for note in uk.unconfirmed)
    clocks = compute_clocks(uk, at("2026-04-28T23:00:00Z"))
    assert dues(clocks) == {"removal": "2026-04-30T23:00:00Z"}


def test_north_carolina_non_eligible_request_starts_the_72_hour_review(regimes: RegimeSet) -> None:
    version = regimes.get("us-nc-66-507").versions[0]
    assert "requester_eligibility" not in version.required_fields
    assert version.appeal.route == "none" and version.appeal.confidence == "secondary"
    clocks = compute_clocks(regimes.get("us-nc-66-507"), at("2026-01-09T21:15:00Z"))
    assert dues(clocks) == {"removal": "2026-01-12T21:15:00Z", "records-review": "2026-01-12T21:15:00Z"}
    assert {c.id: c.step for c in clocks} == {"removal": "removal", "records-review": "decision"}


def test_utah_harbour_runs_from_actual_knowledge_even_before_the_notice_is_complete(
    regimes: RegimeSet,
) -> None:
    utah = regimes.get("us-ut-13-72b")
    # First receipt 10:00Z on 4 Mar 2027; the last required element arrives a day later.
    clocks = compute_clocks(utah, at("2027-03-04T10:00:00Z"), completed_at=at("2027-03-05T10:00:00Z"))
    assert dues(clocks) == {"removal": "2027-03-07T10:00:00Z", "removal-on-knowledge": "2027-03-06T10:00:00Z"}
    assert iso_utc(due_at(clocks)) == "2027-03-06T10:00:00Z"  # type: ignore[arg-type]


def test_india_ncii_scope_includes_near_duplicates_from_the_sop(regimes: RegimeSet) -> None:
    india = regimes.get("in-it-rules-3-2-b")
    assert india.version_at(at("2025-11-10T18:29:00Z")).removal_scope == ("item",)  # type: ignore[union-attr]
    for instant in ("2025-11-10T18:30:00Z", "2026-06-01T00:00:00Z"):
        scope = india.version_at(at(instant)).removal_scope  # type: ignore[union-attr]
        assert "substantially_similar" in scope


def test_take_it_down_cites_s_146(regimes: RegimeSet) -> None:
    titles = " ".join(s.title for s in regimes.get("us-take-it-down").sources)
    assert "S. 146" in titles and "Pub. L. 119-12" in titles


def test_verified_australian_and_dmca_clocks_are_confirmed(regimes: RegimeSet) -> None:
    assert regimes.get("au-osa-removal-notice").versions[0].confidence == "confirmed"
    dmca = regimes.get("us-dmca").versions[0]
    assert dmca.confidence == "confirmed" and dmca.clock("removal").confidence == "confirmed"
    assert not any("expeditiously" in note.lower() for note in regimes.get("us-dmca").unconfirmed)


# --- new regimes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("regime_id", "received", "expected"),
    [
        # 10:00 IST on 1 Mar 2026 (04:30Z): acknowledge by 04:30Z on 2 Mar; dispose by the end of
        # 8 Mar IST (7 days from the day after receipt) = 18:30Z on 8 Mar.
        (
            "in-it-rules-3-2-a-grievance",
            "2026-03-01T04:30:00Z",
            {"acknowledgement": "2026-03-02T04:30:00Z", "disposal": "2026-03-08T18:30:00Z"},
        ),
        # Before 20 Feb 2026: 15 days. 10:00 IST on 2 Feb -> end of 17 Feb IST.
        (
            "in-it-rules-3-2-a-grievance",
            "2026-02-02T04:30:00Z",
            {"acknowledgement": "2026-02-03T04:30:00Z", "disposal": "2026-02-17T18:30:00Z"},
        ),
        (
            "in-it-rules-3-2-a-removal",
            "2026-03-01T04:30:00Z",
            {
                "acknowledgement": "2026-03-02T04:30:00Z",
                "removal": "2026-03-02T16:30:00Z",
                "disposal": "2026-03-08T18:30:00Z",
            },
        ),
        (
            "in-it-rules-3-2-a-removal",
            "2026-02-02T04:30:00Z",
            {
                "acknowledgement": "2026-02-03T04:30:00Z",
                "removal": "2026-02-05T04:30:00Z",
                "disposal": "2026-02-17T18:30:00Z",
            },
        ),
        # Australia: 24 elapsed hours from the notice being given, across the AEDT -> AEST change
        # (03:00 AEDT on 5 Apr 2026).
        ("au-osa-class-1-removal", "2026-04-04T10:00:00Z", {"removal": "2026-04-05T10:00:00Z"}),
        ("au-osa-adult-cyber-abuse", "2026-04-04T10:00:00Z", {"removal": "2026-04-05T10:00:00Z"}),
        ("au-osa-child-cyber-bullying", "2026-04-04T10:00:00Z", {"removal": "2026-04-05T10:00:00Z"}),
        # Florida: 48 h from a valid (complete) request.
        ("us-fl-836-13", "2026-01-02T16:00:00Z", {"removal": "2026-01-04T16:00:00Z"}),
        # France: 24 h from the police cybercrime office's request.
        ("fr-lcen-sren", "2026-03-29T00:30:00Z", {"removal": "2026-03-30T00:30:00Z"}),
    ],
)
def test_new_regime_due_times(
    regimes: RegimeSet, regime_id: str, received: str, expected: dict[str, str]
) -> None:
    start = at(received)
    assert dues(compute_clocks(regimes.get(regime_id), start, completed_at=start)) == expected


def test_india_grievance_version_changes_at_ist_midnight(regimes: RegimeSet) -> None:
    grievance = regimes.get("in-it-rules-3-2-a-grievance")
    before = compute_clocks(grievance, at("2026-02-19T18:29:00Z"))
    after = compute_clocks(grievance, at("2026-02-19T18:30:00Z"))
    assert before[0].version == "2021" and after[0].version == "2026-02-20"
    assert {c.id: c.step for c in after} == {"acknowledgement": "acknowledgement", "disposal": "decision"}


def test_new_regimes_are_not_in_force_before_their_dates(regimes: RegimeSet) -> None:
    for regime_id, first in {
        "us-ca-sb-981": "2025-01-01T08:00:00Z",
        "us-fl-836-13": "2025-12-31T05:00:00Z",
        "au-osa-class-1-removal": "2022-01-22T13:00:00Z",
        "in-it-rules-3-2-a-removal": "2022-10-27T18:30:00Z",
    }.items():
        regime = regimes.get(regime_id)
        assert regime.version_at(at(first)) is not None, regime_id
        assert regime.version_at(at(first) - timedelta(minutes=1)) is None, regime_id


def test_california_steps_count_from_the_confirmation(regimes: RegimeSet) -> None:
    sb981 = regimes.get("us-ca-sb-981")
    received = at("2026-06-01T23:30:00Z")  # 16:30 PDT on 1 Jun
    waiting = {c.id: c for c in compute_clocks(sb981, received)}
    assert iso_utc(waiting["acknowledgement"].due_at) == "2026-06-03T23:30:00Z"  # type: ignore[arg-type]
    assert waiting["status-update"].due_at is None and "acknowledgement" in (
        waiting["status-update"].reason or ""
    )
    assert waiting["temporary-block"].due_at is None  # no figure: "while investigating"
    # Confirmed at 03:00 PDT on 2 Jun: status update by the end of 9 Jun PDT, decision by the end of 2 Jul.
    confirmed = compute_clocks(sb981, received, acknowledged_at=at("2026-06-02T10:00:00Z"))
    assert dues(confirmed) == {
        "acknowledgement": "2026-06-03T23:30:00Z",
        "status-update": "2026-06-10T07:00:00Z",
        "decision": "2026-07-03T07:00:00Z",
        "temporary-block": None,
    }
    assert {c.id: c.step for c in confirmed} == {
        "acknowledgement": "acknowledgement",
        "status-update": "status_update",
        "decision": "decision",
        "temporary-block": "removal",
    }
    with pytest.raises(InvalidClockInput):
        compute_clocks(sb981, received, acknowledged_at=at("2026-06-01T23:00:00Z"))


def test_every_new_regime_lists_what_is_unconfirmed(regimes: RegimeSet) -> None:
    for regime_id in (
        "in-it-rules-3-2-a-grievance",
        "in-it-rules-3-2-a-removal",
        "au-osa-class-1-removal",
        "au-osa-adult-cyber-abuse",
        "au-osa-child-cyber-bullying",
        "us-ca-sb-981",
        "us-fl-836-13",
        "fr-lcen-sren",
    ):
        regime = regimes.get(regime_id)
        assert regime.unconfirmed and regime.sources, regime_id
    france = regimes.get("fr-lcen-sren")
    assert france.versions[0].confidence == "secondary"
    assert {s.confidence for s in france.sources} == {"secondary"}
