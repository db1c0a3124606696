"""Appeal window, decision clock and redress wording per regime: the DSA's six months (Art. 20), India's
grievance timelines (15 days, 7 from 20 Feb 2026), the policy defaults where a regime is silent (and
for check blocks, which have no regime); broken values fail at load naming the file and field."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from moderation.app import create_app
from moderation.config import PROJECT_ROOT, Settings, get_settings
from moderation.exceptions import PolicyError
from moderation.kit.time import set_clock
from moderation.policy.regimes import RegimeSet, load_regimes
from moderation.takedown.appeal_terms import appeal_terms, versions_for_appeal
from tests.factories import bank_image, jpeg, post_check

Auth = Callable[[str], dict[str, str]]
POLICIES = PROJECT_ROOT / "policies"
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
DSA_FIELDS = {
    "explanation": "defamatory",
    "content_location": "https://example.org/p/1",
    "notifier_name": "N. Otifier",
    "notifier_email": "n@example.org",
    "good_faith_statement": True,
}


@pytest.fixture(scope="module")
def regimes() -> RegimeSet:
    return load_regimes(POLICIES)


def _terms(regimes: RegimeSet, ids: list[str], decided: datetime, filed: datetime) -> Any:
    notice_regimes = [{"id": i, "version": regimes.get(i).version_at(decided).version} for i in ids]  # type: ignore[union-attr]
    return appeal_terms(
        versions_for_appeal(notice_regimes, regimes, filed),
        decided_at=decided,
        filed_at=filed,
        default_window_days=30,
        default_decision_days=14,
    )


def test_dsa_window_is_six_calendar_months_to_the_end_of_the_day_in_brussels(regimes: RegimeSet) -> None:
    terms = _terms(regimes, ["eu-dsa-16"], T0, T0 + timedelta(days=1))
    # 2 Sep 2026 ends at 22:00 UTC (CEST); the policy default (30 days) would close on 1 Apr.
    assert terms.window_closes_at == datetime(2026, 9, 2, 22, 0, tzinfo=UTC)
    assert terms.window_source == "eu-dsa-16@2024-02-17" and terms.window == "6 months"
    # Art. 20 sets no length for deciding: the default clock, with the law's words quoted.
    assert terms.due_at == T0 + timedelta(days=15) and terms.decision_source == "policy default"
    assert "without undue delay" in terms.decision
    assert any("Art. 21" in line for line in terms.redress)
    assert any("Art. 20" in line for line in terms.redress)


def test_india_grievance_clock_is_fifteen_days_then_seven_from_20_february_2026(regimes: RegimeSet) -> None:
    before = datetime(2026, 2, 10, 6, 0, tzinfo=UTC)  # 11:30 IST on 10 Feb
    old = _terms(regimes, ["in-it-rules-3-2-a-grievance"], before, before)
    assert old.due_at == datetime(2026, 2, 25, 18, 30, tzinfo=UTC)  # end of 25 Feb IST
    assert old.decision == "15 calendar days" and old.decision_source == "in-it-rules-3-2-a-grievance@2021"
    assert old.acknowledge_by == before + timedelta(hours=24)
    # A complaint filed on 20 Feb 2026 IST is under the amended rules, even about an older notice.
    filed = datetime(2026, 2, 19, 19, 0, tzinfo=UTC)  # 00:30 IST on 20 Feb
    new = _terms(regimes, ["in-it-rules-3-2-a-grievance"], before, filed)
    assert new.due_at == datetime(2026, 2, 27, 18, 30, tzinfo=UTC)  # end of 27 Feb IST
    assert new.decision_source == "in-it-rules-3-2-a-grievance@2026-02-20"
    assert new.window_source == "policy default" and new.window_closes_at == before + timedelta(days=30)
    assert any("Grievance Appellate Committee" in line for line in new.redress)


def test_several_regimes_give_the_longest_window_and_the_earliest_due_time(regimes: RegimeSet) -> None:
    filed = T0 + timedelta(days=1)
    both = _terms(regimes, ["terms-of-service", "in-it-rules-3-2-b", "eu-dsa-16"], T0, filed)
    assert both.window_source.startswith("eu-dsa-16@")
    assert both.decision_source == "in-it-rules-3-2-b@2026-02-20"
    assert both.due_at < filed + timedelta(days=14)
    silent = _terms(regimes, ["terms-of-service"], T0, filed)
    assert silent.window_closes_at == T0 + timedelta(days=30) and silent.due_at == filed + timedelta(days=14)
    assert silent.redress == ()


# --- through the API ---------------------------------------------------------------------------


@pytest.fixture
def client(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A 30-day default window, so a regime's own six months is visible."""
    monkeypatch.setenv("MODERATION_APPEAL_WINDOW_DAYS", "30")
    get_settings.cache_clear()
    with TestClient(create_app(get_settings()), raise_server_exceptions=False) as test_client:
        yield test_client


def _rejected(client: TestClient, submitter: dict[str, str], admin: dict[str, str], **body: Any) -> int:
    created = client.post(
        "/v1/notices",
        json={"reporter": {"email": "r@example.org"}, "content": {"content_ids": ["c-1"]}, **body},
        headers=submitter,
    )
    assert created.status_code == 201, created.text
    notice_id = int(created.json()["id"])
    rejected = client.post(f"/v1/notices/{notice_id}/reject", json={"reason": "lawful"}, headers=admin)
    assert rejected.status_code == 200, rejected.text
    return notice_id


def _appeal(client: TestClient, submitter: dict[str, str], notice_id: int) -> Any:
    return client.post(
        "/v1/appeals",
        json={
            "subject": {"type": "notice", "id": notice_id},
            "appellant": {"role": "reporter"},
            "statement": "it is illegal",
        },
        headers=submitter,
    )


def test_an_appeals_window_and_due_time_come_from_the_notices_regime(client: TestClient, auth: Auth) -> None:
    set_clock(T0)
    submitter, admin = auth("intake"), auth("admin")
    dsa = _rejected(client, submitter, admin, regimes=["eu-dsa-16"], fields=DSA_FIELDS)
    tos = _rejected(
        client, submitter, admin, regimes=["terms-of-service"], fields={"reason": "spam", "signature": "s"}
    )
    india = _rejected(
        client,
        submitter,
        admin,
        regimes=["in-it-rules-3-2-a-grievance"],
        fields={"content_location": "https://example.org/p/2", "reason": "defamation"},
    )

    set_clock(T0 + timedelta(days=1))  # 2026-03-03 15:30 IST
    grievance = _appeal(client, submitter, india)
    assert grievance.status_code == 201, grievance.text
    assert grievance.json()["due_at"] == "2026-03-10T18:30:00Z"  # end of the 7th day in IST

    set_clock(T0 + timedelta(days=100))
    late = _appeal(client, submitter, tos)
    assert late.status_code == 409 and late.json()["code"] == "appeal_window_closed"
    assert late.json()["details"]["window_source"] == "policy default"

    set_clock(datetime(2026, 9, 2, 22, 1, tzinfo=UTC))
    closed = _appeal(client, submitter, dsa)
    assert closed.status_code == 409 and closed.json()["code"] == "appeal_window_closed"
    assert closed.json()["details"]["window_source"] == "eu-dsa-16@2024-02-17"
    set_clock(datetime(2026, 9, 2, 21, 59, tzinfo=UTC))
    within = _appeal(client, submitter, dsa)
    assert within.status_code == 201, within.text
    filed = datetime(2026, 9, 2, 21, 59, tzinfo=UTC)
    assert within.json()["due_at"] == (filed + timedelta(days=14)).isoformat().replace("+00:00", "Z")


def test_a_check_block_has_no_regime_and_takes_the_policy_default(
    client: TestClient, auth: Auth, engine: Any
) -> None:
    set_clock(T0)
    bank_image(engine, "known-bad", jpeg(91))
    checker = auth("checker")
    blocked = post_check(client, checker, jpeg(91)).json()
    assert blocked["decision"] == "block"
    set_clock(T0 + timedelta(days=31))
    late = client.post(
        "/v1/appeals",
        json={
            "subject": {"type": "check", "id": blocked["check_id"]},
            "appellant": {"role": "uploader"},
            "statement": "mine",
        },
        headers=checker,
    )
    assert late.status_code == 409 and late.json()["code"] == "appeal_window_closed"
    assert late.json()["details"]["window_source"] == "policy default"


# --- validated at load ---------------------------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value

    return edit


CASES = [
    (
        "eu-dsa-16",
        _set("versions.0.appeal.window.unit", "weeks"),
        "versions[0].appeal.window.unit: must be one of",
    ),
    (
        "eu-dsa-16",
        _set("versions.0.appeal.window.length", 0),
        "versions[0].appeal.window.length: must be > 0",
    ),
    (
        "eu-dsa-16",
        _set("versions.0.appeal.decision.wording", None),
        "versions[0].appeal.decision.wording: required when length is null",
    ),
    (
        "eu-dsa-16",
        _set("versions.0.appeal.redress", ["  "]),
        "versions[0].appeal.redress[0]: must not be empty",
    ),
    ("eu-dsa-16", _set("versions.0.appeal.deadline", 3), "versions[0].appeal.deadline: unknown field"),
    (
        "in-it-rules-3-2-a-grievance",
        _set("versions.1.appeal.decision.unit", None),
        "versions[1].appeal.decision.unit: required when length is set",
    ),
    (
        "in-it-rules-3-2-a-grievance",
        _set("versions.1.appeal.decision.length", 7.5),
        "versions[1].appeal.decision.length: must be a whole number",
    ),
    (
        "in-it-rules-3-2-a-grievance",
        _set("versions.1.appeal.decision.unit", "business_days"),
        "versions[1].appeal.decision.calendar: required for business_days",
    ),
    (
        "in-it-rules-3-2-a-grievance",
        _set("versions.1.appeal.decision.length", -7),
        "versions[1].appeal.decision.length: must be > 0",
    ),
    (
        "in-it-rules-3-2-a-grievance",
        _set("versions.1.appeal.decision.length", 0.5),
        "versions[1].appeal.decision.length: must be a whole number",
    ),
    (
        "in-it-rules-3-2-a-grievance",
        _set("versions.1.appeal.decision", {"length": 12, "unit": "hours", "confidence": "secondary"}),
        "versions[1].appeal.acknowledgement: must not be longer than the decision clock",
    ),
    (
        "us-take-it-down",
        _set("versions.0.appeal.window", {"length": 6, "unit": "months", "confidence": "confirmed"}),
        "versions[0].appeal.window: a regime with route 'none' has no complaint procedure",
    ),
]


@pytest.mark.parametrize(("regime_id", "edit", "expected"), CASES)
def test_bad_appeal_terms_fail_at_load_naming_the_file_and_field(
    tmp_path: Path, regime_id: str, edit: Callable[[dict[str, Any]], Any], expected: str
) -> None:
    target = tmp_path / "policies" / "regimes"
    shutil.copytree(POLICIES / "regimes", target)
    path = target / f"{regime_id}.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(PolicyError) as caught:
        load_regimes(tmp_path / "policies")
    assert str(caught.value).startswith(f"policies/regimes/{regime_id}.yaml: "), caught.value
    assert expected in str(caught.value), caught.value
