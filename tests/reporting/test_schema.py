"""The pinned-schema validator: each rule the generated XML relies on is enforced (and can fail)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from moderation.reporting.documents import (
    FileDetailsDocument,
    IpEvent,
    ReportDocument,
    ReportedUser,
    Reporter,
    file_details_xml,
    parse_response,
    report_xml,
)
from moderation.reporting.schema import SCHEMA_VERSION, SchemaViolation, validate

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _report(**changes: object) -> ReportDocument:
    values: dict[str, object] = {
        "incident_type": "Child Pornography (possession, manufacture, and distribution)",
        "incident_at": NOW - timedelta(hours=1),
        "reporter": Reporter(email="ts@platform.example", first_name="Dana"),
        "platform": "Example",
        "urls": ("https://platform.example/p/1",),
        "user": ReportedUser(
            esp_identifier="u1", screen_name="u", ip_events=(IpEvent("192.0.2.1", "Login"),)
        ),
        "additional_info": "hash match",
    }
    values.update(changes)
    return ReportDocument(**values)  # type: ignore[arg-type]


def test_a_full_report_is_valid_and_in_schema_order() -> None:
    body = report_xml(_report(escalate_reason="child in immediate danger"), now=NOW)
    root = validate(body, now=NOW)
    assert [c.tag for c in root] == [
        "incidentSummary",
        "internetDetails",
        "reporter",
        "personOrUserReported",
        "additionalInfo",
    ]
    assert [c.tag for c in root.find("incidentSummary")] == [  # type: ignore[union-attr]
        "incidentType",
        "platform",
        "escalateToHighPriority",
        "incidentDateTime",
    ]
    assert root.findtext("incidentSummary/incidentDateTime") == "2026-11-29T11:00:00Z"
    assert SCHEMA_VERSION == "ispws-xsd-2025-11-10"


@pytest.mark.parametrize(
    ("document", "fault"),
    [
        # out of order: reporter before incidentSummary
        (
            b"<report><reporter><reportingPerson><email>a@b</email></reportingPerson></reporter>"
            b"<incidentSummary><incidentType>Child Sex Tourism</incidentType>"
            b"<incidentDateTime>2026-01-01T00:00:00Z</incidentDateTime></incidentSummary></report>",
            "<incidentSummary> is required",
        ),
        # out of order inside fileDetails: originalFileName after fileViewedByEsp
        (
            b"<fileDetails><reportId>1</reportId><fileId>f</fileId><fileViewedByEsp>true</fileViewedByEsp>"
            b"<originalFileName>x.png</originalFileName></fileDetails>",
            "out of order",
        ),
        # the reporting person's email is required by the documentation
        (
            b"<report><incidentSummary><incidentType>Child Sex Tourism</incidentType>"
            b"<incidentDateTime>2026-01-01T00:00:00Z</incidentDateTime></incidentSummary>"
            b"<reporter><reportingPerson><firstName>A</firstName></reportingPerson></reporter></report>",
            "<email> is required",
        ),
        # an incident type outside the enumeration
        (
            b"<report><incidentSummary><incidentType>Spam</incidentType>"
            b"<incidentDateTime>2026-01-01T00:00:00Z</incidentDateTime></incidentSummary>"
            b"<reporter><reportingPerson><email>a@b</email></reportingPerson></reporter></report>",
            "must be one of",
        ),
        # a date-time without a zone
        (
            b"<report><incidentSummary><incidentType>Child Sex Tourism</incidentType>"
            b"<incidentDateTime>2026-01-01T00:00:00</incidentDateTime></incidentSummary>"
            b"<reporter><reportingPerson><email>a@b</email></reportingPerson></reporter></report>",
            "time zone",
        ),
        # a URL with whitespace (the API answers 4100)
        (
            b"<report><incidentSummary><incidentType>Child Sex Tourism</incidentType>"
            b"<incidentDateTime>2026-01-01T00:00:00Z</incidentDateTime></incidentSummary>"
            b"<internetDetails><webPageIncident><url>https://a.example/x y</url></webPageIncident>"
            b"</internetDetails>"
            b"<reporter><reportingPerson><email>a@b</email></reportingPerson></reporter></report>",
            "without whitespace",
        ),
        # an element the schema does not have
        (
            b"<report><incidentSummary><incidentType>Child Sex Tourism</incidentType>"
            b"<incidentDateTime>2026-01-01T00:00:00Z</incidentDateTime><informational/></incidentSummary>"
            b"<reporter><reportingPerson><email>a@b</email></reportingPerson></reporter></report>",
            "informational",
        ),
        # two upload IP events on one file (the XSD allows one)
        (
            b"<fileDetails><reportId>1</reportId><fileId>f</fileId>"
            b"<ipCaptureEvent><ipAddress>192.0.2.1</ipAddress></ipCaptureEvent>"
            b"<ipCaptureEvent><ipAddress>192.0.2.2</ipAddress></ipCaptureEvent></fileDetails>",
            "at most 1",
        ),
        # EXIF viewed but not the file
        (
            b"<fileDetails><reportId>1</reportId><fileId>f</fileId><fileViewedByEsp>false</fileViewedByEsp>"
            b"<exifViewedByEsp>true</exifViewedByEsp></fileDetails>",
            "exifViewedByEsp",
        ),
        # a hash without its type
        (
            b"<fileDetails><reportId>1</reportId><fileId>f</fileId>"
            b"<originalFileHash>abc</originalFileHash></fileDetails>",
            "hashType",
        ),
    ],
)
def test_the_validator_refuses(document: bytes, fault: str) -> None:
    with pytest.raises(SchemaViolation, match=fault):
        validate(document)


def test_an_incident_in_the_future_is_refused() -> None:
    with pytest.raises(SchemaViolation, match="in the past"):
        report_xml(_report(incident_at=NOW + timedelta(minutes=1)), now=NOW)


def test_file_details_say_viewed_exactly_as_recorded() -> None:
    def details(viewed: bool) -> str | None:
        doc = FileDetailsDocument(
            report_id=7,
            file_id="abc",
            viewed_by_esp=viewed,
            uploaded_at=NOW,
            hashes=(("MD5", "0" * 32),),
            upload_ip="192.0.2.1",
        )
        return validate(file_details_xml(doc)).findtext("fileViewedByEsp")

    assert details(True) == "true" and details(False) == "false"


def test_responses_are_parsed_and_hostile_ones_refused() -> None:
    from moderation.reporting.documents import MalformedResponse

    ok = parse_response(
        b"<reportResponse><responseCode>0</responseCode><responseDescription>Success</responseDescription>"
        b"<reportId>4242</reportId></reportResponse>"
    )
    assert (ok.code, ok.report_id) == (0, 4242)
    done = parse_response(
        b"<reportDoneResponse><responseCode>0</responseCode><reportId>1</reportId>"
        b"<files><fileId>a</fileId><fileId>b</fileId></files></reportDoneResponse>"
    )
    assert done.file_ids == ("a", "b")
    for hostile in (
        b'<!DOCTYPE r [<!ENTITY a "aaaa">]><r><responseCode>0</responseCode></r>',
        b"<html>Authentication Required</html>",
        b"not xml",
    ):
        with pytest.raises(MalformedResponse):
            parse_response(hostile)
