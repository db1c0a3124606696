"""Structured logs: one JSON object per line (or plain text for development), with the request id.

`configure_logging` installs one handler on the root logger (replacing only a handler it installed
before, so test capture handlers stay). Every line carries the bound request id; fields passed as
`extra={"fields": {...}}` are added to the object. A last-line scrubber removes anything shaped like
an API key or a bearer token, in case a message ever quotes one: services never log secrets, image
bytes, reporter contact details or prompts, and a test scans a full run's logs for them."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from moderation.kit.request_context import current_request_id

LogFormat = Literal["json", "text"]

_SECRET_SHAPES = re.compile(r"(mod_[A-Za-z0-9]+_[A-Za-z0-9_-]{8,})|((?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,})")
_HANDLER_NAME = "moderation"


def scrub(text: str) -> str:
    """Replace API keys and bearer tokens in `text` with a marker."""
    return _SECRET_SHAPES.sub("[redacted]", text)


class RequestIdFilter(logging.Filter):
    """Stamps every record with the request id bound where it was logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "request_id", ...fields, "exception"}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
            "request_id": getattr(record, "request_id", None),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            body.update({k: v for k, v in fields.items() if k not in body})
        if record.exc_info:
            body["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(body, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [request id]: message key=value ...` for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return scrub(line)


def configure_logging(
    level: str = "INFO", log_format: LogFormat = "json", stream: Any = None, *, force: bool = False
) -> None:
    """Send every log record to `stream` (stderr) in `log_format`; uvicorn's loggers included.
    Like `logging.basicConfig`, it leaves a root logger that something else (a test runner, an
    embedding application) already configured alone, unless `force`."""
    root = logging.getLogger()
    if not force and any(h.get_name() != _HANDLER_NAME for h in root.handlers):
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # The request middleware logs one line per request with its id; uvicorn's access line would repeat it.
    logging.getLogger("uvicorn.access").handlers.clear()
    logging.getLogger("uvicorn.access").propagate = False
