"""Report cases: opened from a child-safety bank match (the check pipeline's intake port) or a
child-safety notice, never filed automatically; confirmed by a reporter; their files viewed through
the case (audited, recorded per file); preservation, legal holds and law-enforcement destruction.

Only the `reporter` role may open, read or act on a case (admins included: access to this material
is kept to the people who report it, 18 U.S.C. 2258B(c)). Every action is audited. Nothing commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.auth.service import Principal, Role
from moderation.banks.service import banks
from moderation.config import Settings
from moderation.kit import evidence_crypto
from moderation.kit.time import utc_now
from moderation.models.check import Check
from moderation.models.report_case import CaseState, ReportCase
from moderation.models.report_file import ReportFile
from moderation.models.report_link import ReportLink
from moderation.reporting.contents import report_document
from moderation.reporting.documents import report_xml
from moderation.reporting.errors import (
    CaseNotFound,
    CaseStateConflict,
    FileNotHeld,
    InvalidCase,
    ReporterOnly,
    ReportFileNotFound,
)
from moderation.reporting.repository import reporting_repository as repo
from moderation.reporting.schema import INCIDENT_TYPES, SchemaViolation
from moderation.reporting.schemas import AccountDetails, CaseUpdate, DestructionRequest, LegalHold
from moderation.takedown.service import takedown

SUBJECT = "report_case"
DEFAULT_INCIDENT = INCIDENT_TYPES[0]
STAY_DOWN_SOURCE = "reporting"


def ensure_reporter(principal: Principal) -> None:
    """The reporting role alone; unlike every other check in the service, `admin` does not pass."""
    if principal.role != Role.REPORTER:
        raise ReporterOnly(f"role '{principal.role}' may not do this (needs reporter)")


def ensure_account_writer(principal: Principal) -> None:
    """The reporter, or the platform's intake key adding account details (admin does not pass)."""
    if principal.role not in (Role.REPORTER, Role.INTAKE):
        raise ReporterOnly(f"role '{principal.role}' may not do this (needs reporter or intake)")


def _audit(session: Session, case_id: int, action: str, *, actor: str, details: dict[str, Any]) -> None:
    audit.record(
        session,
        actor=actor,
        action=f"reporting.{action}",
        subject_type=SUBJECT,
        subject_id=case_id,
        details=details,
    )


class ReportingService:
    # --- opening ----------------------------------------------------------------------------------

    def on_check_match(
        self,
        session: Session,
        check: Check,
        data: bytes,
        matched_banks: Sequence[str],
        *,
        actor: str,
        content_id: str | None = None,
        uploader_id: str | None = None,
        settings: Settings,
    ) -> ReportCase | None:
        """Called in the check's transaction when a check matched a bank (for a cached answer: the
        original check, with this upload's content and uploader ids). A match in one of
        MODERATION_REPORTING_BANKS opens a case holding an encrypted copy of the bytes; when a case
        already holds the same file (SHA-256 or MD5), the match is linked to that case instead, once per
        upload (file, content id, uploader). Returns the case (None: not a reporting bank)."""
        hit = sorted(set(matched_banks) & set(settings.reporting_banks))
        if not hit:
            return None
        earlier = repo.earliest_case_with_file(session, sha256=check.sha256, md5=check.md5)
        if earlier is not None:
            held = [f for f in repo.files(session, earlier.id) if f.sha256 == check.sha256]
            if any((f.content_id, f.uploader_id) == (content_id, uploader_id) for f in held):
                return earlier  # the upload the case was opened from, checked again
            upload_key = hashlib.sha256(f"{check.sha256}\0{content_id}\0{uploader_id}".encode()).hexdigest()
            link = repo.add_link(
                session,
                ReportLink(
                    case_id=earlier.id,
                    source="check",
                    source_id=upload_key[:64],
                    check_id=check.id,
                    sha256=check.sha256,
                    content_id=content_id,
                    uploader_id=uploader_id,
                ),
            )
            if link is not None:
                _audit(
                    session,
                    earlier.id,
                    "match_linked",
                    actor=actor,
                    details={
                        "check_id": check.id,
                        "content_id": content_id,
                        "banks": hit,
                        "ncmec_report_id": earlier.ncmec_report_id,
                        "case_state": earlier.state,
                    },
                )
            return earlier
        case = repo.add_case(
            session,
            ReportCase(
                state=CaseState.OPEN,
                source="check",
                source_id=str(check.id),
                incident_type=DEFAULT_INCIDENT,
                incident_at=check.created_at,
                account={"esp_identifier": uploader_id} if uploader_id else {},
                urls=[],
                opened_by=actor,
            ),
        )
        if case is None:
            return repo.case_by_source(session, "check", str(check.id))
        repo.add_file(
            session,
            ReportFile(
                case_id=case.id,
                sha256=check.sha256,
                md5=check.md5,
                pdq=check.pdq,
                media_type=check.media_type,
                size=len(data),
                content_id=content_id,
                uploader_id=uploader_id,
                uploaded_at=check.created_at,
                ciphertext=evidence_crypto.encrypt(settings, data),
            ),
        )
        _audit(
            session,
            case.id,
            "case_opened",
            actor=actor,
            details={"source": "check", "check_id": check.id, "banks": hit, "sha256": check.sha256},
        )
        return case

    def open_from_notice(
        self, session: Session, notice_id: int, *, principal: Principal, settings: Settings
    ) -> ReportCase:
        """Open the case of a child-safety notice (its reported items' URLs and preserved files);
        the existing case when one is open already. 409 when the notice is not child-safety."""
        ensure_reporter(principal)
        existing = repo.case_by_source(session, "notice", str(notice_id))
        if existing is not None:
            return existing
        notice = takedown.get(session, notice_id)
        if not notice.child_safety:
            raise CaseStateConflict(
                f"notice {notice_id} is not marked child_safety", code="notice_not_child_safety"
            )
        detail = takedown.detail(session, notice_id, settings)
        urls = [c.url for c in detail.content if c.url]
        case = repo.add_case(
            session,
            ReportCase(
                state=CaseState.OPEN,
                source="notice",
                source_id=str(notice_id),
                incident_type=DEFAULT_INCIDENT,
                incident_at=notice.received_at,
                account={},
                urls=[u for u in urls if isinstance(u, str) and len(u) <= 2083 and " " not in u][:50],
                opened_by=principal.actor,
            ),
        )
        if case is None:
            found = repo.case_by_source(session, "notice", str(notice_id))
            assert found is not None
            return found
        files = 0
        for item in detail.evidence:
            if not item.encrypted_bytes or not item.sha256:
                continue
            data = takedown.evidence_bytes(
                session, item.id, actor=principal.actor, reason=f"report case {case.id}", settings=settings
            )
            if data is None:
                continue
            hashes = item.hashes or {}
            repo.add_file(
                session,
                ReportFile(
                    case_id=case.id,
                    sha256=item.sha256,
                    md5=hashes.get("md5") if isinstance(hashes.get("md5"), str) else None,
                    pdq=hashes.get("pdq") if isinstance(hashes.get("pdq"), str) else None,
                    media_type=str(hashes.get("media_type") or "image"),
                    size=len(data),
                    ciphertext=evidence_crypto.encrypt(settings, data),
                ),
            )
            files += 1
        _audit(
            session,
            case.id,
            "case_opened",
            actor=principal.actor,
            details={"source": "notice", "notice_id": notice_id, "files": files},
        )
        return case

    # --- reading ----------------------------------------------------------------------------------

    def get(self, session: Session, case_id: int, *, principal: Principal) -> ReportCase:
        ensure_reporter(principal)
        case = repo.get_case(session, case_id)
        if case is None:
            raise CaseNotFound(f"report case {case_id} does not exist", details={"case_id": case_id})
        return case

    def read_case(self, session: Session, case_id: int, *, principal: Principal) -> ReportCase:
        """The case for a reporter; the access is audited."""
        case = self.get(session, case_id, principal=principal)
        _audit(session, case.id, "case_read", actor=principal.actor, details={})
        return case

    def files(self, session: Session, case: ReportCase) -> list[ReportFile]:
        return repo.files(session, case.id)

    def links(self, session: Session, case: ReportCase) -> list[ReportLink]:
        return repo.links(session, case.id)

    def list_cases(
        self, session: Session, *, principal: Principal, state: str | None, after_id: int | None, limit: int
    ) -> list[ReportCase]:
        ensure_reporter(principal)
        cases = repo.list_cases(session, state=state, after_id=after_id, limit=limit)
        _audit(
            session, 0, "cases_listed", actor=principal.actor, details={"state": state, "count": len(cases)}
        )
        return cases

    def view_file(
        self,
        session: Session,
        case_id: int,
        file_id: int,
        *,
        principal: Principal,
        settings: Settings,
    ) -> tuple[ReportFile, bytes]:
        """The whole file, decrypted, for a reporter. Records that a person viewed it (the report's
        fileViewedByEsp for this file) and audits the view."""
        case = self.get(session, case_id, principal=principal)
        file = repo.get_file(session, case.id, file_id)
        if file is None:
            raise ReportFileNotFound(f"case {case_id} has no file {file_id}", details={"file_id": file_id})
        if file.ciphertext is None:
            raise FileNotHeld(f"file {file_id} no longer holds bytes", details={"file_id": file_id})
        data = evidence_crypto.decrypt(settings, file.ciphertext)
        first = file.viewed_at is None
        if first:
            repo.set_values(session, file, viewed_at=utc_now(), viewed_by=principal.actor)
        _audit(
            session,
            case.id,
            "file_viewed",
            actor=principal.actor,
            details={"file_id": file.id, "sha256": file.sha256, "first_view": first},
        )
        return file, data

    # --- before filing -----------------------------------------------------------------------------

    def update(
        self, session: Session, case_id: int, change: CaseUpdate, *, principal: Principal
    ) -> ReportCase:
        """Set the incident type, time, URLs, escalation or additional information of an open case."""
        case = self.get(session, case_id, principal=principal)
        self._require_editable(case)
        values = change.model_dump(exclude_unset=True)
        if (
            "incident_at" in values
            and values["incident_at"] is not None
            and values["incident_at"] >= utc_now()
        ):
            raise InvalidCase("incident_at must be in the past")
        values = {
            k: v for k, v in values.items() if v is not None or k in ("escalate_reason", "additional_info")
        }
        repo.set_values(session, case, **values)
        _audit(session, case.id, "case_updated", actor=principal.actor, details={"fields": sorted(values)})
        return case

    def set_account(
        self, session: Session, case_id: int, account: AccountDetails, *, principal: Principal
    ) -> ReportCase:
        """The platform's details of the reported account (write-only for the `intake` role); the fields
        given replace the case's, the others are kept."""
        ensure_account_writer(principal)
        case = repo.get_case(session, case_id)
        if case is None:
            raise CaseNotFound(f"report case {case_id} does not exist", details={"case_id": case_id})
        self._require_editable(case)
        # Merged over what the case knew (the check's uploader id): given fields replace, others stay.
        given = account.model_dump(mode="json", exclude_unset=True)
        repo.set_values(session, case, account={**(case.account or {}), **given})
        _audit(
            session,
            case.id,
            "account_set",
            actor=principal.actor,
            details={"fields": sorted(account.model_fields_set)},
        )
        return case

    def _require_editable(self, case: ReportCase) -> None:
        if case.state not in (CaseState.OPEN, CaseState.FAILED):
            raise CaseStateConflict(
                f"case {case.id} is {case.state}; only open or failed cases can change",
                details={"state": case.state},
            )

    def confirm(
        self, session: Session, case_id: int, *, principal: Principal, settings: Settings
    ) -> ReportCase:
        """A reporter confirms the case: the worker files it (`reporting.submit_reports`). An automated
        hash match may be confirmed without anyone viewing the files; the report then says so."""
        case = self.get(session, case_id, principal=principal)
        if case.state not in (CaseState.OPEN, CaseState.FAILED):
            raise CaseStateConflict(f"case {case.id} is {case.state}", details={"state": case.state})
        if not settings.ncmec_reporter_email:
            raise InvalidCase(
                "MODERATION_NCMEC_REPORTER_EMAIL is not set; the report needs it",
                code="reporter_email_missing",
            )
        files = repo.files(session, case.id)
        if not files and not case.urls:
            raise InvalidCase("the case has neither files nor URLs to report", code="nothing_to_report")
        try:
            report_xml(report_document(case, settings), now=utc_now())
        except SchemaViolation as exc:
            raise InvalidCase(
                f"the report would break the pinned schema: {exc}",
                code="report_invalid",
                details={"path": exc.path},
            ) from exc
        viewed = [f.id for f in files if f.viewed_at is not None]
        repo.set_values(
            session,
            case,
            state=CaseState.CONFIRMED,
            confirmed_at=utc_now(),
            confirmed_by=principal.actor,
            environment=settings.ncmec_environment,
            lease_until=None,
            last_error=None,
            last_error_code=None,
        )
        _audit(
            session,
            case.id,
            "case_confirmed",
            actor=principal.actor,
            details={"files": len(files), "viewed_files": viewed, "environment": settings.ncmec_environment},
        )
        return case

    def dismiss(self, session: Session, case_id: int, reason: str, *, principal: Principal) -> ReportCase:
        """Not reportable after review: the bytes are purged by the next `reporting.purge_files`."""
        case = self.get(session, case_id, principal=principal)
        if case.state not in (CaseState.OPEN, CaseState.FAILED):
            raise CaseStateConflict(f"case {case.id} is {case.state}", details={"state": case.state})
        repo.set_values(session, case, state=CaseState.DISMISSED, dismissed_reason=reason)
        _audit(session, case.id, "case_dismissed", actor=principal.actor, details={"reason": reason})
        return case

    # --- after filing --------------------------------------------------------------------------------

    def mark_filed(self, session: Session, case: ReportCase, *, actor: str, settings: Settings) -> None:
        """Filing starts the one-year preservation and banks the files in the stay-down bank."""
        now = utc_now()
        repo.set_values(
            session,
            case,
            state=CaseState.FILED,
            filed_at=now,
            preserve_until=now + timedelta(days=settings.reporting_preservation_days),
            pending_step=None,
            lease_until=None,
            last_error=None,
            last_error_code=None,
        )
        banked = self._bank(session, case, actor=actor)
        _audit(
            session,
            case.id,
            "report_filed",
            actor=actor,
            details={
                "ncmec_report_id": case.ncmec_report_id,
                "environment": case.environment,
                "preserve_until": case.preserve_until.isoformat() if case.preserve_until else None,
                "stay_down_entries": banked,
            },
        )

    def _bank(self, session: Session, case: ReportCase, *, actor: str) -> list[int]:
        hashes: list[tuple[str, str]] = []
        for file in repo.files(session, case.id):
            hashes.append(("sha256", file.sha256))
            if file.md5:
                hashes.append(("md5", file.md5))
            if file.pdq and file.media_type == "image":
                hashes.append(("pdq", file.pdq))
        if not hashes:
            return []
        bank = banks.ensure_stay_down_bank(session)
        entries = banks.add_hashes(
            session,
            bank.name,
            hashes,
            source=STAY_DOWN_SOURCE,
            note=f"CyberTipline report {case.ncmec_report_id} (case {case.id})",
            metadata={"report_case_id": case.id, "ncmec_report_id": case.ncmec_report_id},
            actor=actor,
        )
        return [e.id for e in entries]

    def legal_hold(
        self, session: Session, case_id: int, hold: LegalHold, *, principal: Principal
    ) -> ReportCase:
        """Keep the case's contents beyond the one year (never shorter than the preservation)."""
        case = self.get(session, case_id, principal=principal)
        repo.set_values(session, case, legal_hold_until=hold.until, legal_hold_note=hold.note)
        _audit(
            session,
            case.id,
            "legal_hold_set",
            actor=principal.actor,
            details={"until": hold.until.isoformat() if hold.until else None, "note": hold.note},
        )
        return case

    def request_destruction(
        self, session: Session, case_id: int, request: DestructionRequest, *, principal: Principal
    ) -> ReportCase:
        """Record a law-enforcement request to destroy the case's contents (2258B(c)); the purge job
        carries it out, preservation and holds notwithstanding."""
        case = self.get(session, case_id, principal=principal)
        if case.destruction_request is not None:
            raise CaseStateConflict(
                f"case {case.id} already has a destruction request", code="destruction_requested"
            )
        if case.state == CaseState.CONFIRMED:
            raise CaseStateConflict(f"case {case.id} is being filed; retry when it is filed or failed")
        recorded = {
            **request.model_dump(mode="json"),
            "recorded_by": principal.actor,
            "recorded_at": utc_now().isoformat(),
        }
        repo.set_values(session, case, destruction_request=recorded)
        _audit(session, case.id, "destruction_requested", actor=principal.actor, details=recorded)
        return case

    def purge(self, session: Session, *, actor: str, limit: int = 200) -> int:
        """Drop the bytes of files whose case no longer needs them, and the report contents of cases with
        a destruction request. Filed cases keep everything until their preservation (and any legal
        hold) ends. Each purge is audited."""
        now = utc_now()
        purged = 0
        for file, case in repo.purgeable_files(session, now=now, limit=limit):
            repo.set_values(session, file, ciphertext=None, purged_at=now)
            why = "destruction_request" if case.destruction_request else str(case.state)
            _audit(session, case.id, "file_purged", actor=actor, details={"file_id": file.id, "why": why})
            purged += 1
        for case in repo.cases_to_destroy(session, limit=limit):
            if any(f.ciphertext is not None for f in repo.files(session, case.id)):
                continue
            repo.set_values(
                session, case, report_xml=None, account={}, additional_info=None, destroyed_at=now
            )
            _audit(session, case.id, "case_destroyed", actor=actor, details={})
        return purged

    def held_until(self, case: ReportCase) -> datetime | None:
        """When the case's contents may go (None while open or being filed)."""
        ends = [d for d in (case.preserve_until, case.legal_hold_until) if d is not None]
        return max(ends) if ends else None


reporting = ReportingService()
