"""Builds the report and file-details XML from typed values, in the pinned schema's order, and reads the
API's response XML. Pure: no database, no HTTP."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moderation.reporting.schema import validate

MAX_RESPONSE_BYTES = 1_000_000


@dataclass(frozen=True)
class IpEvent:
    ip_address: str
    event_name: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class ReportedUser:
    """The suspect's account as the platform supplied it."""

    esp_identifier: str | None = None
    esp_service: str | None = None
    screen_name: str | None = None
    display_names: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    profile_urls: tuple[str, ...] = ()
    ip_events: tuple[IpEvent, ...] = ()
    prior_reports: tuple[int, ...] = ()
    additional_info: str | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.esp_identifier
            or self.screen_name
            or self.display_names
            or self.emails
            or self.profile_urls
            or self.ip_events
            or self.prior_reports
        )


@dataclass(frozen=True)
class Reporter:
    email: str
    first_name: str | None = None
    last_name: str | None = None
    company_template: str | None = None
    terms_of_service: str | None = None
    legal_url: str | None = None


@dataclass(frozen=True)
class ReportDocument:
    incident_type: str
    incident_at: datetime
    reporter: Reporter
    platform: str | None = None
    escalate_reason: str | None = None
    urls: tuple[str, ...] = ()
    user: ReportedUser = field(default_factory=ReportedUser)
    additional_info: str | None = None


@dataclass(frozen=True)
class FileDetailsDocument:
    report_id: int
    file_id: str
    viewed_by_esp: bool
    original_file_name: str | None = None
    uploaded_at: datetime | None = None
    location: str | None = None
    hashes: tuple[tuple[str, str], ...] = ()
    upload_ip: str | None = None
    additional_info: str | None = None


def _when(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime in a report")
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _add(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = text
    return element


def _ip_event(parent: ET.Element, event: IpEvent) -> None:
    node = _add(parent, "ipCaptureEvent")
    _add(node, "ipAddress", event.ip_address)
    if event.event_name:
        _add(node, "eventName", event.event_name)
    if event.at:
        _add(node, "dateTime", _when(event.at))


def _serialise(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def report_xml(doc: ReportDocument, *, now: datetime) -> bytes:
    """The `<report>` document, checked against the pinned schema (SchemaViolation if it breaks it)."""
    root = ET.Element("report")
    summary = _add(root, "incidentSummary")
    _add(summary, "incidentType", doc.incident_type)
    if doc.platform:
        _add(summary, "platform", doc.platform)
    if doc.escalate_reason:
        _add(summary, "escalateToHighPriority", doc.escalate_reason)
    _add(summary, "incidentDateTime", _when(doc.incident_at))
    if doc.urls:
        web = _add(_add(root, "internetDetails"), "webPageIncident")
        for url in doc.urls:
            _add(web, "url", url)
    reporter = _add(root, "reporter")
    person = _add(reporter, "reportingPerson")
    if doc.reporter.first_name:
        _add(person, "firstName", doc.reporter.first_name)
    if doc.reporter.last_name:
        _add(person, "lastName", doc.reporter.last_name)
    _add(person, "email", doc.reporter.email)
    if doc.reporter.company_template:
        _add(reporter, "companyTemplate", doc.reporter.company_template)
    if doc.reporter.terms_of_service:
        _add(reporter, "termsOfService", doc.reporter.terms_of_service)
    if doc.reporter.legal_url:
        _add(reporter, "legalURL", doc.reporter.legal_url)
    user = doc.user
    if not user.empty:
        node = _add(root, "personOrUserReported")
        if user.emails:
            who = _add(node, "personOrUserReportedPerson")
            for email in user.emails:
                _add(who, "email", email)
        if user.esp_identifier:
            _add(node, "espIdentifier", user.esp_identifier)
        if user.esp_service:
            _add(node, "espService", user.esp_service)
        if user.screen_name:
            _add(node, "screenName", user.screen_name)
        for name in user.display_names:
            _add(node, "displayName", name)
        for url in user.profile_urls:
            _add(node, "profileUrl", url)
        for event in user.ip_events:
            _ip_event(node, event)
        for prior in user.prior_reports:
            _add(node, "priorCTReports", str(prior))
        if user.additional_info:
            _add(node, "additionalInfo", user.additional_info)
    if doc.additional_info:
        _add(root, "additionalInfo", doc.additional_info)
    body = _serialise(root)
    validate(body, now=now)
    return body


def file_details_xml(doc: FileDetailsDocument) -> bytes:
    """The `<fileDetails>` document of one uploaded file. `fileViewedByEsp` is true only when a person
    opened the whole file through the case; EXIF is never shown, so `exifViewedByEsp` is always false."""
    root = ET.Element("fileDetails")
    _add(root, "reportId", str(doc.report_id))
    _add(root, "fileId", doc.file_id)
    if doc.original_file_name:
        _add(root, "originalFileName", doc.original_file_name)
    if doc.uploaded_at:
        _add(root, "uploadedToEspTimestamp", _when(doc.uploaded_at))
    if doc.location:
        _add(root, "locationOfFile", doc.location)
    _add(root, "fileViewedByEsp", "true" if doc.viewed_by_esp else "false")
    _add(root, "exifViewedByEsp", "false")
    for hash_type, value in doc.hashes:
        _add(root, "originalFileHash", value, hashType=hash_type)
    if doc.upload_ip:
        _ip_event(root, IpEvent(doc.upload_ip, "Upload", doc.uploaded_at))
    if doc.additional_info:
        _add(root, "additionalInfo", doc.additional_info)
    body = _serialise(root)
    validate(body)
    return body


@dataclass(frozen=True)
class Response:
    """A `<reportResponse>` or `<reportDoneResponse>`: code 0 is success."""

    code: int
    description: str
    report_id: int | None = None
    file_id: str | None = None
    md5: str | None = None
    file_ids: tuple[str, ...] = ()


class MalformedResponse(ValueError):
    pass


def parse_response(body: bytes) -> Response:
    """Read the API's response XML. Bounded, and a document type declaration is refused, so no entity
    expansion can happen; the rest is plain elements read with the standard parser."""
    if len(body) > MAX_RESPONSE_BYTES:
        raise MalformedResponse("response larger than 1 MB")
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise MalformedResponse("response carries a document type declaration")
    try:
        root = ET.fromstring(body)  # noqa: S314 - bounded, no DTD (checked above)
    except ET.ParseError as exc:
        raise MalformedResponse(f"response is not XML: {exc}") from exc
    code_text = root.findtext(".//responseCode")
    if code_text is None or not code_text.strip().lstrip("-").isdigit():
        raise MalformedResponse("response has no responseCode")
    report_id = root.findtext(".//reportId")
    values: dict[str, Any] = {
        "code": int(code_text.strip()),
        "description": (root.findtext(".//responseDescription") or "").strip()[:2000],
        "report_id": int(report_id) if report_id and report_id.strip().isdigit() else None,
        "file_id": (root.findtext("fileId") or "").strip() or None,
        "md5": (root.findtext("hash") or "").strip() or None,
        "file_ids": tuple((f.text or "").strip() for f in root.findall("files/fileId")),
    }
    return Response(**values)
