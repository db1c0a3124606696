"""A notice that names registered content by id banks only exact hashes; attaching the image (even after
removal) banks its robust variants, so an edited re-upload is blocked too. The notice says which."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from moderation.matching.service import matcher
from tests.factories import encode, jpeg, picture, post_check
from tests.takedown.conftest import COMPLETE_TID

Auth = Callable[[str], dict[str, str]]


def _crop(seed: int, fraction: float, quality: int) -> bytes:
    """The picture with `fraction` of its width and height cut from the top-left corner, re-encoded."""
    image = picture(seed)
    width, height = image.size
    return encode(image.crop((int(width * fraction), int(height * fraction), width, height)), quality=quality)


def test_attaching_the_image_extends_stay_down_to_edited_copies(app_client: TestClient, auth: Auth) -> None:
    checker, intake, admin = auth("checker"), auth("intake"), auth("admin")
    original = jpeg(71)
    assert post_check(app_client, checker, original, {"content_id": "post-71"}).json()["decision"] == "allow"
    created = app_client.post(
        "/v1/notices",
        json={
            "regimes": ["us-take-it-down"],
            "reporter": {"email": "person@example.org"},
            "content": {"content_ids": ["post-71"]},
            "fields": COMPLETE_TID,
        },
        headers=intake,
    ).json()
    url = f"/v1/notices/{created['id']}"
    [item] = created["content"]  # the receipt lists the reported items with their ids
    assert item["stay_down"] == {"covers": "pending", "entries": 0}
    other = app_client.post(
        f"{url}/content/{item['id']}/image",
        files={"file": ("x.jpg", original, "image/jpeg")},
        headers=auth("intake"),
    )
    assert other.status_code == 404  # another partner's key cannot reach this notice
    app_client.post(f"{url}/validate", headers=admin)
    actioned = app_client.post(f"{url}/action", headers=admin).json()
    [item] = actioned["content"]
    assert item["stay_down"]["covers"] == "hashes" and item["stay_down"]["entries"] >= 1

    # Exact hashes only: the same bytes are blocked, a 4% corner crop is not.
    matcher.refresh()  # what the index's background refresh does within seconds
    assert post_check(app_client, checker, original, {"content_id": "again"}).json()["decision"] == "block"
    crop = post_check(app_client, checker, _crop(71, 0.04, 88), {"content_id": "crop-1"}).json()
    assert crop["decision"] == "allow"

    refused = app_client.post(
        f"{url}/content/{item['id']}/image", files={"file": ("x.jpg", jpeg(72), "image/jpeg")}, headers=intake
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "image_mismatch")
    missing = app_client.post(
        f"{url}/content/999999/image", files={"file": ("x.jpg", original, "image/jpeg")}, headers=intake
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "notice_content_not_found")
    corrupt = app_client.post(
        f"{url}/content/{item['id']}/image",
        files={"file": ("x.jpg", b"\xff\xd8junk", "image/jpeg")},
        headers=intake,
    )
    assert corrupt.status_code in (415, 422) and corrupt.json()["code"]  # refused by the image intake

    attached = app_client.post(
        f"{url}/content/{item['id']}/image", files={"file": ("x.jpg", original, "image/jpeg")}, headers=intake
    )
    assert attached.status_code == 200, attached.text
    # The platform gets its receipt (no reporter details), with what the stay-down now covers.
    receipt = attached.json()
    assert "reporter" not in receipt and "timeline" not in receipt
    [item] = receipt["content"]
    assert item["stay_down"]["covers"] == "image"
    entries = item["stay_down"]["entries"]
    app_client.post(
        f"{url}/content/{item['id']}/image", files={"file": ("x.jpg", original, "image/jpeg")}, headers=intake
    )
    again = app_client.get(url, headers=admin).json()
    assert again["content"][0]["stay_down"]["entries"] == entries  # attaching twice changes nothing
    events = [e for e in again["timeline"] if e["action"] == "notice.image_attached"]
    assert len(events) == 1 and events[0]["actor"].startswith("apikey:")
    assert any(e["details"]["kind"] == "attached" and e["encrypted_bytes"] for e in again["evidence"])

    # Now an edited copy (another crop, another encoding) is stopped by the stay-down bank.
    matcher.refresh()
    crop = post_check(app_client, checker, _crop(71, 0.04, 80), {"content_id": "crop-2"}).json()
    assert crop["decision"] == "block"
    assert any(r.get("bank") == "stay-down" for r in crop["reasons"])
