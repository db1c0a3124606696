"""HTTP endpoints of the banks feature (/v1/banks, admin role)."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile, status
from fastapi.responses import PlainTextResponse, StreamingResponse

from moderation.banks import schemas
from moderation.banks.formats import FileFormat
from moderation.banks.service import banks
from moderation.dependencies import MAX_BIG_ID, Admin, BigID, DBSession
from moderation.exceptions import ValidationFailed
from moderation.hashing.intake import ImageLimits, read_limited
from moderation.hashing.robust import PLAIN
from moderation.hashing.video import (
    VideoHashOptions,
    VideoLimits,
    hash_video,
    parse_frame_lines,
    spooled,
    to_jsonl,
    to_vpdq_text,
)
from moderation.kit.paging import CURSOR_HELP
from moderation.kit.time import utc_now

router = APIRouter(prefix="/banks")

_MEDIA = {
    FileFormat.CSV: "text/csv",
    FileFormat.JSONL: "application/x-ndjson",
    FileFormat.PDQ_HEX: "text/plain",
    FileFormat.TE: "text/plain",
    FileFormat.TE_CSV: "text/csv",
}
_EXTENSION = {
    FileFormat.CSV: "csv",
    FileFormat.JSONL: "jsonl",
    FileFormat.PDQ_HEX: "txt",
    FileFormat.TE: "te.txt",
    FileFormat.TE_CSV: "te.csv",
}


def _entry(entry: Any, bank: str) -> schemas.Entry:
    until = entry.disabled_until
    return schemas.Entry(
        id=entry.id,
        bank=bank,
        hash_type=entry.hash_type,
        value=entry.value,
        variant=entry.variant,
        parent_id=entry.parent_id,
        metadata=entry.meta,
        note=entry.note,
        source=entry.source,
        enabled=until is None or until <= utc_now(),
        disabled_until=until,
        added_by=entry.added_by,
        created_at=entry.created_at,
    )


def _detail(session: DBSession, entry: Any, bank: str) -> schemas.EntryDetail:
    rows = [_entry(row, bank) for row in banks.entry_rows(session, entry)]
    return schemas.EntryDetail(**_entry(entry, bank).model_dump(), rows=rows)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_bank(body: schemas.BankCreate, session: DBSession, principal: Admin) -> schemas.Bank:
    """Create a bank."""
    bank = banks.create(session, **body.model_dump(), actor=principal.actor)
    return _bank(session, bank)


def _bank(session: DBSession, bank: Any) -> schemas.Bank:
    """A bank with its number of (top-level) entries."""
    result = schemas.Bank.model_validate(bank)
    result.entries = banks.count_entries(session, bank)
    return result


@router.get("")
def list_banks(session: DBSession, principal: Admin) -> list[schemas.Bank]:
    """Every bank with its settings."""
    return [_bank(session, bank) for bank in banks.all(session)]


@router.get("/{name}")
def get_bank(name: str, session: DBSession, principal: Admin) -> schemas.Bank:
    """One bank, with its number of (top-level) entries."""
    return _bank(session, banks.get(session, name))


@router.patch("/{name}")
def update_bank(name: str, body: schemas.BankUpdate, session: DBSession, principal: Admin) -> schemas.Bank:
    """Enable/disable a bank or change its action, thresholds or rotation matching."""
    bank = banks.update(session, name, **body.model_dump(exclude_unset=True), actor=principal.actor)
    return _bank(session, bank)


@router.post("/{name}/entries", status_code=status.HTTP_201_CREATED)
def add_hashes(
    name: str, body: schemas.EntriesCreate, session: DBSession, principal: Admin
) -> list[schemas.Entry]:
    """Add bare hashes (one entry each)."""
    entries = banks.add_hashes(
        session,
        name,
        [(h.type, h.value) for h in body.hashes],
        source=body.source,
        note=body.note,
        metadata=body.metadata,
        actor=principal.actor,
    )
    return [_entry(e, name) for e in entries]


@router.post("/{name}/entries/image", status_code=status.HTTP_201_CREATED)
def add_image(
    name: str,
    request: Request,
    session: DBSession,
    principal: Admin,
    file: Annotated[UploadFile, File(description="the image (JPEG, PNG, WebP, GIF); it is not kept")],
    note: Annotated[str | None, Form(max_length=2000)] = None,
    metadata: Annotated[str | None, Form(description="a JSON object")] = None,
    source: Annotated[str, Form()] = "upload",
) -> schemas.ImageEntryAdded:
    """Hash an image and add it with its companion hashes and robust variants."""
    meta = _json_object(metadata)
    limits = ImageLimits.from_settings(request.app.state.settings)
    data = read_limited(file.file, limits)
    entries = banks.add_image(
        session, name, data, note=note, metadata=meta, source=source, actor=principal.actor, limits=limits
    )
    top, rest = entries[0], entries[1:]
    companions = [_entry(row, name) for row in rest if row.variant == PLAIN]
    return schemas.ImageEntryAdded(
        **_entry(top, name).model_dump(), companions=companions, variants=len(rest) - len(companions)
    )


@router.post("/{name}/entries/video", status_code=status.HTTP_201_CREATED)
def add_video(
    name: str,
    request: Request,
    session: DBSession,
    principal: Admin,
    file: Annotated[
        UploadFile, File(description="the video (MP4, MOV, WebM, MKV, animated GIF/WebP); it is not kept")
    ],
    note: Annotated[str | None, Form(max_length=2000)] = None,
    metadata: Annotated[str | None, Form(description="a JSON object")] = None,
    source: Annotated[str, Form()] = "upload",
) -> schemas.EntryDetail:
    """Hash a video (SHA-256, MD5, vPDQ frame hashes) and add it as one entry."""
    meta = _json_object(metadata)
    settings = request.app.state.settings
    limits = VideoLimits.from_settings(settings)
    # Hashed before the bank is touched, so the write transaction does not span the decode.
    with spooled(file.file, limits) as path:
        video = hash_video(path, limits, VideoHashOptions.from_settings(settings))
    entries = banks.add_video(
        session, name, video, note=note, metadata=meta, source=source, actor=principal.actor
    )
    return schemas.EntryDetail(
        **_entry(entries[0], name).model_dump(), rows=[_entry(r, name) for r in entries[1:]]
    )


@router.post("/{name}/entries/video-hashes", status_code=status.HTTP_201_CREATED)
def add_video_hashes(
    name: str,
    session: DBSession,
    principal: Admin,
    file: Annotated[UploadFile, File(description="one video's frame hashes: vPDQ text or JSONL")],
    md5: Annotated[str | None, Form(max_length=32, description="the video file's MD5, if known")] = None,
    note: Annotated[str | None, Form(max_length=2000)] = None,
    metadata: Annotated[str | None, Form(description="a JSON object")] = None,
    source: Annotated[str, Form()] = "upload",
) -> schemas.EntryDetail:
    """Add a video known only by its frame hashes (for example a list shared by another platform)."""
    meta = _json_object(metadata)
    frames = parse_frame_lines(_bounded_lines(file, MAX_FRAME_LIST_BYTES))
    entries = banks.add_video_frames(
        session, name, frames, md5=md5, note=note, metadata=meta, source=source, actor=principal.actor
    )
    return schemas.EntryDetail(
        **_entry(entries[0], name).model_dump(), rows=[_entry(r, name) for r in entries[1:]]
    )


@router.get("/{name}/entries/{entry_id}/frames")
def export_video_frames(
    name: str,
    entry_id: BigID,
    session: DBSession,
    principal: Admin,
    format: Annotated[str, Query(pattern="^(vpdq|jsonl)$")] = "vpdq",
) -> PlainTextResponse:
    """A video entry's frame hashes as vPDQ text (`frame,pdq,quality,seconds`) or JSONL."""
    frames = banks.video_frames(session, entry_id, bank_name=name)
    if format == "jsonl":
        return PlainTextResponse(to_jsonl(frames), media_type="application/x-ndjson")
    return PlainTextResponse(to_vpdq_text(frames))


@router.get("/{name}/entries")
def list_entries(
    name: str,
    session: DBSession,
    principal: Admin,
    cursor: Annotated[str | None, Query(description=CURSOR_HELP)] = None,
    after: Annotated[
        int | None,
        Query(ge=0, le=MAX_BIG_ID, deprecated=True, description="Deprecated: use `cursor`."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    hash_type: Annotated[str | None, Query(max_length=16)] = None,
    value: Annotated[str | None, Query(max_length=200, description="exact hash value to look for")] = None,
    include_variants: bool = False,
) -> schemas.EntryPage:
    """A page of the bank's entries in id order (keyset paging: pass `next_cursor` as `cursor`;
    `after` with `next_after` still works, deprecated)."""
    page = banks.list_entries(
        session,
        name,
        cursor=cursor,
        after=after,
        limit=limit,
        hash_type=hash_type,
        value=value,
        include_variants=include_variants,
    )
    return schemas.EntryPage(
        items=[_entry(e, name) for e in page.items], next_cursor=page.next_cursor, next_after=page.next_after
    )


@router.get("/{name}/entries/{entry_id}")
def get_entry(name: str, entry_id: BigID, session: DBSession, principal: Admin) -> schemas.EntryDetail:
    """One entry with its companion hashes and robust variants."""
    return _detail(session, banks.get_entry(session, entry_id, bank_name=name), name)


@router.post("/{name}/entries/{entry_id}/disable")
def disable_entry(
    name: str,
    entry_id: BigID,
    session: DBSession,
    principal: Admin,
    body: schemas.EntryDisable | None = None,
) -> schemas.Entry:
    """Stop an entry matching (until `until`, or until re-enabled)."""
    until = body.until if body else None
    entry = banks.disable_entry(session, entry_id, until=until, bank_name=name, actor=principal.actor)
    return _entry(entry, name)


@router.post("/{name}/entries/{entry_id}/enable")
def enable_entry(name: str, entry_id: BigID, session: DBSession, principal: Admin) -> schemas.Entry:
    """Make a disabled entry match again."""
    return _entry(banks.enable_entry(session, entry_id, bank_name=name, actor=principal.actor), name)


@router.delete("/{name}/entries/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_entry(name: str, entry_id: BigID, session: DBSession, principal: Admin) -> None:
    """Delete an entry and its variants."""
    banks.delete_entry(session, entry_id, bank_name=name, actor=principal.actor)


@router.post("/{name}/import")
def import_file(
    name: str,
    session: DBSession,
    principal: Admin,
    file: Annotated[UploadFile, File(description="CSV, JSONL or PDQ hex lines")],
    format: Annotated[FileFormat | None, Query(description="default: from the file name")] = None,
    strict: bool = False,
    source: Annotated[str | None, Query(description="default: import:<file name>")] = None,
    keep_duplicates: Annotated[bool, Query(description="import values the bank already holds again")] = False,
) -> schemas.ImportResult:
    """Import a file of hashes; bad lines are reported with their numbers (strict: nothing imported)."""
    filename = file.filename or "upload"
    fmt = format or FileFormat.for_path(filename)
    report = banks.import_lines(
        session,
        name,
        _text_lines(file),
        fmt=fmt,
        source=source or f"import:{filename.rsplit('/', 1)[-1][:100]}",
        strict=strict,
        actor=principal.actor,
        keep_duplicates=keep_duplicates,
    )
    return schemas.ImportResult(
        lines=report.lines,
        imported=report.imported,
        skipped=report.skipped,
        duplicates=report.duplicates,
        bad_lines=[schemas.BadLine(line=b.line, reason=b.reason) for b in report.bad_lines],
        first_entry_id=report.first_entry_id,
        last_entry_id=report.last_entry_id,
    )


@router.get("/{name}/export")
def export_bank(
    name: str,
    request: Request,
    session: DBSession,
    principal: Admin,
    format: FileFormat = FileFormat.CSV,
) -> StreamingResponse:
    """Stream the bank's hashes (plain rows; robust variants are derived and not exported)."""
    banks.record_export(session, name, format, actor=principal.actor)
    lines = banks.stream_export(request.app.state.engine, name, format)
    return StreamingResponse(
        lines,
        media_type=_MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{name}.{_EXTENSION[format]}"'},
    )


# A vPDQ list of the most frames accepted (10,000) is well under 1 MB of text.
MAX_FRAME_LIST_BYTES = 2 * 1024 * 1024


def _bounded_lines(upload: UploadFile, limit: int) -> list[str]:
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise ValidationFailed(
            f"the frame hash list is larger than {limit} bytes", code="frame_list_too_large"
        )
    return data.decode("utf-8", errors="replace").splitlines()


def _text_lines(upload: UploadFile) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for raw in upload.file:
        yield decoder.decode(raw)


def _json_object(text: str | None) -> dict[str, Any] | None:
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValidationFailed(f"metadata is not valid JSON: {exc}", code="invalid_metadata") from exc
    if not isinstance(value, dict):
        raise ValidationFailed("metadata must be a JSON object", code="invalid_metadata")
    return value
