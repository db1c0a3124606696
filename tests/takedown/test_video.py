"""Takedown of a video (real banks, checks and registry): the notice carries the video, actioning banks its
MD5 and frame hashes in the stay-down bank, the sweep finds registered videos containing it or a clip of
it and images that are frames of it, and a later re-encoded upload is blocked."""

from __future__ import annotations

import base64
from collections.abc import Callable

from fastapi.testclient import TestClient
from PIL import Image

from moderation.matching.service import matcher
from tests.factories import encode, post_check
from tests.hashing.video_factories import clip, concat, cut, frame_at
from tests.takedown.conftest import COMPLETE_TID

Auth = Callable[[str], dict[str, str]]


def _register(client: TestClient, headers: dict[str, str], data: bytes, content_id: str) -> None:
    response = post_check(
        client,
        headers,
        data,
        {"content_id": content_id},
        filename="x",
        content_type="application/octet-stream",
    )
    assert response.status_code == 200, response.text


def test_a_removed_video_is_banked_and_its_copies_swept(app_client: TestClient, auth: Auth) -> None:
    checker, admin = auth("checker"), auth("admin")
    removed = clip(seed=51, seconds=8.0)
    _register(app_client, checker, concat(clip(seed=52, seconds=2.0), removed), "longer-video")
    _register(app_client, checker, cut(removed, 2.0, 6.0), "clip-of-it")
    _register(app_client, checker, encode(Image.fromarray(frame_at(removed, 3.0)), "PNG"), "a-frame")
    _register(app_client, checker, clip(seed=53, seconds=8.0), "unrelated-video")
    _register(
        app_client, checker, encode(Image.fromarray(frame_at(clip(seed=54), 1.0)), "PNG"), "unrelated-image"
    )

    notice = app_client.post(
        "/v1/notices",
        json={
            "regimes": ["us-take-it-down"],
            "reporter": {"email": "person@example.org"},
            "content": {"image_base64": base64.b64encode(removed).decode()},
            "fields": COMPLETE_TID,
        },
        headers=auth("intake"),
    )
    assert notice.status_code == 201, notice.text
    url = f"/v1/notices/{notice.json()['id']}"
    [evidence] = app_client.get(url, headers=admin).json()["evidence"]
    assert evidence["hashes"]["media_type"] == "video" and len(evidence["hashes"]["video_frames"]) == 8
    assert app_client.post(f"{url}/validate", headers=admin).status_code == 200
    actioned = app_client.post(f"{url}/action", json={"reason": "valid request"}, headers=admin)
    assert actioned.status_code == 200, actioned.text
    detail = actioned.json()

    copies = {c["content_id"]: c for c in detail["copies"]}
    assert set(copies) == {"longer-video", "clip-of-it", "a-frame"}
    assert all(c["source"] == "near_duplicate" and c["distance"] <= 31 for c in copies.values())
    # SHA-256 + MD5 + one PDQ row per frame and two per frame for its robust variants.
    assert detail["sweep"]["stay_down_hashes_added"] == 1 + 1 + 8 * 3

    entry = app_client.get("/v1/banks/stay-down/entries", headers=admin).json()["items"][0]
    frames = app_client.get(f"/v1/banks/stay-down/entries/{entry['id']}/frames", headers=admin)
    assert len(frames.text.splitlines()) == 8

    matcher.refresh()
    reupload = clip(seed=51, seconds=8.0, codec="vp9")
    later = post_check(app_client, checker, reupload, filename="x", content_type="video/webm").json()
    assert later["decision"] == "block"
    (reason,) = [r for r in later["reasons"] if r["kind"] == "bank_match"]
    assert (reason["bank"], reason["variant"], reason["query_match_pct"]) == ("stay-down", "video", 100.0)
    same_file = post_check(app_client, checker, removed, filename="x", content_type="video/mp4").json()
    assert same_file["decision"] == "block"
