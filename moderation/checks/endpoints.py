"""HTTP endpoints of the `checks` feature: the pre-publish check, batches, stored checks, the review queue."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from moderation.auth.service import Role
from moderation.checks.errors import MalformedMetadata
from moderation.checks.review import review_queue
from moderation.checks.schemas import (
    BatchEntry,
    BatchResult,
    CheckMetadata,
    CheckResult,
    ErrorBody,
    ReviewEntry,
    ReviewPage,
    VerdictRequest,
)
from moderation.checks.service import CheckContext, CheckInput, checks
from moderation.checks.upload import read_upload
from moderation.dependencies import Admin, Checker, DBSession
from moderation.exceptions import ModerationError
from moderation.kit.paging import CURSOR_HELP
from moderation.observability import metrics

router = APIRouter()

# `checks.id` and `review_items.id` are 32-bit INTEGER columns on PostgreSQL: a larger id is a 422
# here, never an out-of-range error inside the driver.
RowID = Annotated[int, Path(ge=1, le=2**31 - 1)]

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorBody,
        "description": "Malformed request (`malformed_request`, `missing_file`, `malformed_metadata`)",
    },
    413: {
        "model": ErrorBody,
        "description": "Too large (`image_too_large`, `image_dimensions_too_large`, `request_too_large`, "
        "`video_too_large`, `video_too_long`, `video_too_many_frames`, `video_dimensions_too_large`)",
    },
    415: {
        "model": ErrorBody,
        "description": "Not an accepted image (`unsupported_format`) or not multipart "
        "(`unsupported_media_type`)",
    },
    422: {
        "model": ErrorBody,
        "description": "Undecodable image (`corrupt_image`, `empty_image`), undecodable video "
        "(`corrupt_video`, `truncated_video`, `empty_video`, `no_video_stream`, `video_decode_timeout`) "
        "or `invalid_metadata`",
    },
}

_METADATA_DOC = (
    "Optional JSON object: content_id, uploader_id, source (upload|generated), prompt, model, seed."
)


def _multipart(file_field: str, *, many: bool, metadata_doc: str) -> dict[str, Any]:
    file_schema: dict[str, Any] = {"type": "string", "format": "binary"}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [file_field],
                        "properties": {
                            file_field: {"type": "array", "items": file_schema} if many else file_schema,
                            "metadata": {"type": "string", "description": metadata_doc},
                        },
                    }
                }
            },
        }
    }


def _context(request: Request) -> CheckContext:
    context: CheckContext = request.app.state.check_context
    return context


@router.post(
    "/check",
    response_model=CheckResult,
    openapi_extra=_multipart("file", many=False, metadata_doc=_METADATA_DOC),
    responses=_ERRORS,
    summary="Check one image before it is published",
)
async def check(request: Request, session: DBSession, principal: Checker) -> CheckResult:
    """Multipart field `file` (the image) and optional `metadata` (JSON). Returns the decision
    (allow / review / block) with its reasons, the hashes, the classifier scores or state, the policy
    version and the time each stage took; `cached` is true when identical bytes were already decided."""
    context = _context(request)
    upload = await read_upload(
        request,
        file_fields=("file",),
        max_file_bytes=context.limits.max_bytes,
        max_files=1,
        stop_on_large_file=True,
        max_video_bytes=context.video_limits.max_bytes,
    )
    metadata = CheckMetadata.parse(upload.fields.get("metadata"))
    part = upload.files[0]
    item = CheckInput(data=bytes(part.data), metadata=metadata, read_ms=upload.read_ms)
    result = await checks.check(
        session, item, policy=request.app.state.policy, context=context, actor=principal.actor
    )
    _observe(result, metadata)
    return result


def _observe(result: CheckResult, metadata: CheckMetadata) -> None:
    metrics.observe_check(
        decision=result.decision,
        source=metadata.source_or_unknown,
        cached=result.cached,
        timings_ms=result.timings_ms,
    )


def _batch_metadata(raw: bytes | None, count: int) -> list[CheckMetadata | ModerationError]:
    if raw is None or not raw.strip():
        return [CheckMetadata() for _ in range(count)]
    try:
        values = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedMetadata(f"metadata is not valid JSON: {exc}") from exc
    if not isinstance(values, list) or len(values) > count:
        raise MalformedMetadata(
            "batch metadata must be a JSON array with at most one object per file, in order"
        )
    out: list[CheckMetadata | ModerationError] = []
    for position in range(count):
        if position >= len(values) or values[position] is None:
            out.append(CheckMetadata())
            continue
        try:
            out.append(CheckMetadata.parse(json.dumps(values[position])))
        except ModerationError as exc:
            out.append(exc)
    return out


@router.post(
    "/check/batch",
    response_model=BatchResult,
    openapi_extra=_multipart(
        "file",
        many=True,
        metadata_doc="Optional JSON array: one metadata object (or null) per file, in file order.",
    ),
    responses=_ERRORS,
    summary="Check several images (at most MODERATION_MAX_BATCH_IMAGES)",
)
async def check_batch(request: Request, session: DBSession, principal: Checker) -> BatchResult:
    """Repeated `file` parts; one result per file, in order. A bad image (or bad metadata entry) fails
    only its own entry with its error code; a malformed request fails as a whole."""
    context = _context(request)
    limit = request.app.state.settings.max_batch_images
    upload = await read_upload(
        request,
        file_fields=("file", "files"),
        max_file_bytes=context.limits.max_bytes,
        max_files=limit,
        stop_on_large_file=False,
        max_video_bytes=context.video_limits.max_bytes,
    )
    metadata = _batch_metadata(upload.fields.get("metadata"), len(upload.files))
    items = []
    for part, meta in zip(upload.files, metadata, strict=True):
        error = part.error(context.limits.max_bytes) or (meta if isinstance(meta, ModerationError) else None)
        items.append(
            CheckInput(
                data=None if error else bytes(part.data),
                metadata=meta if isinstance(meta, CheckMetadata) else CheckMetadata(),
                error=error,
                read_ms=upload.read_ms / max(1, len(upload.files)),
            )
        )
    outputs = await checks.check_many(
        session, items, policy=request.app.state.policy, context=context, actor=principal.actor
    )
    entries = []
    for index, (part, output) in enumerate(zip(upload.files, outputs, strict=True)):
        if isinstance(output, ModerationError):
            entries.append(
                BatchEntry(index=index, filename=part.filename, error=ErrorBody(**output.to_dict()))
            )
        else:
            _observe(output, items[index].metadata)
            entries.append(BatchEntry(index=index, filename=part.filename, result=output))
    return BatchResult(results=entries, max_batch_images=limit)


@router.get("/check/{check_id}", response_model=CheckResult, summary="A stored check")
def get_check(check_id: RowID, session: DBSession, principal: Checker) -> CheckResult:
    """A checker key reads only the checks it made; an admin key reads any."""
    return checks.get(session, check_id, actor=None if principal.role == Role.ADMIN else principal.actor)


@router.get("/review", response_model=ReviewPage, summary="The review queue, highest risk first")
def review_list(
    session: DBSession,
    _: Admin,
    state: Annotated[str, Query(pattern="^(open|escalated|pending|decided|all)$")] = "pending",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description=CURSOR_HELP)] = None,
    offset: Annotated[
        int, Query(ge=0, le=1_000_000, deprecated=True, description="Deprecated: use `cursor`.")
    ] = 0,
) -> ReviewPage:
    """`state`: open, escalated, pending (open and escalated; the default), decided, all. Keyset
    paging: pass `next_cursor` as `cursor` (`offset` still works, deprecated)."""
    page = review_queue.page(session, state=state, cursor=cursor, limit=limit, offset=offset)
    return ReviewPage(items=page.items, limit=limit, offset=offset, next_cursor=page.next_cursor)


@router.get("/review/{item_id}", response_model=ReviewEntry, summary="One review item with its check")
def review_get(item_id: RowID, session: DBSession, _: Admin) -> ReviewEntry:
    return review_queue.get(session, item_id)


@router.post("/review/{item_id}/verdict", response_model=ReviewEntry, summary="Record a reviewer's verdict")
def review_verdict(
    item_id: RowID,
    body: VerdictRequest,
    request: Request,
    session: DBSession,
    principal: Admin,
) -> ReviewEntry:
    """`allow`, `block` (optionally `add_to_bank`: the content's hashes go into that bank) or
    `escalate`. 409 `illegal_transition` when the item was already decided."""
    return review_queue.verdict(
        session,
        item_id,
        verdict=body.verdict,
        actor=principal.actor,
        note=body.note,
        add_to_bank=body.add_to_bank,
        policy_version=request.app.state.policy.version,
        settings=request.app.state.settings,
    )
