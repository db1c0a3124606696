"""Done-when: actioning calls a loopback webhook with a valid signature, banks the content so a later
check of a copy is blocked, and the sweep finds copies registered earlier (real banks and checks)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from moderation.config import Settings
from moderation.kit.time import utc_now
from moderation.matching.service import matcher
from moderation.takedown import webhook
from moderation.takedown.tasks import deliver_webhooks
from tests.factories import encode, jpeg, near_duplicate, picture, post_check
from tests.takedown.conftest import COMPLETE_TID
from tests.takedown.receiver import webhook_receiver

Auth = Callable[[str], dict[str, str]]
SECRET = "done-when-webhook-secret-42"


def test_action_signs_webhook_banks_hashes_and_sweeps_copies(
    app_client: TestClient, auth: Auth, engine: Engine, settings: Settings
) -> None:
    checker, admin = auth("checker"), auth("admin")
    original = jpeg(41)
    # Edited so its PDQ lies well away from the original: a sweep searching a smaller radius misses it.
    near_copy, near_distance = near_duplicate(41, low=20, high=31)
    for data, content_id in ((original, "post-1"), (near_copy, "post-2"), (original, "post-3")):
        response = post_check(app_client, checker, data, {"content_id": content_id})
        assert response.status_code == 200 and response.json()["decision"] == "allow", response.text

    notice = app_client.post(
        "/v1/notices",
        json={
            "regimes": ["us-take-it-down"],
            "reporter": {"email": "person@example.org"},
            "content": {"content_ids": ["post-1"]},
            "fields": COMPLETE_TID,
        },
        headers=auth("intake"),
    ).json()
    url = f"/v1/notices/{notice['id']}"
    assert app_client.post(f"{url}/validate", headers=admin).status_code == 200
    actioned = app_client.post(f"{url}/action", json={"reason": "valid request"}, headers=admin)
    assert actioned.status_code == 200, actioned.text
    detail = actioned.json()

    copies = {c["content_id"]: c for c in detail["copies"]}
    assert copies["post-3"]["source"] == "identical_copy" and copies["post-3"]["state"] == "removed"
    # Different bytes (so not identical), same picture: PDQ within the threshold.
    assert copies["post-2"]["source"] == "near_duplicate" and copies["post-2"]["distance"] == near_distance
    assert copies["post-2"]["sha256"] != copies["post-3"]["sha256"]
    assert copies["post-2"]["state"] == "review"  # TAKE IT DOWN covers identical copies only
    assert detail["sweep"]["errors"] == [] and detail["sweep"]["stay_down_hashes_added"] > 0
    assert {d["scope"]: d["met"] for d in detail["duties"]} == {"item": True, "identical_copies": True}

    configured = settings.model_copy(update={"action_webhook_secret": SECRET})
    with webhook_receiver() as receiver:
        configured = configured.model_copy(update={"action_webhook_url": receiver.url})
        run = deliver_webhooks(engine, settings=configured)
    assert run.delivered == 2 and len(receiver.requests) == 2
    removed = set()
    for request in receiver.requests:
        assert webhook.verify_signature(
            SECRET, request.headers[webhook.SIGNATURE_HEADER], request.body, now=int(utc_now().timestamp())
        )
        removed.add(json.loads(request.body)["content"]["content_id"])
    assert removed == {"post-1", "post-3"}
    states = [d["state"] for d in app_client.get(url, headers=admin).json()["deliveries"]]
    assert states == ["delivered", "delivered"]

    matcher.refresh()
    reupload = encode(picture(41).resize((500, 375)), quality=60)
    later = post_check(app_client, checker, reupload, {"content_id": "post-4"}).json()
    assert later["decision"] == "block"
    assert any(r.get("bank") == "stay-down" for r in later["reasons"] if r["kind"] == "bank_match")


def test_uploaded_copy_alone_is_enough_for_stay_down(app_client: TestClient, auth: Auth) -> None:
    admin = auth("admin")
    upload = jpeg(43)
    notice = app_client.post(
        "/v1/notices",
        json={
            "regimes": ["us-take-it-down"],
            "reporter": {"email": "person@example.org"},
            "content": {"image_base64": base64.b64encode(upload).decode()},
            "fields": COMPLETE_TID,
        },
        headers=auth("intake"),
    ).json()
    url = f"/v1/notices/{notice['id']}"
    app_client.post(f"{url}/validate", headers=admin)
    detail = app_client.post(f"{url}/action", headers=admin).json()
    assert detail["state"] == "actioned" and detail["sweep"]["stay_down_hashes_added"] > 1  # image + variants
    matcher.refresh()
    rotated = encode(picture(43).rotate(90, expand=True), quality=80)
    later = post_check(app_client, auth("checker"), rotated).json()
    assert later["decision"] == "block"
