"""Notice intake: storing a notice exactly once, its missing fields per regime, and information
supplied later."""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.exceptions import (
    Conflict,
    ImageRejected,
    ImageTooLarge,
    ValidationFailed,
    VideoRejected,
    VideoTooLarge,
)
from moderation.hashing.video import may_be_video
from moderation.kit import evidence_crypto
from moderation.kit.time import utc_now
from moderation.models.evidence_hold import EvidenceHold
from moderation.models.evidence_item import EvidenceItem
from moderation.models.notice import OPEN_STATES, Notice, NoticeState
from moderation.models.notice_content import NoticeContent
from moderation.policy.regimes import RegimeVersion
from moderation.takedown import reporter_notices
from moderation.takedown.clocks import (
    iso_utc,
    require_aware,
    version_in_force,
)
from moderation.takedown.context import (
    audit_notice,
    open_notice,
    policy_and_regimes,
    regime_versions,
)
from moderation.takedown.deadlines import recompute_clocks
from moderation.takedown.errors import (
    IllegalTransition,
    InvalidNotice,
)
from moderation.takedown.evidence_store import sha256_hex
from moderation.takedown.repository import takedown_repository as repo
from moderation.takedown.schemas import NoticeCreate
from moderation.takedown.staydown import StayDownPort

# A receipt time this far before intake counts as entered by staff and is audited as backdated.
BACKDATE_TOLERANCE = timedelta(minutes=5)
# Clients' clocks drift; a receipt time slightly in the future is accepted, beyond this refused.
FUTURE_TOLERANCE = timedelta(minutes=2)

# Which notice data satisfies which regime field names (besides fields given by name).
_CONTENT_FIELDS = (
    "content_identification",
    "content_location",
    "infringing_material_location",
    "image_identification",
)


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | dict | tuple):
        return bool(value)
    return True


class NoticeIntake:
    """Stores notices and the information supplied for them; hashes uploads through the stay-down port."""

    def __init__(self, stay_down: StayDownPort) -> None:
        self.stay_down = stay_down

    def submit(
        self, session: Session, body: NoticeCreate, *, actor: str, settings: Settings
    ) -> tuple[Notice, bool]:
        """Store a notice exactly once (per `client_reference`) and start its clocks.

        A notice missing required fields is kept in `needs_info` with the missing fields per regime;
        each regime's clock rule decides whether its clock already runs. Returns (notice, created):
        a resubmission with a known client reference returns the stored notice and False."""
        policy, regime_set = policy_and_regimes(settings)
        if body.client_reference:
            existing = repo.by_client_reference(session, body.client_reference)
            if existing is not None:
                return existing, False

        now = utc_now()
        received = require_aware(body.received_at, "received_at") if body.received_at else now
        if received > now + FUTURE_TOLERANCE:
            raise InvalidNotice(
                "received_at is in the future",
                details={"received_at": iso_utc(received), "now": iso_utc(now)},
            )
        served = require_aware(body.served_at, "served_at") if body.served_at else None
        if served is not None and served < received:
            raise InvalidNotice("served_at must not be before received_at")

        ids = list(dict.fromkeys(body.regimes))
        resolved = [(regime_set.get(rid), rid) for rid in ids]

        versions = [(regime, version_in_force(regime, received)) for regime, _ in resolved]

        image = self._decode_image(body.content.image_base64, settings)
        upload_hashes: dict[str, Any] | None = None
        upload_error: str | None = None
        if image is not None:
            try:
                upload_hashes = self.stay_down.hash_upload(image, settings)
            except (ImageRejected, VideoRejected) as exc:
                # The reporter's copy is kept as evidence even when it cannot be hashed.
                upload_error = f"{exc.code}: {exc.message}"

        statements: dict[str, Any] = {
            "*": dict(body.fields),
            **{k: dict(v) for k, v in body.statements.items()},
        }
        entries = []
        for regime, version in versions:
            missing = self._missing(
                version,
                body_reporter=body.reporter.model_dump(),
                statements=statements,
                regime_id=regime.id,
                has_content=self._has_content(body, image),
            )
            entries.append(
                {
                    "id": regime.id,
                    "version": version.version,
                    "missing": missing,
                    "completed_at": None if missing else iso_utc(received),
                }
            )
        child_safety = body.child_safety or any(v.child_safety_track for _, v in versions)
        state = NoticeState.NEEDS_INFO if any(e["missing"] for e in entries) else NoticeState.RECEIVED

        raw = body.model_dump(mode="json")
        if image is not None:
            raw["content"]["image_base64"] = {
                "stored_as": "evidence",
                "bytes": len(image),
                "sha256": (upload_hashes or {}).get("sha256") or sha256_hex(image),
            }
        notice = Notice(
            client_reference=body.client_reference,
            state=state,
            channel=body.channel,
            regimes=entries,
            reporter=body.reporter.model_dump(mode="json", exclude_none=True),
            statements=statements,
            raw_submission=raw,
            received_at=received,
            served_at=served,
            child_safety=child_safety,
            created_by=actor,
            policy_version=policy.version,
            state_changed_at=now,
        )
        stored = repo.insert_notice(session, notice)
        if stored is None:
            existing = repo.by_client_reference(session, body.client_reference or "")
            if existing is None:  # pragma: no cover - the unique key is the only constraint that can fail
                raise Conflict("notice could not be stored")
            return existing, False

        for content_id in dict.fromkeys(body.content.content_ids):
            repo.add_content(
                session,
                NoticeContent(
                    notice_id=notice.id, ref=f"content:{content_id}", content_id=content_id, source="reported"
                ),
            )
        for url in dict.fromkeys(body.content.urls):
            repo.add_content(
                session,
                NoticeContent(notice_id=notice.id, ref=f"url:{url}"[:600], url=url, source="reported"),
            )
        if image is not None:
            sha = (upload_hashes or {}).get("sha256") or sha256_hex(image)
            upload = repo.add_content(
                session,
                NoticeContent(
                    notice_id=notice.id,
                    ref=f"upload:{sha}",
                    source="reported",
                    sha256=sha,
                    pdq=(upload_hashes or {}).get("pdq"),
                    note=upload_error,
                ),
            )
            item = repo.add_evidence(
                session,
                EvidenceItem(
                    notice_id=notice.id,
                    notice_content_id=upload.id,
                    sha256=sha,
                    hashes=upload_hashes or {},
                    details={"kind": "upload", "bytes": len(image), "hash_error": upload_error},
                    ciphertext=evidence_crypto.encrypt(settings, image),
                ),
            )
            repo.add_hold(session, EvidenceHold(evidence_id=item.id, notice_id=notice.id, kind="case"))

        recompute_clocks(session, notice, regime_set)
        audit_notice(
            session,
            notice.id,
            "notice.received",
            actor=actor,
            details={
                "state": state,
                "channel": body.channel,
                "regimes": [{"id": e["id"], "version": e["version"]} for e in entries],
                "missing": {e["id"]: e["missing"] for e in entries if e["missing"]},
                "received_at": received,
                "due_at": notice.due_at,
                "client_reference": body.client_reference,
                "child_safety": child_safety,
            },
            policy=policy,
        )
        if received < now - BACKDATE_TOLERANCE:
            audit_notice(
                session,
                notice.id,
                "notice.receipt_backdated",
                actor=actor,
                details={"received_at": received, "entered_at": now, "channel": body.channel},
                policy=policy,
            )
        reporter_notices.notify(session, notice, "received", reason=None, policy=policy, settings=settings)
        return notice, True

    def _decode_image(self, value: str | None, settings: Settings) -> bytes | None:
        if not value:
            return None
        # A video (recognised by content once decoded) may use the video byte limit.
        largest = max(settings.max_image_bytes, settings.max_video_bytes)
        if len(value) > (largest * 4) // 3 + 8:
            raise VideoTooLarge(f"the uploaded content is larger than {largest} bytes")
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidNotice("content.image_base64 is not valid base64") from exc
        if len(data) > settings.max_image_bytes and not may_be_video(data[:64]):
            raise ImageTooLarge(f"the uploaded image is larger than {settings.max_image_bytes} bytes")
        if len(data) > settings.max_video_bytes:
            raise VideoTooLarge(f"the uploaded video is larger than {settings.max_video_bytes} bytes")
        return data

    def _has_content(self, body: NoticeCreate, image: bytes | None) -> bool:
        return bool(body.content.content_ids or body.content.urls or image)

    def _missing(
        self,
        version: RegimeVersion,
        *,
        body_reporter: dict[str, Any],
        statements: dict[str, Any],
        regime_id: str,
        has_content: bool,
    ) -> list[str]:
        present = {k for k, v in statements.get("*", {}).items() if _present(v)}
        present |= {k for k, v in statements.get(regime_id, {}).items() if _present(v)}
        if has_content:
            present.update(_CONTENT_FIELDS)
        if _present(body_reporter.get("email")):
            present.update({"contact", "notifier_email"})
        if _present(body_reporter.get("contact")):
            present.add("contact")
        if _present(body_reporter.get("name")):
            present.add("notifier_name")
        return [f for f in version.required_fields if f not in present]

    def supply_info(
        self,
        session: Session,
        notice_id: int,
        *,
        fields: dict[str, Any],
        statements: dict[str, dict[str, Any]],
        actor: str,
        reason: str | None = None,
        settings: Settings,
    ) -> Notice:
        """Add fields or statements to an open notice. A regime whose last missing field arrives is
        complete from now: its `completed`-triggered clocks start now."""
        policy, regime_set, notice = open_notice(session, notice_id, settings)
        if notice.state not in OPEN_STATES:
            raise IllegalTransition(
                f"cannot add information to a notice in state '{notice.state}'",
                details={"state": notice.state, "action": "supply_info"},
            )
        unknown = sorted(set(statements) - {r["id"] for r in notice.regimes})
        if unknown:
            raise ValidationFailed(
                f"statements for regimes this notice does not name: {unknown}", code="unknown_notice_regime"
            )
        now = utc_now()
        merged: dict[str, Any] = {k: dict(v) for k, v in notice.statements.items()}
        merged.setdefault("*", {}).update(fields)
        for rid, values in statements.items():
            merged.setdefault(rid, {}).update(values)
        contents = repo.contents(session, notice.id)
        completed_now = []
        entries = []
        for (_regime, version), entry in zip(
            regime_versions(notice, regime_set), notice.regimes, strict=True
        ):
            missing = self._missing(
                version,
                body_reporter=notice.reporter,
                statements=merged,
                regime_id=entry["id"],
                has_content=bool(contents),
            )
            completed = entry["completed_at"]
            if not missing and completed is None:
                completed = iso_utc(now)
                completed_now.append(entry["id"])
            entries.append({**entry, "missing": missing, "completed_at": completed})
        raw = dict(notice.raw_submission)
        raw["supplements"] = [
            *raw.get("supplements", []),
            {"at": iso_utc(now), "by": actor, "fields": fields, "statements": statements},
        ]
        repo.update_notice(
            session, notice.id, {"statements": merged, "regimes": entries, "raw_submission": raw}
        )
        session.refresh(notice)
        recompute_clocks(session, notice, regime_set)
        audit_notice(
            session,
            notice.id,
            "notice.info_supplied",
            actor=actor,
            details={
                "fields": sorted(fields),
                "statements": {k: sorted(v) for k, v in statements.items()},
                "completed": completed_now,
                "missing": {e["id"]: e["missing"] for e in entries if e["missing"]},
                "reason": reason,
            },
            policy=policy,
        )
        return notice
