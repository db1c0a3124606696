"""Domain errors: each carries its HTTP status and a stable machine-readable code."""

from __future__ import annotations

from typing import Any


class ModerationError(Exception):
    """Base of every error the service reports to a client.

    `code` is stable and machine-readable (clients switch on it), `message` is for humans,
    `status` is the HTTP status the API answers with, `details` is optional structured context.
    """

    code: str = "error"
    status: int = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class BadRequest(ModerationError):
    code = "bad_request"
    status = 400


class ValidationFailed(ModerationError):
    code = "validation_error"
    status = 422


class Unauthenticated(ModerationError):
    code = "unauthenticated"
    status = 401


class Forbidden(ModerationError):
    code = "forbidden"
    status = 403


class NotFound(ModerationError):
    code = "not_found"
    status = 404


class Conflict(ModerationError):
    code = "conflict"
    status = 409


class IllegalTransition(Conflict):
    code = "illegal_transition"


class ImageRejected(ModerationError):
    """An image refused at intake. Subclasses name why; the code is stable."""

    code = "image_rejected"
    status = 422


class ImageTooLarge(ImageRejected):
    code = "image_too_large"
    status = 413


class ImageDimensionsTooLarge(ImageRejected):
    """Too many pixels: a decompression bomb or simply an oversized image."""

    code = "image_dimensions_too_large"
    status = 413


class UnsupportedFormat(ImageRejected):
    code = "unsupported_format"
    status = 415


class CorruptImage(ImageRejected):
    code = "corrupt_image"
    status = 422


class EmptyImage(ImageRejected):
    code = "empty_image"
    status = 422


class PolicyError(Exception):
    """A policy file is invalid. Raised at start-up; the message names the file and the field."""


class ConfigurationError(Exception):
    """Settings are unusable (for example a placeholder secret outside development)."""


class SchemaOutOfDate(Exception):
    """The database schema is behind the code's migrations."""


class VideoRejected(ModerationError):
    """A video refused at intake. Subclasses name why; the code is stable."""

    code = "video_rejected"
    status = 422


class VideoTooLarge(VideoRejected):
    code = "video_too_large"
    status = 413


class VideoTooLong(VideoRejected):
    """Longer than `MODERATION_MAX_VIDEO_SECONDS` (by its header, or found while decoding)."""

    code = "video_too_long"
    status = 413


class VideoTooManyFrames(VideoRejected):
    """More sampled frames than `MODERATION_MAX_VIDEO_FRAMES_HASHED`."""

    code = "video_too_many_frames"
    status = 413


class VideoDimensionsTooLarge(VideoRejected):
    code = "video_dimensions_too_large"
    status = 413


class VideoDecodeTimeout(VideoRejected):
    """Decoding took longer than `MODERATION_MAX_VIDEO_DECODE_SECONDS`."""

    code = "video_decode_timeout"
    status = 422


class CorruptVideo(VideoRejected):
    code = "corrupt_video"
    status = 422


class TruncatedVideo(VideoRejected):
    """The data ends before the container says it should (a partial upload or download)."""

    code = "truncated_video"
    status = 422


class EmptyVideo(VideoRejected):
    """A video container without a single decodable frame."""

    code = "empty_video"
    status = 422


class NoVideoStream(VideoRejected):
    """A container holding audio (or nothing) but no video stream."""

    code = "no_video_stream"
    status = 422
