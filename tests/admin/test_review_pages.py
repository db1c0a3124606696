"""The review queue and content pages over HTTP: risk order, verdicts, bulk, shielded images and the
audited reveal."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.checks.service import checks
from tests.admin.conftest import form_token, generated_png
from tests.hashing.video_factories import clip


def test_queue_lists_pending_items_with_links(
    signed_in: Callable[[str], TestClient], make_review_item: Callable[..., int]
) -> None:
    first, second = make_review_item(1), make_review_item(2)
    page = signed_in("reviewer").get("/admin/review")
    assert page.status_code == 200
    assert f'data-check="{first}"' in page.text and f'data-check="{second}"' in page.text
    assert "classifier.disabled" in page.text


def test_content_page_shows_hashes_prompt_and_history_without_an_image(
    signed_in: Callable[[str], TestClient], make_review_item: Callable[..., int], session: Session
) -> None:
    check_id = make_review_item(3, prompt="a lighthouse at dusk")
    client = signed_in("reviewer")
    page = client.get(f"/admin/content/{check_id}")
    assert page.status_code == 200
    result = checks.get(session, check_id)
    assert result.hashes.pdq in page.text and result.hashes.sha256 in page.text
    assert "a lighthouse at dusk" in page.text
    assert "check.review" in page.text
    # A pending item shows its kept (encrypted) copy, shielded; an allow verdict deletes the copy.
    assert f'id="review-copy-{result.review_item_id}"' in page.text and "view=full" not in page.text
    assert 'data-key="a"' in page.text and 'data-key="b"' in page.text
    session.rollback()
    client.post(
        f"/admin/content/{check_id}/verdict", data={"csrf_token": form_token(page.text), "verdict": "allow"}
    )
    page = client.get(f"/admin/content/{check_id}")
    assert 'id="no-image"' in page.text and "<img" not in page.text


def test_verdict_moves_to_the_next_item_and_is_audited(
    signed_in: Callable[[str], TestClient], make_review_item: Callable[..., int], session: Session
) -> None:
    first, second = make_review_item(4), make_review_item(5)
    client = signed_in("reviewer")
    token = form_token(client.get(f"/admin/content/{first}").text)
    response = client.post(
        f"/admin/content/{first}/verdict",
        data={"csrf_token": token, "verdict": "block", "note": "matches known abuse"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == f"/admin/content/{second}"
    assert checks.get(session, first).decision == "block"
    event = audit.page(session, action="review.block")[0]
    assert event.actor.startswith("user:reviewer") and event.details["note"] == "matches known abuse"
    again = client.post(f"/admin/content/{first}/verdict", data={"csrf_token": token, "verdict": "allow"})
    assert again.status_code == 409


def test_bulk_verdict_is_all_or_nothing(
    signed_in: Callable[[str], TestClient], make_review_item: Callable[..., int], session: Session
) -> None:
    a, b = make_review_item(6), make_review_item(7)
    item_a, item_b = checks.get(session, a).review_item_id, checks.get(session, b).review_item_id
    session.rollback()
    client = signed_in("admin")
    token = form_token(client.get("/admin/review").text)
    empty = client.post("/admin/review/bulk", data={"csrf_token": token, "verdict": "allow"})
    assert empty.status_code == 422
    bogus = client.post(
        "/admin/review/bulk", data={"csrf_token": token, "verdict": "allow", "item_ids": [item_a, 999999]}
    )
    assert bogus.status_code == 404 and "Nothing was changed" in bogus.text
    session.rollback()
    assert checks.get(session, a).decision == "review"
    session.rollback()
    done = client.post(
        "/admin/review/bulk", data={"csrf_token": token, "verdict": "allow", "item_ids": [item_a, item_b]}
    )
    assert done.status_code == 200 and "Nothing to review" in done.text
    assert {checks.get(session, a).decision, checks.get(session, b).decision} == {"allow"}


def test_image_is_shielded_until_an_audited_reveal(
    signed_in: Callable[[str], TestClient],
    make_review_item: Callable[..., int],
    make_notice: Callable[..., int],
    session: Session,
) -> None:
    data = generated_png(8, size=200)
    make_notice(content={"image_base64": base64.b64encode(data).decode()})
    check_id = make_review_item(8, data=data)
    client = signed_in("reviewer")
    page = client.get(f"/admin/content/{check_id}")
    assert 'class="shielded "' in page.text and "view=full" not in page.text
    evidence_id = int(page.text.split("/admin/evidence/")[1].split("/")[0])
    shielded = client.get(f"/admin/evidence/{evidence_id}/image")
    assert shielded.status_code == 200 and shielded.content != data
    assert shielded.headers["cache-control"] == "no-store"
    assert client.get(f"/admin/evidence/{evidence_id}/image?view=full").status_code == 403
    token = form_token(page.text)
    revealed = client.post(
        f"/admin/evidence/{evidence_id}/reveal",
        data={"csrf_token": token, "context": f"check:{check_id}"},
        headers={"accept": "application/json"},
    )
    assert revealed.json() == {"src": f"/admin/evidence/{evidence_id}/image?view=full"}
    full = client.get(f"/admin/evidence/{evidence_id}/image?view=full")
    assert full.status_code == 200 and full.content == data
    event = audit.page(session, action="evidence.reveal")[0]
    assert event.actor.startswith("user:reviewer") and event.details["context"] == f"check:{check_id}"
    # Without JavaScript the form posts and the page comes back revealed.
    plain = client.post(
        f"/admin/evidence/{evidence_id}/reveal",
        data={"csrf_token": token, "back": f"/admin/content/{check_id}"},
        follow_redirects=False,
    )
    assert plain.headers["location"] == f"/admin/content/{check_id}?revealed=1"
    assert "shielded revealed" in client.get(plain.headers["location"]).text
    # Every read of the bytes says why: a shielded preview or the revealed original, never None.
    reads = audit.page(session, action="evidence.read", subject_type="notice")
    reasons = sorted({e.details.get("reason") for e in reads}, key=str)
    assert reasons == ["revealed", "shielded preview"]


def test_auditor_reads_but_cannot_decide_or_reveal(
    signed_in: Callable[[str], TestClient], make_review_item: Callable[..., int]
) -> None:
    check_id = make_review_item(9)
    client = signed_in("auditor")
    page = client.get(f"/admin/content/{check_id}")
    assert page.status_code == 200 and 'id="verdict"' not in page.text
    assert 'name="item_ids"' not in client.get("/admin/review").text
    token = form_token(client.get("/admin").text)
    assert (
        client.post(
            f"/admin/content/{check_id}/verdict", data={"csrf_token": token, "verdict": "allow"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/admin/review/bulk", data={"csrf_token": token, "verdict": "allow", "item_ids": [1]}
        ).status_code
        == 403
    )
    assert client.post("/admin/evidence/1/reveal", data={"csrf_token": token}).status_code == 403
    assert client.get("/admin/evidence/1/image").status_code == 403


def test_verdict_without_csrf_is_rejected(
    signed_in: Callable[[str], TestClient], make_review_item: Callable[..., int], session: Session
) -> None:
    check_id = make_review_item(10)
    client = signed_in("reviewer")
    response = client.post(f"/admin/content/{check_id}/verdict", data={"verdict": "block"})
    assert response.status_code == 403
    assert checks.get(session, check_id).decision == "review"
    assert client.get("/admin/content/424242").status_code == 404


def test_a_video_shows_a_shielded_keyframe_strip_until_an_audited_reveal(
    signed_in: Callable[[str], TestClient], make_review_item: Callable[..., int], session: Session
) -> None:
    check_id = make_review_item(9, data=clip(seed=61, seconds=6.0))
    item_id = checks.get(session, check_id).review_item_id
    session.rollback()
    client = signed_in("reviewer")
    page = client.get(f"/admin/content/{check_id}")
    assert (
        page.status_code == 200 and "Video: keyframes" in page.text and "6.0 s, 6 frame hashes" in page.text
    )
    shielded = client.get(f"/admin/review/{item_id}/image")
    assert shielded.status_code == 200 and shielded.headers["content-type"] == "image/png"
    strip = Image.open(io.BytesIO(shielded.content))
    assert strip.mode == "L" and strip.width > 2 * strip.height  # several keyframes side by side
    assert client.get(f"/admin/review/{item_id}/image?view=full").status_code == 403
    client.post(
        f"/admin/review/{item_id}/reveal",
        data={"csrf_token": form_token(page.text), "context": f"check:{check_id}"},
        headers={"accept": "application/json"},
    )
    full = Image.open(io.BytesIO(client.get(f"/admin/review/{item_id}/image?view=full").content))
    assert full.mode == "RGB" and full.size == strip.size
    assert audit.page(session, action="review_copy.reveal")[0].details["context"] == f"check:{check_id}"
