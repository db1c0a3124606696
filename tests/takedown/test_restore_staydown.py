"""Restore lifts stay-down: the bank entries a notice added are disabled (audited), so a restored item
can be uploaded again; child-safety content is never restored (real banks, matcher and check API)."""

from __future__ import annotations

import base64
from collections.abc import Callable

from fastapi.testclient import TestClient

from moderation.matching.service import matcher
from tests.factories import encode, jpeg, picture, post_check

Auth = Callable[[str], dict[str, str]]
TOS_FIELDS = {"reason": "harassment", "signature": "/s/ A. Person"}


def _actioned_notice(client: TestClient, auth: Auth, **body: object) -> str:
    notice = client.post(
        "/v1/notices",
        json={
            "regimes": ["terms-of-service"],
            "reporter": {"email": "person@example.org"},
            "fields": TOS_FIELDS,
            **body,
        },
        headers=auth("intake"),
    )
    assert notice.status_code == 201, notice.text
    url = f"/v1/notices/{notice.json()['id']}"
    admin = auth("admin")
    assert client.post(f"{url}/validate", headers=admin).status_code == 200
    actioned = client.post(f"{url}/action", json={"reason": "breaks the rules"}, headers=admin)
    assert actioned.status_code == 200, actioned.text
    return url


def _decision(client: TestClient, auth: Auth, data: bytes) -> tuple[str, list[str]]:
    matcher.refresh()
    body = post_check(client, auth("checker"), data).json()
    banks = [r.get("bank") for r in body["reasons"] if r["kind"] == "bank_match"]
    return body["decision"], banks


def test_restore_disables_the_notices_stay_down_entries(app_client: TestClient, auth: Auth) -> None:
    admin = auth("admin")
    registered = post_check(app_client, auth("checker"), jpeg(51), {"content_id": "post-51"})
    assert registered.json()["decision"] == "allow"
    # One item from the registry (bare hashes), one uploaded copy (image entry with variants).
    url = _actioned_notice(
        app_client,
        auth,
        content={"content_ids": ["post-51"], "image_base64": base64.b64encode(jpeg(52)).decode()},
    )
    copy_51 = encode(picture(51).resize((520, 390)), quality=70)
    copy_52 = encode(picture(52).rotate(90, expand=True), quality=80)
    assert _decision(app_client, auth, copy_51) == ("block", ["stay-down"])
    assert _decision(app_client, auth, copy_52) == ("block", ["stay-down"])

    assert app_client.post(f"{url}/appeal", headers=admin).status_code == 200
    restored = app_client.post(f"{url}/restore", json={"reason": "appeal upheld"}, headers=admin)
    assert restored.status_code == 200, restored.text
    detail = restored.json()
    assert {c["state"] for c in detail["content"]} == {"restored"}

    # The stay-down entries no longer match; the overturned appeal's allow-list entry may (redress).
    for copy in (copy_51, copy_52):
        decision, matched = _decision(app_client, auth, copy)
        assert decision == "allow" and set(matched) <= {"appeal-allow"}

    [event] = [e for e in detail["timeline"] if e["action"] == "notice.stay_down_disabled"]
    disabled = event["details"]["bank_entry_ids"]
    assert len(disabled) == 4 and event["details"]["notice_id"] == detail["id"]  # sha256, md5, pdq + image
    entries = app_client.get("/v1/banks/stay-down/entries?limit=100", headers=admin).json()["items"]
    by_id = {e["id"]: e for e in entries}
    assert all(by_id[i]["disabled_until"] is not None for i in disabled)
    audit = app_client.get("/v1/audit?action=bank.entry_disable&limit=50", headers=admin).json()
    assert {int(e["subject_id"]) for e in audit["items"]} >= set(disabled)


def test_restore_leaves_other_notices_entries_blocking(app_client: TestClient, auth: Auth) -> None:
    admin = auth("admin")
    upload = base64.b64encode(jpeg(53)).decode()
    first = _actioned_notice(app_client, auth, content={"image_base64": upload})
    _actioned_notice(app_client, auth, content={"image_base64": upload}, client_reference="second")
    app_client.post(f"{first}/appeal", headers=admin)
    assert app_client.post(f"{first}/restore", json={"reason": "ok"}, headers=admin).status_code == 200
    assert _decision(app_client, auth, jpeg(53, quality=75))[0] == "block"


def test_child_safety_content_is_never_restored_nor_unblocked(app_client: TestClient, auth: Auth) -> None:
    admin = auth("admin")
    url = _actioned_notice(
        app_client, auth, content={"image_base64": base64.b64encode(jpeg(54)).decode()}, child_safety=True
    )
    app_client.post(f"{url}/appeal", headers=admin)
    refused = app_client.post(f"{url}/restore", json={"reason": "appeal"}, headers=admin)
    assert refused.status_code == 409 and refused.json()["code"] == "restore_forbidden_child_safety"
    assert _decision(app_client, auth, jpeg(54, quality=70))[0] == "block"
