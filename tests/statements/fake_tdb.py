"""A local fake of the DSA Transparency Database API (served over real HTTP on 127.0.0.1).

It applies the documented validation on its own (written from the reference, not from the service's
validator): required fields, enumerations, the conditional rules, dates, puid form and uniqueness; a
batch is stored all or none; a repeated puid is refused with `existing_puids`. `outage` answers 503
to the next N requests. Every request is logged.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VISIBILITY = {
    "DECISION_VISIBILITY_CONTENT_REMOVED",
    "DECISION_VISIBILITY_CONTENT_DISABLED",
    "DECISION_VISIBILITY_CONTENT_DEMOTED",
    "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
    "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED",
    "DECISION_VISIBILITY_CONTENT_LABELLED",
    "DECISION_VISIBILITY_OTHER",
}
CATEGORIES = {
    f"STATEMENT_CATEGORY_{c}"
    for c in [
        "ANIMAL_WELFARE",
        "CONSUMER_INFORMATION",
        "CYBER_VIOLENCE",
        "CYBER_VIOLENCE_AGAINST_WOMEN",
        "DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
        "ILLEGAL_OR_HARMFUL_SPEECH",
        "INTELLECTUAL_PROPERTY_INFRINGEMENTS",
        "NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
        "NOT_SPECIFIED_NOTICE",
        "OTHER_VIOLATION_TC",
        "PROTECTION_OF_MINORS",
        "RISK_FOR_PUBLIC_SECURITY",
        "SCAMS_AND_FRAUD",
        "SELF_HARM",
        "UNSAFE_AND_PROHIBITED_PRODUCTS",
        "VIOLENCE",
    ]
}
CONTENT_TYPES = {
    f"CONTENT_TYPE_{t}"
    for t in ["APP", "AUDIO", "IMAGE", "PRODUCT", "SYNTHETIC_MEDIA", "TEXT", "VIDEO", "OTHER"]
}
COUNTRIES = set(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IS IT LI LT LU LV MT NL NO PL PT RO SE SI SK".split()  # noqa: SIM905
)
SOURCES = {
    "SOURCE_ARTICLE_16",
    "SOURCE_TRUSTED_FLAGGER",
    "SOURCE_TYPE_OTHER_NOTIFICATION",
    "SOURCE_VOLUNTARY",
}
AUTOMATED = {"AUTOMATED_DECISION_FULLY", "AUTOMATED_DECISION_PARTIALLY", "AUTOMATED_DECISION_NOT_AUTOMATED"}
ILLEGAL, INCOMPATIBLE = "DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT"


def _date_ok(value: Any, low: date, high: date) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        return low <= date.fromisoformat(value) <= high
    except ValueError:
        return False


def validate(s: dict[str, Any]) -> dict[str, list[str]]:
    """The documented rules, as a Laravel-style {field: [messages]} (empty when valid)."""
    errors: dict[str, list[str]] = {}

    def fail(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    def blank(v: Any) -> bool:
        return v is None or v == "" or v == [] or (isinstance(v, str) and not v.strip())

    if all(
        blank(s.get(f))
        for f in ("decision_visibility", "decision_monetary", "decision_provision", "decision_account")
    ):
        fail("decision_visibility", "The decision visibility field is required when none of ... are present.")
    for v in s.get("decision_visibility") or []:
        if v not in VISIBILITY:
            fail("decision_visibility", "The selected decision visibility is invalid.")
    if "DECISION_VISIBILITY_OTHER" in (s.get("decision_visibility") or []) and blank(
        s.get("decision_visibility_other")
    ):
        fail("decision_visibility_other", "required")
    ground = s.get("decision_ground")
    if ground not in (ILLEGAL, INCOMPATIBLE):
        fail("decision_ground", "The selected decision ground is invalid.")
    if ground == ILLEGAL:
        for f in ("illegal_content_legal_ground", "illegal_content_explanation"):
            if blank(s.get(f)):
                fail(f, "required")
    if ground == INCOMPATIBLE:
        for f in ("incompatible_content_ground", "incompatible_content_explanation"):
            if blank(s.get(f)):
                fail(f, "required")
    types = s.get("content_type")
    if not isinstance(types, list) or not types or any(t not in CONTENT_TYPES for t in types):
        fail("content_type", "The content type field is required.")
    if s.get("category") not in CATEGORIES:
        fail("category", "The selected category is invalid.")
    scope = s.get("territorial_scope")
    if scope is not None and (not isinstance(scope, list) or any(c not in COUNTRIES for c in scope)):
        fail("territorial_scope", "The selected territorial scope is invalid.")
    if not _date_ok(s.get("content_date"), date(2000, 1, 1), date(2038, 1, 1)):
        fail("content_date", "The content date is not a valid date.")
    if not _date_ok(s.get("application_date"), date(2020, 1, 1), date(2038, 1, 1)):
        fail("application_date", "The application date is not a valid date.")
    end = s.get("end_date_visibility_restriction")
    if end is not None and not _date_ok(end, date(2000, 1, 1), date(2038, 1, 1)):
        fail("end_date_visibility_restriction", "invalid date")
    facts = s.get("decision_facts")
    if not isinstance(facts, str) or blank(facts) or len(facts) > 5000:
        fail("decision_facts", "The decision facts field is required.")
    if s.get("source_type") not in SOURCES:
        fail("source_type", "The selected source type is invalid.")
    if s.get("automated_detection") not in ("Yes", "No"):
        fail("automated_detection", "The selected automated detection is invalid.")
    if s.get("automated_decision") not in AUTOMATED:
        fail("automated_decision", "The selected automated decision is invalid.")
    puid = s.get("puid")
    if not isinstance(puid, str) or len(puid) > 500 or not re.fullmatch(r"[A-Za-z0-9_-]+", puid):
        fail("puid", "The puid format is invalid.")
    return errors


class FakeTransparencyDatabase:
    def __init__(self, token: str = "test-token") -> None:  # noqa: S107 - a test fake
        self.token = token
        self.stored: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[str, str, int]] = []
        self.outage = 0
        # puids this fake refuses as a server-side rule the client does not know (a changed enum, say).
        self.reject_puids: set[str] = set()
        # Refuse such a batch without naming the statement (the client must isolate it itself).
        self.anonymous_batch_errors = False
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeTransparencyDatabase:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _validate(self, statement: dict[str, Any]) -> dict[str, list[str]]:
        errors = validate(statement)
        if statement.get("puid") in self.reject_puids:
            errors.setdefault("category", []).append("The selected category is invalid.")
        return errors

    def _store(self, statement: dict[str, Any]) -> dict[str, Any]:
        stored = {**statement, "uuid": str(uuid.uuid4())}
        stored["permalink"] = f"{self.url}/statement/{stored['uuid']}"
        self.stored[statement["puid"]] = stored
        return stored

    def handle(self, method: str, path: str, body: Any, token: str | None) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if self.outage > 0:
                self.outage -= 1
                return 503, {"message": "Service Unavailable"}
            if token != f"Bearer {self.token}":
                return 401, {"message": "Unauthenticated."}
            if method == "GET" and path.startswith("/api/v1/statement/existing-puid/"):
                puid = path.rsplit("/", 1)[1]
                if puid in self.stored:
                    return 302, {"message": "statement of reason found", "puid": puid}
                return 404, {"message": "statement of reason not found"}
            if method == "POST" and path == "/api/v1/statement":
                if not isinstance(body, dict):
                    return 422, {"message": "invalid", "errors": {}}
                errors = self._validate(body)
                if errors:
                    return 422, {"message": "The given data was invalid.", "errors": errors}
                if body["puid"] in self.stored:
                    return 422, {
                        "message": "The identifier given is not unique within this platform.",
                        "errors": {"puid": ["The identifier given is not unique within this platform."]},
                        "existing": {"puid": body["puid"]},
                    }
                return 201, self._store(body)
            if method == "POST" and path == "/api/v1/statements":
                statements = body.get("statements") if isinstance(body, dict) else None
                if not isinstance(statements, list) or not 1 <= len(statements) <= 100:
                    return 422, {
                        "message": "The statements field is invalid.",
                        "errors": {"statements": ["bad"]},
                    }
                batch_errors = {
                    f"statement_{i}": e
                    for i, s in enumerate(statements)
                    if (e := self._validate(s if isinstance(s, dict) else {}))
                }
                if batch_errors and self.anonymous_batch_errors:
                    return 422, {
                        "message": "The given data was invalid.",
                        "errors": {"statements": ["invalid"]},
                    }
                if batch_errors:
                    return 422, {"message": "The given data was invalid.", "errors": batch_errors}
                puids = [s["puid"] for s in statements]
                repeated = sorted({p for p in puids if p in self.stored or puids.count(p) > 1})
                if repeated:
                    return 422, {
                        "message": "The platform identifier(s) are not all unique within this call.",
                        "errors": {"existing_puids": repeated},
                    }
                return 201, {"statements": [self._store(s) for s in statements]}
            return 404, {"message": "Not Found"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                status, answer = fake.handle(method, self.path, body, self.headers.get("Authorization"))
                count = (
                    len(body.get("statements", [])) if isinstance(body, dict) and "statements" in body else 1
                )
                fake.log.append((method, self.path, status if count else 0))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
