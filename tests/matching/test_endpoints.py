"""POST /v1/match on a running app: matches with distances, codes for bad input, and the incremental
refresh (new entries match, disabled ones stop matching, within 5 s and without a rebuild)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.factories import flip, random_pdq

Auth = Callable[[str], dict[str, str]]


def _matches(client: TestClient, headers: dict[str, str], value: str) -> list[dict]:
    response = client.post("/v1/match", json={"hashes": [{"type": "pdq", "value": value}]}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["results"][0]["matches"]


def _wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


def test_new_entry_matches_and_disabled_entry_stops_within_5_seconds(
    app_client: TestClient, auth: Auth
) -> None:
    admin, checker = auth("admin"), auth("checker")
    app_client.post("/v1/banks", json={"name": "b"}, headers=admin)
    value = random_pdq(random.Random(1))
    query = flip(value, 5, random.Random(2))
    assert _matches(app_client, checker, query) == []
    index_before = app_client.app.state.readiness["match_index"]()  # type: ignore[attr-defined]
    entry = app_client.post(
        "/v1/banks/b/entries", json={"hashes": [{"type": "pdq", "value": value}]}, headers=admin
    ).json()[0]
    _wait_for(lambda: bool(_matches(app_client, checker, query)))
    match = _matches(app_client, checker, query)[0]
    assert match == {
        "bank": "b",
        "entry_id": entry["id"],
        "variant": "plain",
        "distance": 5,
        "threshold": 31,
        "action": "block",
        "suppressed_by": None,
    }
    app_client.post(f"/v1/banks/b/entries/{entry['id']}/disable", headers=admin)
    _wait_for(lambda: not _matches(app_client, checker, query))
    status = app_client.get("/readyz").json()["checks"]["match_index"]
    assert status["state"] == "ready" and status["change_seq"] > index_before["change_seq"]
    assert status["lag_seconds"] < 5


def test_match_groups_hashes_by_content_label(app_client: TestClient, auth: Auth) -> None:
    admin, checker = auth("admin"), auth("checker")
    app_client.post("/v1/banks", json={"name": "list"}, headers=admin)
    app_client.post("/v1/banks", json={"name": "ok", "action": "allow"}, headers=admin)
    pdq, md5 = random_pdq(random.Random(3)), "ab" * 16
    app_client.post("/v1/banks/list/entries", json={"hashes": [{"type": "md5", "value": md5}]}, headers=admin)
    app_client.post("/v1/banks/ok/entries", json={"hashes": [{"type": "pdq", "value": pdq}]}, headers=admin)
    body = {
        "hashes": [
            {"type": "pdq", "value": pdq, "content": "u1"},
            {"type": "md5", "value": md5, "content": "u1"},
        ]
    }

    def suppressed() -> bool:
        results = app_client.post("/v1/match", json=body, headers=checker).json()["results"]
        return bool(results[1]["matches"]) and results[1]["matches"][0]["suppressed_by"] == "ok"

    _wait_for(suppressed)
    alone = app_client.post(
        "/v1/match",
        json={"hashes": [{"type": "md5", "value": md5.upper()}, {"type": "pdq", "value": pdq}]},
        headers=checker,
    ).json()["results"]
    assert alone[0]["value"] == md5 and alone[0]["matches"][0]["suppressed_by"] is None
    assert alone[1]["matches"][0]["action"] == "allow"


def test_bad_requests_have_stable_codes(app_client: TestClient, auth: Auth) -> None:
    checker = auth("checker")
    response = app_client.post(
        "/v1/match", json={"hashes": [{"type": "pdq", "value": "nothex"}]}, headers=checker
    )
    assert (response.status_code, response.json()["code"]) == (422, "invalid_hash")
    response = app_client.post(
        "/v1/match", json={"hashes": [{"type": "crc32", "value": "00"}]}, headers=checker
    )
    assert (response.status_code, response.json()["code"]) == (422, "invalid_hash")
    response = app_client.post(
        "/v1/match", json={"hashes": [{"type": "pdq", "value": "0" * 64}] * 257}, headers=checker
    )
    assert (response.status_code, response.json()["code"]) == (413, "too_many_hashes")
    response = app_client.post("/v1/match", json={"hashes": []}, headers=checker)
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    response = app_client.post(
        "/v1/match", content=b"{", headers={**checker, "content-type": "application/json"}
    )
    assert response.status_code == 422
