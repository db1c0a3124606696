"""Streaming multipart reader for check uploads: limits are enforced while the body arrives.

FastAPI's `UploadFile` spools the whole body before the endpoint runs; here a file part stops being
kept the moment it passes the byte limit, the whole body is capped, and the declared part
content type is ignored (the bytes are sniffed by the image intake instead, because it lies).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from moderation.exceptions import BadRequest, ImageTooLarge, ModerationError, VideoTooLarge
from moderation.hashing.video import may_be_video

MAX_FIELD_BYTES = 256 * 1024
# Room for part headers and boundaries on top of the file bytes.
BODY_OVERHEAD_BYTES = 1024 * 1024


class MalformedRequest(BadRequest):
    code = "malformed_request"


class MissingFile(BadRequest):
    code = "missing_file"


class UnsupportedMediaType(ModerationError):
    code = "unsupported_media_type"
    status = 415


class RequestTooLarge(ModerationError):
    code = "request_too_large"
    status = 413


@dataclass
class Part:
    name: str
    filename: str | None
    data: bytearray = field(default_factory=bytearray)
    too_large: bool = False
    is_file: bool = False
    video: bool = False
    limit: int | None = None

    def error(self, max_bytes: int) -> ModerationError | None:
        if self.too_large:
            limit = self.limit or max_bytes
            if self.video:
                return VideoTooLarge(
                    f"the video is larger than the limit of {limit} bytes", details={"max_bytes": limit}
                )
            return ImageTooLarge(
                f"the image is larger than the limit of {limit} bytes", details={"max_bytes": limit}
            )
        return None


def _part_limit(part: Part, chunk: bytes, max_file_bytes: int, max_video_bytes: int | None) -> int:
    """A file part's byte limit: the video limit when its first bytes could start a video."""
    if not part.is_file:
        return MAX_FIELD_BYTES
    if max_video_bytes is None:
        return max_file_bytes
    if not part.data:
        part.video = may_be_video(bytes(chunk[:64]))
    return max(max_file_bytes, max_video_bytes) if part.video else max_file_bytes


@dataclass
class Upload:
    files: list[Part]
    fields: dict[str, bytes]
    read_ms: float


def _disposition(value: bytes) -> tuple[str, str | None]:
    kind, params = parse_options_header(value)
    if kind != b"form-data" or b"name" not in params:
        raise MalformedRequest("every part needs a `Content-Disposition: form-data; name=...` header")
    name = params[b"name"].decode("utf-8", "replace")
    filename = params.get(b"filename")
    return name, None if filename is None else filename.decode("utf-8", "replace")


async def read_upload(
    request: Request,
    *,
    file_fields: tuple[str, ...],
    max_file_bytes: int,
    max_files: int,
    stop_on_large_file: bool,
    max_video_bytes: int | None = None,
) -> Upload:
    """Read a multipart/form-data body. Parts named in `file_fields` are files (kept up to
    `max_file_bytes` each; at most `max_files`); other parts are small text fields."""
    started = time.perf_counter()
    kind, params = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data":
        raise UnsupportedMediaType(
            "send the image as multipart/form-data with a `file` part",
            details={"content_type": kind.decode()},
        )
    boundary = params.get(b"boundary")
    if not boundary:
        raise MalformedRequest("the multipart/form-data content type has no boundary")
    # A video part may use the video limit: one video's worth on top of the images' allowance.
    max_body = max_files * max_file_bytes + (max_video_bytes or 0) + BODY_OVERHEAD_BYTES
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body:
        if stop_on_large_file and max_files == 1:
            raise ImageTooLarge(
                f"the request is {declared} bytes; the image limit is {max_file_bytes}",
                details={"max_bytes": max_file_bytes},
            )
        raise RequestTooLarge(f"the request is {declared} bytes; the limit is {max_body}")

    files: list[Part] = []
    fields: dict[str, bytes] = {}
    current: list[Part | None] = [None]
    header_name = bytearray()
    header_value = bytearray()
    headers: dict[bytes, bytes] = {}
    ended = [False]
    problem: list[ModerationError] = []

    def on_part_begin() -> None:
        headers.clear()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers[bytes(header_name).lower()] = bytes(header_value)
        header_name.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        name, filename = _disposition(headers.get(b"content-disposition", b""))
        part = Part(name=name, filename=filename, is_file=name in file_fields)
        if part.is_file:
            if len(files) >= max_files:
                problem.append(
                    RequestTooLarge(
                        f"at most {max_files} images per request",
                        code="too_many_images",
                        details={"max": max_files},
                    )
                )
            files.append(part)
        current[0] = part

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part = current[0]
        if part is None or part.too_large:
            return
        limit = _part_limit(part, data[start:end], max_file_bytes, max_video_bytes)
        if len(part.data) + (end - start) > limit:
            part.too_large = True
            part.limit = limit
            part.data = bytearray()
            if not part.is_file:
                problem.append(RequestTooLarge(f"form field `{part.name}` is larger than {limit} bytes"))
            elif stop_on_large_file:
                problem.append(part.error(limit) or ImageTooLarge(f"larger than {limit} bytes"))
            return
        part.data.extend(data[start:end])

    def on_part_end() -> None:
        part = current[0]
        if part is not None and not part.is_file:
            fields.setdefault(part.name, bytes(part.data))
        current[0] = None

    def on_end() -> None:
        ended[0] = True

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_end": on_end,
        },
    )
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_body:
                raise RequestTooLarge(f"the request is larger than {max_body} bytes")
            if chunk:
                parser.write(chunk)
            if problem:
                raise problem[0]
        parser.finalize()
    except MultipartParseError as exc:
        raise MalformedRequest(f"the multipart body cannot be parsed: {exc}") from exc
    except ClientDisconnect as exc:
        raise MalformedRequest("the client disconnected before the body was complete") from exc
    if problem:
        raise problem[0]
    if not ended[0]:
        raise MalformedRequest("the multipart body is incomplete (no closing boundary)")
    if not files:
        raise MissingFile(f"the request has no `{file_fields[0]}` part with the image")
    return Upload(files=files, fields=fields, read_ms=(time.perf_counter() - started) * 1000)
