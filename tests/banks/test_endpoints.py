"""/v1/banks over HTTP: CRUD, entries by hash and by image, paging, disable/delete, import and export."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.factories import image_bytes, random_pdq

Auth = Callable[[str], dict[str, str]]


def test_bank_crud(app_client: TestClient, auth: Auth) -> None:
    admin = auth("admin")
    response = app_client.post(
        "/v1/banks", json={"name": "csam-list", "thresholds": {"pdq": 28}}, headers=admin
    )
    assert response.status_code == 201, response.text
    assert response.json()["thresholds"] == {"pdq": 28, "phash": 10, "dhash": 10}
    assert response.json()["entries"] == 0
    response = app_client.post("/v1/banks", json={"name": "csam-list"}, headers=admin)
    assert (response.status_code, response.json()["code"]) == (409, "bank_exists")
    response = app_client.post("/v1/banks", json={"name": "x", "action": "nuke"}, headers=admin)
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    response = app_client.patch(
        "/v1/banks/csam-list", json={"enabled": False, "action": "review"}, headers=admin
    )
    assert response.json()["enabled"] is False and response.json()["action"] == "review"
    assert [(b["name"], b["entries"]) for b in app_client.get("/v1/banks", headers=admin).json()] == [
        ("csam-list", 0)
    ]
    response = app_client.get("/v1/banks/csam-list", headers=admin)
    assert response.json()["entries"] == 0
    response = app_client.get("/v1/banks/none", headers=admin)
    assert (response.status_code, response.json()["code"]) == (404, "bank_not_found")
    audit = app_client.get("/v1/audit", params={"subject_type": "bank"}, headers=admin).json()
    actions = [e["action"] for e in (audit["items"] if isinstance(audit, dict) else audit)]
    assert "bank.create" in actions and "bank.update" in actions


def test_entries_by_hash_and_image_paging_disable_delete(app_client: TestClient, auth: Auth) -> None:
    admin = auth("admin")
    app_client.post("/v1/banks", json={"name": "b"}, headers=admin)
    rng = random.Random(1)
    values = [random_pdq(rng) for _ in range(7)]
    response = app_client.post(
        "/v1/banks/b/entries",
        json={"hashes": [{"type": "pdq", "value": v} for v in values], "note": "n", "metadata": {"a": 1}},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    assert [e["value"] for e in response.json()] == values
    response = app_client.post(
        "/v1/banks/b/entries", json={"hashes": [{"type": "pdq", "value": "12"}]}, headers=admin
    )
    assert (response.status_code, response.json()["code"]) == (422, "invalid_hash")

    response = app_client.post(
        "/v1/banks/b/entries/image",
        files={"file": ("x.jpg", image_bytes(2), "image/jpeg")},
        data={"note": "takedown 12", "metadata": json.dumps({"case": "c-1"})},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    image_entry = response.json()
    assert image_entry["hash_type"] == "pdq" and image_entry["metadata"]["case"] == "c-1"
    # The answer is the entry, its companion hashes and a count of variants, not every variant row.
    assert sorted(r["hash_type"] for r in image_entry["companions"]) == ["dhash", "md5", "phash", "sha256"]
    assert image_entry["variants"] > 10 and "rows" not in image_entry
    detail = app_client.get(f"/v1/banks/b/entries/{image_entry['id']}", headers=admin).json()
    assert len(detail["rows"]) == 4 + image_entry["variants"]
    response = app_client.post(
        "/v1/banks/b/entries/image", files={"file": ("x.jpg", b"GIF89a\x00", "image/gif")}, headers=admin
    )
    assert (response.status_code, response.json()["code"]) == (422, "corrupt_image")
    response = app_client.post(
        "/v1/banks/b/entries/image",
        files={"file": ("x.jpg", image_bytes(2), "image/jpeg")},
        data={"metadata": "[1]"},
        headers=admin,
    )
    assert (response.status_code, response.json()["code"]) == (422, "invalid_metadata")

    ids: list[int] = []
    after = None
    while True:
        params = {"limit": 3} | ({"after": after} if after else {})
        page = app_client.get("/v1/banks/b/entries", params=params, headers=admin).json()
        ids.extend(e["id"] for e in page["items"])
        after = page["next_after"]
        if after is None:
            break
    assert len(ids) == 8 == len(set(ids)) and ids == sorted(ids)
    found = app_client.get("/v1/banks/b/entries", params={"value": values[3]}, headers=admin).json()
    assert [e["value"] for e in found["items"]] == [values[3]]

    entry_id = ids[0]
    response = app_client.post(
        f"/v1/banks/b/entries/{entry_id}/disable", json={"until": "2031-01-01T00:00:00Z"}, headers=admin
    )
    assert response.json()["enabled"] is False and response.json()["disabled_until"].startswith("2031-01-01")
    response = app_client.post(f"/v1/banks/b/entries/{entry_id}/enable", headers=admin)
    assert response.json()["enabled"] is True
    response = app_client.get(f"/v1/banks/b/entries/{image_entry['id']}", headers=admin)
    assert len(response.json()["rows"]) == len(image_entry["companions"]) + image_entry["variants"]
    assert app_client.delete(f"/v1/banks/b/entries/{entry_id}", headers=admin).status_code == 204
    response = app_client.delete(f"/v1/banks/b/entries/{entry_id}", headers=admin)
    assert (response.status_code, response.json()["code"]) == (404, "bank_entry_not_found")


def test_import_upload_and_streaming_export(app_client: TestClient, auth: Auth) -> None:
    admin = auth("admin")
    app_client.post("/v1/banks", json={"name": "te"}, headers=admin)
    rng = random.Random(2)
    values = [random_pdq(rng) for _ in range(20)]
    body = "\n".join([*values[:10], "not-a-hash", *values[10:]]) + "\n"
    response = app_client.post(
        "/v1/banks/te/import",
        params={"strict": "true"},
        files={"file": ("te.txt", body.encode())},
        headers=admin,
    )
    assert (response.status_code, response.json()["code"]) == (422, "import_rejected")
    assert response.json()["details"]["bad_lines"][0]["line"] == 11
    assert app_client.get("/v1/banks/te", headers=admin).json()["entries"] == 0
    response = app_client.post(
        "/v1/banks/te/import", files={"file": ("te.txt", body.encode())}, headers=admin
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["imported"], result["skipped"], result["bad_lines"][0]["line"]) == (20, 1, 11)
    response = app_client.get("/v1/banks/te/export", params={"format": "pdq-hex"}, headers=admin)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert response.text.split() == values
    response = app_client.get("/v1/banks/te/export", params={"format": "csv"}, headers=admin)
    assert (
        response.text.splitlines()[0] == "hash_type,value,metadata" and len(response.text.splitlines()) == 21
    )
    response = app_client.get("/v1/banks/te/export", params={"format": "xml"}, headers=admin)
    assert response.status_code == 422
    response = app_client.get("/v1/banks/missing/export", headers=admin)
    assert (response.status_code, response.json()["code"]) == (404, "bank_not_found")
