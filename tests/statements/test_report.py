"""The transparency report for a seeded period matches counts the test computes from what it did:
restrictions by kind, category, ground, source, automation and territory, reversals, notices by regime
with the median time to action; records outside the period are left out; every figure names its
records. Driven through the API with a frozen clock, and read back through the CLI (CSV and JSON)."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from moderation.cli import app as cli
from moderation.kit.time import set_clock
from tests.checks.conftest import FakeClassifier, with_classifier
from tests.factories import jpeg
from tests.statements.conftest import Auth, bank_image, check

EU_EEA = 30


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def _notice(client: TestClient, auth: Auth, regimes: list[str], content_id: str, **extra: Any) -> int:
    fields = {
        "reason": "harassment",
        "signature": "/s/ R",
        "explanation": "illegal",
        "good_faith_statement": True,
        "copyrighted_work": "my photo",
        "infringing_material": "the copy",
        "good_faith": True,
        "accuracy": True,
        "authority": True,
    }
    body = {
        "regimes": regimes,
        "reporter": {"name": "R", "email": "r@example.org", "address": "1 Street", "phone": "1"},
        "fields": fields,
        "content": {"content_ids": [content_id]},
        **extra,
    }
    response = client.post("/v1/notices", json=body, headers=auth("intake"))
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _action(client: TestClient, auth: Auth, notice_id: int) -> None:
    admin = auth("admin")
    url = f"/v1/notices/{notice_id}"
    assert client.post(f"{url}/validate", headers=admin).status_code == 200
    assert client.post(f"{url}/action", json={"reason": "x"}, headers=admin).status_code == 200


def _seed(client: TestClient, auth: Auth, engine: Engine) -> dict[str, Any]:
    """Restrictions and notices before, inside (Nov 2-5) and after the period; returns what the test
    expects the report to count, from the statements the API returned."""
    bank_image(engine, "known-bad", jpeg(91))
    bank_image(engine, "ncmec", jpeg(92))
    inside: list[dict[str, Any]] = []

    set_clock(at(1))
    check(client, auth, jpeg(91), content_id="before")
    _notice(client, auth, ["terms-of-service"], "before")

    set_clock(at(2, 9))
    for i in range(3):
        inside.append(check(client, auth, jpeg(91), content_id=f"in-{i}")["statement"])
    inside.append(check(client, auth, jpeg(92), content_id="in-minor")["statement"])

    set_clock(at(3, 8))
    with_classifier(client, FakeClassifier({"violence_gore": 0.6}))
    held = check(client, auth, jpeg(93), content_id="in-held")
    inside.append(held["statement"])
    with_classifier(client, None)
    check(client, auth, jpeg(94), content_id="in-reported")  # allowed, registered
    tos = _notice(client, auth, ["terms-of-service"], "in-reported")
    set_clock(at(3, 14))  # actioned 6 hours after receipt
    _action(client, auth, tos)
    assert (
        client.post(
            f"/v1/review/{held['review_item_id']}/verdict", headers=auth("admin"), json={"verdict": "allow"}
        ).status_code
        == 200
    )

    set_clock(at(4, 10))
    check(client, auth, jpeg(95), content_id="in-dsa")
    dsa = _notice(client, auth, ["eu-dsa-16", "terms-of-service"], "in-dsa")
    _notice(client, auth, ["us-dmca"], "in-dmca")  # never actioned: no time to action
    set_clock(at(5, 10))  # actioned 24 hours after receipt
    _action(client, auth, dsa)

    set_clock(at(6))
    check(client, auth, jpeg(91), content_id="after")
    _notice(client, auth, ["terms-of-service"], "after")

    reader = auth("checker")
    for content_id in ("in-reported", "in-dsa", "in-held"):
        for shown in client.get(f"/v1/statements?content_id={content_id}", headers=reader).json()["items"]:
            if shown["id"] not in {s["id"] for s in inside}:
                inside.append(shown)
    return {
        "statements": inside,
        "notices": {"terms-of-service": [tos, dsa], "eu-dsa-16": [dsa], "us-dmca": []},
    }


def _expected(statements: list[dict[str, Any]]) -> dict[str, dict[str, list[int]]]:
    by: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for s in statements:
        body = s["statement"]
        if s["kind"] == "reversal":
            by["reversals"]["reversal"].append(s["id"])
            continue
        by["restrictions_by_kind"][s["kind"]].append(s["id"])
        by["restrictions_by_category"][body["category"]].append(s["id"])
        by["restrictions_by_ground"][body["decision_ground"]].append(s["id"])
        by["restrictions_by_source"][body["source_type"]].append(s["id"])
        by["restrictions_by_automated_detection"][body["automated_detection"]].append(s["id"])
        by["restrictions_by_automated_decision"][body["automated_decision"]].append(s["id"])
        for country in body["territorial_scope"]:
            by["restrictions_by_territory"][country].append(s["id"])
    return by


def test_the_report_matches_independent_counts(app_client: TestClient, auth: Auth, engine: Engine) -> None:
    seeded = _seed(app_client, auth, engine)
    statements = seeded["statements"]
    kinds = Counter(s["kind"] for s in statements)
    assert kinds == {"check_block": 4, "review_hold": 1, "notice_removal": 2, "reversal": 1}

    outcome = CliRunner().invoke(
        cli, ["report", "transparency", "--from", "2026-11-02", "--to", "2026-11-05", "--format", "json"]
    )
    assert outcome.exit_code == 0, outcome.output
    report = json.loads(outcome.output)
    assert report["restrictions"] == 7
    expected = _expected(statements)
    sections = {s["name"]: s for s in report["sections"]}
    for name, groups in expected.items():
        rows = {r["key"]: r for r in sections[name]["rows"]}
        assert set(rows) == set(groups), name
        for key, ids in groups.items():
            assert rows[key]["count"] == len(ids) and sorted(rows[key]["records"]) == sorted(ids), (name, key)
    assert len(sections["restrictions_by_territory"]["rows"]) == EU_EEA
    assert {r["key"]: r["count"] for r in sections["restrictions_by_category"]["rows"]} == {
        "STATEMENT_CATEGORY_OTHER_VIOLATION_TC": 4,  # three bank blocks, the terms-of-service removal
        "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE": 1,  # the DSA notice (its first regime)
        "STATEMENT_CATEGORY_PROTECTION_OF_MINORS": 1,
        "STATEMENT_CATEGORY_VIOLENCE": 1,
    }

    notices = {r["key"]: r for r in sections["notices_by_regime"]["rows"]}
    assert {k: r["count"] for k, r in notices.items()} == {
        "terms-of-service": 2,
        "eu-dsa-16": 1,
        "us-dmca": 1,
    }
    assert notices["terms-of-service"]["median_hours_to_action"] == 15.0  # median of 6 h and 24 h
    assert notices["eu-dsa-16"]["median_hours_to_action"] == 24.0
    assert notices["us-dmca"]["median_hours_to_action"] is None
    assert sorted(notices["terms-of-service"]["records"]) == sorted(seeded["notices"]["terms-of-service"])

    as_csv = CliRunner().invoke(cli, ["report", "transparency", "--from", "2026-11-02", "--to", "2026-11-05"])
    assert as_csv.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))
    by_key = {(r["section"], r["key"]): r for r in rows}
    assert by_key[("restrictions", "total")]["count"] == "7"
    minors = by_key[("restrictions_by_category", "STATEMENT_CATEGORY_PROTECTION_OF_MINORS")]
    assert minors["record_ids"] == " ".join(
        map(str, expected["restrictions_by_category"]["STATEMENT_CATEGORY_PROTECTION_OF_MINORS"])
    )

    # Nov 2 alone: the four blocks of that day.
    one_day = json.loads(
        CliRunner()
        .invoke(
            cli, ["report", "transparency", "--from", "2026-11-02", "--to", "2026-11-02", "--format", "json"]
        )
        .output
    )
    assert one_day["restrictions"] == 4


def test_bad_periods_are_refused(settings: object) -> None:
    runner = CliRunner()
    reversed_ = runner.invoke(cli, ["report", "transparency", "--from", "2026-11-05", "--to", "2026-11-01"])
    assert reversed_.exit_code == 2 and "invalid_period" in reversed_.output
    malformed = runner.invoke(cli, ["report", "transparency", "--from", "2026-11-31", "--to", "2026-12-01"])
    assert malformed.exit_code == 2
    fmt = runner.invoke(
        cli, ["report", "transparency", "--from", "2026-11-01", "--to", "2026-11-02", "--format", "xml"]
    )
    assert fmt.exit_code == 2
