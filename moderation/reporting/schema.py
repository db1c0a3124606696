"""Our own encoding of the CyberTipline report schema, for the elements this service emits.

Pinned to the schema NCMEC serves at `/ispws/xsd`, copy of 2025-11-10 (SCHEMA_VERSION), as described in
docs/reporting.md; the service never fetches it at run time. Each element lists its children in the
schema's sequence order with their cardinality; `validate()` checks order, cardinality, text types,
enumerations, lengths and the cross-field rules of the documentation (fileViewedByEsp must be true
whenever exifViewedByEsp is; incidentDateTime in the past; no whitespace in a URL).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

SCHEMA_VERSION = "ispws-xsd-2025-11-10"

INCIDENT_TYPES = (
    "Child Pornography (possession, manufacture, and distribution)",
    "Child Sex Trafficking",
    "Child Sex Tourism",
    "Child Sexual Molestation",
    "Misleading Domain Name",
    "Misleading Words or Digital Images on the Internet",
    "Online Enticement of Children for Sexual Acts",
    "Unsolicited Obscene Material Sent to a Child",
)
EVENT_NAMES = ("Login", "Registration", "Purchase", "Upload", "Other", "Unknown")
FILE_RELEVANCE = ("Reported", "Supplemental Reported")
CLASSIFICATIONS = ("A1", "A2", "B1", "B2")
FILE_ANNOTATIONS = (
    "animeDrawingVirtualHentai",
    "potentialMeme",
    "viral",
    "possibleSelfProduction",
    "physicalHarm",
    "violenceGore",
    "bestiality",
    "liveStreaming",
    "infant",
    "generativeAi",
)
REPORT_ANNOTATIONS = (
    "sextortion",
    "csamSolicitation",
    "minorToMinorInteraction",
    "spam",
    "sadisticOnlineExploitation",
)

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")


class SchemaViolation(ValueError):
    """The document breaks a rule of the pinned schema; `path` names the element."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


Check = Callable[[str], str | None]  # text -> error message, or None when valid


def _string(max_length: int | None = None, *, non_blank: bool = False) -> Check:
    def check(value: str) -> str | None:
        if non_blank and not value.strip():
            return "must not be blank"
        if max_length is not None and len(value) > max_length:
            return f"longer than {max_length} characters"
        return None

    return check


def _enum(values: tuple[str, ...]) -> Check:
    return lambda value: None if value in values else f"must be one of {', '.join(values)}"


def _boolean(value: str) -> str | None:
    return None if value in ("true", "false") else "must be true or false"


def _datetime(value: str) -> str | None:
    return None if _DATETIME.match(value) else "must be an xs:dateTime with a time zone"


def _long(value: str) -> str | None:
    return None if re.fullmatch(r"-?\d{1,19}", value) else "must be an integer"


def _url(value: str) -> str | None:
    if len(value) > 2083:
        return "longer than 2083 characters"
    return None if _URL.match(value) else "must be a URL without whitespace"


@dataclass(frozen=True)
class Item:
    """One position of a sequence: one element name (or a choice of several), with its cardinality."""

    names: tuple[str, ...]
    min: int = 0
    max: int | None = 1


def one(*names: str) -> Item:
    return Item(names, 1, 1)


def opt(*names: str) -> Item:
    return Item(names, 0, 1)


def many(*names: str, min_count: int = 0) -> Item:
    return Item(names, min_count, None)


@dataclass(frozen=True)
class Element:
    sequence: tuple[Item, ...] = ()
    text: Check | None = None
    empty: bool = False
    required_attributes: tuple[str, ...] = ()
    attributes: dict[str, Check] = field(default_factory=dict)


_PERSON = Element(
    (
        opt("firstName"),
        opt("lastName"),
        many("phone"),
        many("email"),
        many("address"),
        opt("age"),
        opt("dateOfBirth"),
    )
)
_REPORTING_PERSON = Element(
    (
        opt("firstName"),
        opt("lastName"),
        many("phone"),
        # Required by the documentation although the XSD does not enforce it.
        many("email", min_count=1),
        many("address"),
        opt("age"),
        opt("dateOfBirth"),
    )
)
_USER = Element(
    (
        opt("personOrUserReportedPerson"),
        opt("vehicleDescription"),
        opt("espIdentifier"),
        opt("espService"),
        opt("compromisedAccount"),
        opt("screenName"),
        many("displayName"),
        many("profileUrl"),
        opt("profileBio"),
        many("ipCaptureEvent"),
        many("deviceId"),
        opt("thirdPartyUserReported"),
        many("priorCTReports"),
        opt("groupIdentifier"),
        opt("accountTemporarilyDisabled"),
        opt("accountPermanentlyDisabled"),
        opt("estimatedLocation"),
        opt("allEmailsReported"),
        many("associatedAccount"),
        opt("additionalInfo"),
    )
)

ELEMENTS: dict[str, Element] = {
    "report": Element(
        (
            opt("batchedReport"),
            one("incidentSummary"),
            many("internetDetails"),
            opt("lawEnforcement"),
            one("reporter"),
            # The annotation says 0 or 1 although the XSD allows several; we send at most one.
            Item(("personOrUserReported",), 0, 1),
            many("intendedRecipient"),
            many("victim"),
            opt("additionalInfo"),
        )
    ),
    "incidentSummary": Element(
        (
            one("incidentType"),
            opt("platform"),
            opt("escalateToHighPriority"),
            opt("reportAnnotations"),
            one("incidentDateTime"),
            opt("incidentDateTimeDescription"),
        )
    ),
    "incidentType": Element(text=_enum(INCIDENT_TYPES)),
    "platform": Element(text=_string(1000, non_blank=True)),
    "escalateToHighPriority": Element(text=_string(3000, non_blank=True)),
    "reportAnnotations": Element(tuple(opt(name) for name in REPORT_ANNOTATIONS)),
    **{name: Element(empty=True) for name in (*REPORT_ANNOTATIONS, *FILE_ANNOTATIONS)},
    "incidentDateTime": Element(text=_datetime),
    "incidentDateTimeDescription": Element(text=_string(3000)),
    "internetDetails": Element(
        (
            one(
                "webPageIncident",
                "emailIncident",
                "newsgroupIncident",
                "chatImIncident",
                "onlineGamingIncident",
                "cellPhoneIncident",
                "nonInternetIncident",
                "peer2peerIncident",
            ),
        )
    ),
    "webPageIncident": Element(
        (many("url"), opt("additionalInfo")), attributes={"thirdPartyHostedContent": _boolean}
    ),
    "url": Element(text=_url),
    "reporter": Element(
        (
            one("reportingPerson"),
            opt("contactPerson"),
            opt("companyTemplate"),
            opt("termsOfService"),
            opt("legalURL"),
        )
    ),
    "reportingPerson": _REPORTING_PERSON,
    "contactPerson": _PERSON,
    "personOrUserReportedPerson": _PERSON,
    "firstName": Element(text=_string(200, non_blank=True)),
    "lastName": Element(text=_string(200, non_blank=True)),
    "email": Element(text=_string(320, non_blank=True), attributes={"verified": _boolean}),
    "phone": Element(text=_string(64, non_blank=True)),
    "companyTemplate": Element(text=_string(3000)),
    "termsOfService": Element(text=_string(3000)),
    "legalURL": Element(text=_url),
    "personOrUserReported": _USER,
    "espIdentifier": Element(text=_string(200, non_blank=True)),
    "espService": Element(text=_string(200, non_blank=True)),
    "screenName": Element(text=_string(200, non_blank=True)),
    "displayName": Element(text=_string(200, non_blank=True)),
    "profileUrl": Element(text=_url),
    "priorCTReports": Element(text=_long),
    "ipCaptureEvent": Element(
        (one("ipAddress"), opt("eventName"), opt("dateTime"), opt("possibleProxy"), opt("port"))
    ),
    "ipAddress": Element(text=_string(64, non_blank=True)),
    "eventName": Element(text=_enum(EVENT_NAMES)),
    "dateTime": Element(text=_datetime),
    "possibleProxy": Element(text=_boolean),
    "additionalInfo": Element(text=_string(None)),
    # fileDetails, sent once per uploaded file.
    "fileDetails": Element(
        (
            one("reportId"),
            one("fileId"),
            opt("fileName"),
            opt("originalFileName"),
            opt("uploadedToEspTimestamp"),
            opt("locationOfFile"),
            opt("fileViewedByEsp"),
            opt("exifViewedByEsp"),
            opt("publiclyAvailable"),
            opt("fileRelevance"),
            opt("potentialMeme", "fileAnnotations"),
            opt("industryClassification"),
            many("originalFileHash"),
            # At most one: the upload address.
            opt("ipCaptureEvent"),
            many("deviceId"),
            many("details"),
            many("additionalInfo"),
        )
    ),
    "reportId": Element(text=_long),
    "fileId": Element(text=_string(200, non_blank=True)),
    "fileName": Element(text=_string(2056, non_blank=True)),
    "originalFileName": Element(text=_string(2056, non_blank=True)),
    "uploadedToEspTimestamp": Element(text=_datetime),
    "locationOfFile": Element(text=_url),
    "fileViewedByEsp": Element(text=_boolean),
    "exifViewedByEsp": Element(text=_boolean),
    "publiclyAvailable": Element(text=_boolean),
    "fileRelevance": Element(text=_enum(FILE_RELEVANCE)),
    "potentialMeme": Element(empty=True),
    "fileAnnotations": Element(tuple(opt(name) for name in FILE_ANNOTATIONS)),
    "industryClassification": Element(text=_enum(CLASSIFICATIONS)),
    "originalFileHash": Element(
        text=_string(64, non_blank=True),
        required_attributes=("hashType",),
        attributes={"hashType": _string(64)},
    ),
}


def _check_sequence(element: ET.Element, rule: Element, path: str) -> None:
    position, count = 0, 0
    for child in element:
        tag = child.tag
        while position < len(rule.sequence) and tag not in rule.sequence[position].names:
            if count < rule.sequence[position].min:
                raise SchemaViolation(path, f"<{'|'.join(rule.sequence[position].names)}> is required")
            position, count = position + 1, 0
        if position == len(rule.sequence):
            raise SchemaViolation(path, f"<{tag}> is not allowed here (unknown or out of order)")
        count += 1
        limit = rule.sequence[position].max
        if limit is not None and count > limit:
            raise SchemaViolation(path, f"<{tag}> may appear at most {limit} time(s)")
    for item in rule.sequence[position:]:
        if count < item.min:
            raise SchemaViolation(path, f"<{'|'.join(item.names)}> is required")
        count = 0


def _check(element: ET.Element, path: str) -> None:
    rule = ELEMENTS.get(element.tag)
    if rule is None:
        raise SchemaViolation(path, f"<{element.tag}> is not an element of the pinned schema")
    for name in rule.required_attributes:
        if name not in element.attrib:
            raise SchemaViolation(path, f"attribute {name} is required")
    for name, value in element.attrib.items():
        check = rule.attributes.get(name)
        if check is None:
            raise SchemaViolation(path, f"attribute {name} is not allowed")
        if (error := check(value)) is not None:
            raise SchemaViolation(f"{path}/@{name}", error)
    text = (element.text or "").strip()
    if rule.text is not None:
        if len(element):
            raise SchemaViolation(path, "a simple element has no children")
        if (error := rule.text(element.text or "")) is not None:
            raise SchemaViolation(path, error)
        return
    if text:
        raise SchemaViolation(path, "unexpected text")
    if rule.empty:
        if len(element):
            raise SchemaViolation(path, "must be empty")
        return
    _check_sequence(element, rule, path)
    for child in element:
        _check(child, f"{path}/{child.tag}")


def validate(document: bytes | str, *, now: datetime | None = None) -> ET.Element:
    """Parse and check a `<report>` or `<fileDetails>` document; SchemaViolation names the first fault."""
    root = ET.fromstring(document)  # noqa: S314 - our own generated document, never input from outside
    if root.tag not in ("report", "fileDetails"):
        raise SchemaViolation(root.tag, "the root must be <report> or <fileDetails>")
    _check(root, root.tag)
    if root.tag == "report" and now is not None:
        when = root.findtext("incidentSummary/incidentDateTime") or ""
        if datetime.fromisoformat(when.replace("Z", "+00:00")) >= now:
            raise SchemaViolation("report/incidentSummary/incidentDateTime", "must be in the past")
    exif_viewed = root.tag == "fileDetails" and root.findtext("exifViewedByEsp") == "true"
    if exif_viewed and root.findtext("fileViewedByEsp") != "true":
        raise SchemaViolation("fileDetails/fileViewedByEsp", "must be true when exifViewedByEsp is true")
    return root
