"""What a case's report says: the report and file-details documents built from a case, its files and
the reporter settings (shared by confirmation, which checks the report, and the submission)."""

from __future__ import annotations

from datetime import datetime

from moderation.config import Settings
from moderation.models.report_case import ReportCase
from moderation.models.report_file import ReportFile
from moderation.reporting.documents import (
    FileDetailsDocument,
    IpEvent,
    ReportDocument,
    ReportedUser,
    Reporter,
)


def report_document(case: ReportCase, settings: Settings) -> ReportDocument:
    account = case.account or {}
    user = ReportedUser(
        esp_identifier=account.get("esp_identifier"),
        esp_service=settings.ncmec_esp_service,
        screen_name=account.get("screen_name"),
        display_names=tuple(account.get("display_names", [])),
        emails=tuple(account.get("emails", [])),
        profile_urls=tuple(account.get("profile_urls", [])),
        ip_events=tuple(
            IpEvent(
                e["ip_address"],
                e.get("event_name"),
                None if not e.get("at") else datetime.fromisoformat(e["at"]),
            )
            for e in account.get("ip_events", [])
        ),
        additional_info=account.get("additional_info"),
    )
    assert settings.ncmec_reporter_email
    return ReportDocument(
        incident_type=case.incident_type,
        incident_at=case.incident_at,
        reporter=Reporter(
            email=settings.ncmec_reporter_email,
            first_name=settings.ncmec_reporter_first_name,
            last_name=settings.ncmec_reporter_last_name,
        ),
        platform=settings.ncmec_esp_service,
        escalate_reason=case.escalate_reason,
        urls=tuple(case.urls or ()),
        user=user,
        additional_info=case.additional_info,
    )


def details_document(case: ReportCase, file: ReportFile) -> FileDetailsDocument:
    assert case.ncmec_report_id is not None and file.ncmec_file_id is not None
    hashes = [("MD5", file.md5)] if file.md5 else []
    hashes.append(("SHA256", file.sha256))
    if file.pdq and file.media_type == "image":
        hashes.append(("PDQ", file.pdq))
    return FileDetailsDocument(
        report_id=case.ncmec_report_id,
        file_id=file.ncmec_file_id,
        # Exactly whether a person opened this file through the case (never assumed from a hash match).
        viewed_by_esp=file.viewed_at is not None,
        original_file_name=file.original_file_name,
        uploaded_at=file.uploaded_at,
        location=file.location_url,
        hashes=tuple((t, v) for t, v in hashes if v),
        upload_ip=file.upload_ip,
        additional_info=f"content_id {file.content_id}" if file.content_id else None,
    )
