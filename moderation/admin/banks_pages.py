"""Dashboard bank pages: banks with their entries (paging, search by hash), adding by upload or by
hash, disabling entries, importing and exporting hash lists. Admins act; auditors may look."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from moderation.admin.pages import CSRF, PageNotFound, Viewer, ViewerDep, actor, render, require_roles
from moderation.banks.formats import FileFormat
from moderation.banks.service import banks
from moderation.dependencies import BigID, DBSession
from moderation.exceptions import ModerationError, ValidationFailed
from moderation.hashing.intake import ImageLimits
from moderation.kit.time import utc_now

router = APIRouter(prefix="/admin", include_in_schema=False)

READERS = ("admin", "auditor")
HASH_TYPES = ("pdq", "sha256", "md5", "phash", "dhash")
PAGE_SIZE = 50
_MEDIA = {
    FileFormat.CSV: "text/csv",
    FileFormat.JSONL: "application/x-ndjson",
    FileFormat.PDQ_HEX: "text/plain",
}
_EXTENSION = {FileFormat.CSV: "csv", FileFormat.JSONL: "jsonl", FileFormat.PDQ_HEX: "txt"}


def _enabled(entry: Any) -> bool:
    return entry.disabled_until is None or entry.disabled_until <= utc_now()


# --- the list ----------------------------------------------------------------------------------


@router.get("/banks", response_class=HTMLResponse)
def banks_page(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    hash_type: str = "pdq",
    value: str = "",
) -> Response:
    require_roles(viewer, *READERS)
    return _banks(request, session, viewer, hash_type=hash_type, value=value)


def _banks(
    request: Request,
    session: DBSession,
    viewer: Viewer,
    *,
    hash_type: str = "pdq",
    value: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    found: list[dict[str, Any]] | None = None
    if value.strip():
        try:
            found = [
                {"bank": bank, "entry": entry, "enabled": _enabled(entry)}
                for entry, bank in banks.search_entries(session, hash_type, value.strip(), limit=100)
            ]
        except ModerationError as exc:
            error, status_code = exc.message, exc.status
    rows = [{"bank": b, "entries": banks.count_entries(session, b)} for b in banks.all(session)]
    return render(
        request,
        "banks.html",
        viewer,
        status_code=status_code,
        rows=rows,
        found=found,
        search={"hash_type": hash_type, "value": value},
        hash_types=HASH_TYPES,
        error=error,
    )


@router.post("/banks", dependencies=[CSRF])
def create_bank(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    name: Annotated[str, Form(max_length=100)] = "",
    action: Annotated[str, Form(max_length=10)] = "block",
    description: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    require_roles(viewer, "admin")
    try:
        banks.create(
            session, name=name.strip(), action=action, description=description or None, actor=actor(viewer)
        )
    except ModerationError as exc:
        session.rollback()
        return _banks(request, session, viewer, error=exc.message, status_code=exc.status)
    return RedirectResponse(f"/admin/banks/{name.strip()}", status_code=303)


# --- one bank ----------------------------------------------------------------------------------


@router.get("/banks/{name}", response_class=HTMLResponse)
def bank_page(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    name: str,
    cursor: Annotated[str, Query(max_length=512)] = "",
    hash_type: Annotated[str, Query(max_length=16)] = "",
    value: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    require_roles(viewer, *READERS)
    return _bank(request, session, viewer, name, cursor=cursor, hash_type=hash_type, value=value)


def _bank(
    request: Request,
    session: DBSession,
    viewer: Viewer,
    name: str,
    *,
    cursor: str = "",
    hash_type: str = "",
    value: str = "",
    report: Any = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    try:
        bank = banks.get(session, name)
    except ModerationError as exc:
        raise PageNotFound(exc.message) from exc
    try:
        page = banks.list_entries(
            session,
            name,
            cursor=cursor or None,
            limit=PAGE_SIZE,
            hash_type=hash_type or None,
            value=value.strip() or None,
        )
        entries, next_cursor = page.items, page.next_cursor
    except ModerationError as exc:
        entries, next_cursor = [], None
        error, status_code = exc.message, exc.status
    return render(
        request,
        "bank.html",
        viewer,
        status_code=status_code,
        bank=bank,
        total=banks.count_entries(session, bank),
        entries=[{"entry": e, "enabled": _enabled(e)} for e in entries],
        next_cursor=next_cursor,
        filters={"hash_type": hash_type, "value": value},
        hash_types=HASH_TYPES,
        formats=[f.value for f in FileFormat],
        report=report,
        error=error,
    )


def _change(
    request: Request, session: DBSession, viewer: Viewer, name: str, change: Any, **page: Any
) -> Response:
    require_roles(viewer, "admin")
    try:
        result = change()
    except ModerationError as exc:
        session.rollback()
        return _bank(request, session, viewer, name, error=exc.message, status_code=exc.status)
    if page:
        return _bank(request, session, viewer, name, report=result, **page)
    return RedirectResponse(f"/admin/banks/{name}", status_code=303)


@router.post("/banks/{name}/hashes", dependencies=[CSRF])
def add_hash(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    name: str,
    hash_type: Annotated[str, Form(max_length=16)] = "pdq",
    value: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    return _change(
        request,
        session,
        viewer,
        name,
        lambda: banks.add_hashes(
            session,
            name,
            [(hash_type, value.strip())],
            source="upload",
            note=note.strip() or None,
            actor=actor(viewer),
        ),
    )


@router.post("/banks/{name}/image", dependencies=[CSRF])
async def add_image(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    name: str,
    image: Annotated[UploadFile | None, File()] = None,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    require_roles(viewer, "admin")
    limits = ImageLimits.from_settings(request.app.state.settings)
    data = await image.read(limits.max_bytes + 1) if image is not None else b""

    def change() -> Any:
        if not data:
            raise ValidationFailed("choose an image file to add", code="no_image")
        return banks.add_image(
            session,
            name,
            data,
            note=note.strip() or None,
            source="upload",
            actor=actor(viewer),
            limits=limits,
        )

    return _change(request, session, viewer, name, change)


def _entry_change(
    request: Request, session: DBSession, viewer: Viewer, name: str, entry_id: int, change: Any
) -> Response:
    return _change(
        request, session, viewer, name, lambda: change(session, entry_id, bank_name=name, actor=actor(viewer))
    )


@router.post("/banks/{name}/entries/{entry_id}/disable", dependencies=[CSRF])
def disable_entry(
    request: Request, session: DBSession, viewer: ViewerDep, name: str, entry_id: BigID
) -> Response:
    return _entry_change(request, session, viewer, name, entry_id, banks.disable_entry)


@router.post("/banks/{name}/entries/{entry_id}/enable", dependencies=[CSRF])
def enable_entry(
    request: Request, session: DBSession, viewer: ViewerDep, name: str, entry_id: BigID
) -> Response:
    return _entry_change(request, session, viewer, name, entry_id, banks.enable_entry)


def _text_lines(upload: UploadFile) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for raw in upload.file:
        yield decoder.decode(raw)


@router.post("/banks/{name}/import", dependencies=[CSRF])
def import_file(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    name: str,
    file: Annotated[UploadFile | None, File()] = None,
    format: Annotated[str, Form(max_length=10)] = "",
    strict: Annotated[bool, Form()] = False,
) -> Response:
    def change() -> Any:
        if file is None or not file.filename:
            raise ValidationFailed("choose a file to import", code="no_file")
        if format and format not in {f.value for f in FileFormat}:
            raise ValidationFailed(f"unknown format '{format}'", code="invalid_format")
        fmt = FileFormat(format) if format else FileFormat.for_path(file.filename)
        return banks.import_lines(
            session,
            name,
            _text_lines(file),
            fmt=fmt,
            source=f"import:{file.filename.rsplit('/', 1)[-1][:100]}",
            strict=strict,
            actor=actor(viewer),
        )

    return _change(request, session, viewer, name, change, cursor="")


@router.post("/banks/{name}/export", dependencies=[CSRF])
def export_file(
    request: Request,
    session: DBSession,
    viewer: ViewerDep,
    name: str,
    format: Annotated[str, Form(max_length=10)] = "csv",
) -> Response:
    """A download of the bank's hashes; the export is audited before it streams."""
    require_roles(viewer, "admin")
    try:
        fmt = FileFormat(format)
        banks.record_export(session, name, fmt, actor=actor(viewer))
    except ValueError:
        return _bank(request, session, viewer, name, error=f"unknown format '{format}'", status_code=422)
    except ModerationError as exc:
        raise PageNotFound(exc.message) from exc
    # The request's transaction (with the audit event) commits before the body streams.
    return StreamingResponse(
        banks.stream_export(request.app.state.engine, name, fmt),
        media_type=_MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}.{_EXTENSION[fmt]}"'},
    )
