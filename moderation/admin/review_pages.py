"""Dashboard review pages: the review queue (highest risk first, bulk verdicts), the content page of
one check, and shielded images whose reveal is a deliberate, audited click."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from PIL import Image, ImageFilter

from moderation.admin.pages import (
    CSRF,
    PageForbidden,
    PageNotFound,
    Viewer,
    ViewerDep,
    actor,
    render,
    require_roles,
)
from moderation.audit.service import audit
from moderation.banks.service import banks
from moderation.checks.review import review_queue
from moderation.checks.service import checks
from moderation.dependencies import ID, DBSession
from moderation.exceptions import ImageRejected, ModerationError
from moderation.hashing.intake import MEDIA_TYPES, ImageLimits, decode_image, probe_image, sniff_format
from moderation.hashing.video import hash_video, sniff_video
from moderation.kit.paging import Page
from moderation.kit.time import utc_now
from moderation.redress.service import appeals
from moderation.takedown.service import takedown

router = APIRouter(prefix="/admin", include_in_schema=False)

ACTING = ("reviewer", "admin")
VERDICTS = ("allow", "block", "escalate")
QUEUE_VIEWS = ("pending", "open", "escalated", "decided")
# A reveal admits this viewer to the unshielded image for this long; then it must be clicked again.
REVEAL_WINDOW = timedelta(minutes=10)
SHIELDED_SIZE = 320
# Keyframes in a video's strip.
STRIP_FRAMES = 6
ItemID = Annotated[int, Path(ge=1, le=2**31 - 1)]  # review_items.id is a 32-bit INTEGER


# --- the queue ---------------------------------------------------------------------------------


@router.get("/review", response_class=HTMLResponse)
def review_page(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    state: Annotated[str, Query(max_length=20)] = "pending",
    cursor: Annotated[str, Query(max_length=512)] = "",
) -> Response:
    return _review(request, session, viewer, state, cursor)


def _review(
    request: Request,
    session: DBSession,
    viewer: Viewer,
    state: str = "pending",
    cursor: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    require_roles(viewer, "reviewer", "admin", "auditor")
    view = state if state in QUEUE_VIEWS else "pending"
    try:
        page = review_queue.page(session, state=view, cursor=cursor or None, limit=50)
    except ModerationError as exc:
        page, error, status_code = Page([], None), exc.message, exc.status
    return render(
        request,
        "review.html",
        viewer,
        status_code=status_code,
        items=page.items,
        next_cursor=page.next_cursor,
        paged=bool(cursor),
        view=view,
        views=QUEUE_VIEWS,
        error=error,
    )


@router.post("/review/bulk", dependencies=[CSRF])
async def review_bulk(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    verdict: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    require_roles(viewer, *ACTING)
    form = await request.form()
    try:
        ids = sorted({int(str(v)) for v in form.getlist("item_ids")})
    except ValueError:
        ids = []
    if verdict not in VERDICTS or not ids:
        return _review(
            request, session, viewer, error="Choose at least one item and a verdict.", status_code=422
        )
    try:
        for item_id in ids:
            review_queue.verdict(
                session,
                item_id,
                verdict=verdict,
                actor=actor(viewer),
                note=note.strip() or f"bulk {verdict} of {len(ids)} items",
                settings=request.app.state.settings,
                policy_version=request.app.state.policy.version,
            )
    except ModerationError as exc:
        # All or nothing: a bulk verdict that fails on one item changes none.
        session.rollback()
        return _review(
            request, session, viewer, error=f"Nothing was changed: {exc.message}", status_code=exc.status
        )
    return RedirectResponse("/admin/review", status_code=303)


# --- the content page --------------------------------------------------------------------------


def _next_pending(session: DBSession, after_item: int | None) -> int | None:
    """The check id of the next pending item in queue order (skipping the current one)."""
    for entry in review_queue.page(session, state="pending", limit=2).items:
        if entry.id != after_item:
            return entry.check.check_id
    return None


@router.get("/content/{check_id}", response_class=HTMLResponse)
def content_page(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    check_id: ID,
    revealed: int = 0,
) -> Response:
    return _content(request, session, viewer, check_id, revealed=bool(revealed))


def _content(
    request: Request,
    session: DBSession,
    viewer: Viewer,
    check_id: ID,
    *,
    revealed: bool = False,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    require_roles(viewer, "reviewer", "admin", "auditor")
    try:
        result = checks.get(session, check_id)
    except ModerationError as exc:
        raise PageNotFound(exc.message) from exc
    item = review_queue.get(session, result.review_item_id) if result.review_item_id else None
    history = audit.for_subject(session, "check", check_id)
    if item is not None:
        history += audit.for_subject(session, "review_item", item.id)
    history.sort(key=lambda e: e.id)
    evidence_ids = takedown.evidence_holding(session, result.hashes.sha256)
    evidence_id = evidence_ids[0] if evidence_ids else None
    # Preserved takedown evidence wins; otherwise the item's own encrypted copy while it is kept.
    copy_item = item.id if item and evidence_id is None and review_queue.has_image(session, item.id) else None
    return render(
        request,
        "content.html",
        viewer,
        status_code=status_code,
        check=result,
        item=item,
        bank_matches=[r for r in result.reasons if r.kind == "bank_match"],
        scores=sorted(result.classifier.categories or [], key=lambda c: -c.score),
        history=history,
        evidence_id=evidence_id,
        revealed=revealed
        and (
            (evidence_id is not None and _recently_revealed(session, viewer, evidence_id))
            or (copy_item is not None and _recently_revealed(session, viewer, copy_item, kind="review_copy"))
        ),
        copy_item=copy_item,
        next_check=_next_pending(session, item.id if item else None),
        bank_names=[b.name for b in banks.all(session)] if viewer.can_act else [],
        appeals=appeals.of_check(session, check_id),
        error=error,
    )


@router.post("/content/{check_id}/verdict", dependencies=[CSRF])
def content_verdict(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    check_id: ID,
    verdict: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=5000)] = "",
    add_to_bank: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    require_roles(viewer, *ACTING)
    try:
        result = checks.get(session, check_id)
    except ModerationError as exc:
        raise PageNotFound(exc.message) from exc
    if result.review_item_id is None:
        return _content(
            request,
            session,
            viewer,
            check_id,
            error="This check is not in the review queue.",
            status_code=409,
        )
    try:
        review_queue.verdict(
            session,
            result.review_item_id,
            verdict=verdict,
            actor=actor(viewer),
            note=note.strip() or None,
            add_to_bank=(add_to_bank or None) if verdict == "block" else None,
            settings=request.app.state.settings,
            policy_version=request.app.state.policy.version,
        )
    except ModerationError as exc:
        session.rollback()
        return _content(request, session, viewer, check_id, error=exc.message, status_code=exc.status)
    following = _next_pending(session, result.review_item_id)
    return RedirectResponse(f"/admin/content/{following}" if following else "/admin/review", status_code=303)


# --- shielded images ---------------------------------------------------------------------------


def _recently_revealed(session: DBSession, viewer: Viewer, subject_id: int, kind: str = "evidence") -> bool:
    """Whether this viewer revealed the evidence item (or review item's copy, `kind="review_copy"`)
    within the reveal window."""
    events = audit.page(
        session,
        actor=actor(viewer),
        action=f"{kind}.reveal",
        subject_type="evidence" if kind == "evidence" else "review_item",
        subject_id=str(subject_id),
        since=utc_now() - REVEAL_WINDOW,
        limit=1,
    )
    return bool(events)


def _keyframe_strip(data: bytes, *, shielded: bool) -> bytes:
    """A video's keyframes (chosen by scene change) side by side: blurred greyscale unless revealed."""
    video = hash_video(data, keep=STRIP_FRAMES)
    frames = [image.convert("L" if shielded else "RGB") for _, image in video.keyframes]
    for frame in frames:
        frame.thumbnail((SHIELDED_SIZE // 2, SHIELDED_SIZE // 2))
    height = max(f.height for f in frames)
    strip = Image.new(frames[0].mode, (sum(f.width for f in frames) + 4 * (len(frames) - 1), height))
    x = 0
    for frame in frames:
        strip.paste(frame, (x, 0))
        x += frame.width + 4
    if shielded:
        strip = strip.filter(ImageFilter.GaussianBlur(radius=height / 12))
    out = io.BytesIO()
    strip.save(out, format="PNG")
    return out.getvalue()


def _shield(data: bytes, limits: ImageLimits) -> bytes:
    """A small blurred greyscale rendering: the unshielded pixels never reach the browser unrevealed.
    Decoded like any upload (format allow-list, byte and pixel limits, a decode slot). A video is shown
    as a strip of its keyframes."""
    if sniff_video(data) is not None:
        return _keyframe_strip(data, shielded=True)
    decoded = decode_image(data, limits, max_side=SHIELDED_SIZE * 2)
    small = decoded.image.convert("L")
    small.thumbnail((SHIELDED_SIZE, SHIELDED_SIZE))
    blurred = small.filter(ImageFilter.GaussianBlur(radius=max(small.size) / 12))
    out = io.BytesIO()
    blurred.save(out, format="PNG")
    return out.getvalue()


@router.get("/evidence/{evidence_id}/image")
def evidence_image(
    request: Request, session: DBSession, viewer: ViewerDep, evidence_id: ID, view: str = "shielded"
) -> Response:
    """The shielded rendering by default; the original only after this viewer's audited reveal."""
    require_roles(viewer, *ACTING)
    if view == "full" and not _recently_revealed(session, viewer, evidence_id):
        raise PageForbidden
    data = takedown.evidence_bytes(
        session,
        evidence_id,
        actor=actor(viewer),
        reason="revealed" if view == "full" else "shielded preview",
        settings=request.app.state.settings,
    )
    if data is None:
        raise PageNotFound(f"evidence {evidence_id} holds no image")
    if view == "full":
        return _original(data)
    try:
        return _shielded(data, ImageLimits.from_settings(request.app.state.settings))
    except ImageRejected as exc:
        raise PageNotFound(f"evidence {evidence_id} is not a readable image") from exc


_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _shielded(data: bytes, limits: ImageLimits) -> Response:
    """The header is checked now (a refused image is a 404 page); the pixels are decoded while the
    response is sent, after the request's transaction has ended, so no decode holds a write lock."""
    if sniff_video(data) is None:
        probe_image(data, limits)
    return StreamingResponse(_rendered(data, limits), media_type="image/png", headers=_NO_STORE)


def _rendered(data: bytes, limits: ImageLimits) -> Iterator[bytes]:
    try:
        yield _shield(data, limits)
    except ModerationError:
        # A stored video that no longer decodes: a plain grey tile instead of a broken response.
        out = io.BytesIO()
        Image.new("L", (SHIELDED_SIZE, SHIELDED_SIZE // 2), 128).save(out, format="PNG")
        yield out.getvalue()


def _original(data: bytes) -> Response:
    """The revealed rendering: the original image, or a video's keyframe strip in colour (the video
    itself is never sent to the browser)."""
    if sniff_video(data) is not None:
        return Response(_keyframe_strip(data, shielded=False), media_type="image/png", headers=_NO_STORE)
    media_type = _media_type(data)
    headers = dict(_NO_STORE)
    if media_type == "application/octet-stream":
        headers["Content-Disposition"] = "attachment"
    return Response(data, media_type=media_type, headers=headers)


def _media_type(data: bytes) -> str:
    """An accepted image type from the leading bytes (nothing is decoded); anything else is served as
    an opaque download, so a browser never renders a TIFF, BMP or ICO a reporter sent."""
    return MEDIA_TYPES.get(sniff_format(data) or "", "application/octet-stream")


def _reveal(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    *,
    action: str,
    subject_type: str,
    subject_id: int,
    src: str,
    context: str,
    back: str,
) -> Response:
    """Audit a reveal, then answer the original's address (JSON) or go back to the page it came from."""
    require_roles(viewer, *ACTING)
    audit.record(
        session,
        actor=actor(viewer),
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        details={"context": context or None},
    )
    if request.headers.get("accept", "").startswith("application/json"):
        return JSONResponse({"src": src})
    target = back if back.startswith("/admin/") and "//" not in back else "/admin/review"
    separator = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{separator}revealed=1", status_code=303)


@router.post("/evidence/{evidence_id}/reveal", dependencies=[CSRF])
def evidence_reveal(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    evidence_id: ID,
    context: Annotated[str, Form(max_length=200)] = "",
    back: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Record the reveal in the audit log; the original is served only after this."""
    return _reveal(
        request,
        session,
        viewer,
        action="evidence.reveal",
        subject_type="evidence",
        subject_id=evidence_id,
        src=f"/admin/evidence/{evidence_id}/image?view=full",
        context=context,
        back=back,
    )


@router.get("/review/{item_id}/image")
def review_copy_image(
    request: Request, session: DBSession, viewer: ViewerDep, item_id: ItemID, view: str = "shielded"
) -> Response:
    """A review item's kept copy: shielded by default, the original only after an audited reveal."""
    require_roles(viewer, *ACTING)
    if view == "full" and not _recently_revealed(session, viewer, item_id, kind="review_copy"):
        raise PageForbidden
    try:
        data = review_queue.review_image(
            session,
            item_id,
            actor=actor(viewer),
            reason="revealed" if view == "full" else "shielded preview",
            settings=request.app.state.settings,
        )
    except ModerationError as exc:
        raise PageNotFound(exc.message) from exc
    if view == "full":
        return _original(data)
    try:
        return _shielded(data, ImageLimits.from_settings(request.app.state.settings))
    except ImageRejected as exc:
        raise PageNotFound(f"review item {item_id} holds no readable image") from exc


@router.post("/review/{item_id}/reveal", dependencies=[CSRF])
def review_copy_reveal(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    item_id: ItemID,
    context: Annotated[str, Form(max_length=200)] = "",
    back: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Record the reveal of a review item's copy in the audit log; the original is served only after this."""
    return _reveal(
        request,
        session,
        viewer,
        action="review_copy.reveal",
        subject_type="review_item",
        subject_id=item_id,
        src=f"/admin/review/{item_id}/image?view=full",
        context=context,
        back=back,
    )
