"""The takedown queue: notice intake, clocks, the state machine, actioning, stay-down and evidence.

Every method runs inside the caller's transaction (request dependency, CLI `transaction()`, job
wrapper) and never commits; each state change writes its audit event in that same transaction.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.config import Settings, get_settings
from moderation.exceptions import Conflict, ImageRejected, ImageTooLarge, ValidationFailed
from moderation.kit.time import ensure_utc, utc_now
from moderation.models.evidence_hold import EvidenceHold
from moderation.models.evidence_item import EvidenceItem
from moderation.models.notice import OPEN_STATES, Notice
from moderation.models.notice_clock import NoticeClock
from moderation.models.notice_content import NoticeContent
from moderation.models.notice_pause import NoticePause
from moderation.models.notice_step import NoticeStep
from moderation.models.webhook_attempt import WebhookAttempt
from moderation.models.webhook_delivery import WebhookDelivery
from moderation.policy.loader import Policy, get_policy
from moderation.policy.regimes import Regime, RegimeSet, RegimeVersion, load_regimes
from moderation.takedown import evidence as evidence_crypto
from moderation.takedown import steps as clock_steps
from moderation.takedown.clocks import Pause, compute_clocks, due_at, iso_utc, require_aware, restore_window
from moderation.takedown.errors import (
    CopyNotFound,
    CopyNotInReview,
    EvidenceNotFound,
    EvidenceNotHeld,
    EvidencePurged,
    IllegalTransition,
    InvalidNotice,
    NoticeIncomplete,
    NoticeNotFound,
    NotPaused,
    PauseNotAllowed,
    RestoreForbidden,
    RestoreWindowNotOpen,
    StepNotApplicable,
)
from moderation.takedown.repository import takedown_repository as repo
from moderation.takedown.schemas import NoticeCreate
from moderation.takedown.states import APPEAL_ROUTES, CLOCK_STOPPING, TRANSITIONS
from moderation.takedown.staydown import Banked, Copy, PlatformStayDown, StayDownPort

SUBJECT = "notice"
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


def _audit(
    session: Session,
    notice_id: int,
    action: str,
    *,
    actor: str,
    details: dict[str, Any] | None = None,
    policy: Policy | None = None,
) -> None:
    """Record one audit event about notice `notice_id` in the caller's transaction."""
    audit.record(
        session,
        actor=actor,
        action=action,
        subject_type=SUBJECT,
        subject_id=notice_id,
        details=details,
        policy_version=policy.version if policy is not None else None,
    )


@dataclass(frozen=True)
class QueueResult:
    items: list[dict[str, Any]]
    next_cursor: str | None


@dataclass(frozen=True)
class EvidenceRead:
    """Decrypted evidence for an authorised, audited read."""

    evidence_id: int
    notice_id: int
    data: bytes
    media_type: str
    sha256: str | None
    child_safety: bool


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | dict | tuple):
        return bool(value)
    return True


def _iso(value: datetime | None) -> str | None:
    return iso_utc(value) if value is not None else None


def encode_cursor(due: datetime | None, notice_id: int) -> str:
    raw = json.dumps([_iso(due), notice_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime | None, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        due, notice_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return (ensure_utc(datetime.fromisoformat(due)) if due else None), int(notice_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ValidationFailed("cursor is not valid", code="invalid_cursor") from exc


class TakedownService:
    def __init__(self, stay_down: StayDownPort | None = None) -> None:
        self.stay_down: StayDownPort = stay_down or PlatformStayDown()

    # --- context ------------------------------------------------------------------------------
    def _policy(self, settings: Settings) -> tuple[Policy, RegimeSet]:
        policy = get_policy(settings.policies_dir)
        return policy, policy.part("regimes", load_regimes)

    def _load(self, session: Session, notice_id: int) -> Notice:
        notice = repo.get(session, notice_id)
        if notice is None:
            raise NoticeNotFound(f"notice {notice_id} does not exist", details={"notice_id": notice_id})
        return notice

    def _open(
        self, session: Session, notice_id: int, settings: Settings | None
    ) -> tuple[Policy, RegimeSet, Notice]:
        """The current policy, its regimes and the notice (404 `notice_not_found` if it does not exist)."""
        policy, regime_set = self._policy(settings or get_settings())
        return policy, regime_set, self._load(session, notice_id)

    def _versions(self, notice: Notice, regimes: RegimeSet) -> list[tuple[Regime, RegimeVersion]]:
        return [(regimes.get(r["id"]), regimes.get(r["id"]).version(r["version"])) for r in notice.regimes]

    # --- intake -------------------------------------------------------------------------------
    def submit(
        self, session: Session, body: NoticeCreate, *, actor: str, settings: Settings | None = None
    ) -> tuple[Notice, bool]:
        """Store a notice exactly once (per `client_reference`) and start its clocks.

        A notice missing required fields is kept in `needs_info` with the missing fields per regime;
        each regime's clock rule decides whether its clock already runs. Returns (notice, created):
        a resubmission with a known client reference returns the stored notice and False."""
        settings = settings or get_settings()
        policy, regime_set = self._policy(settings)
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
        from moderation.takedown.clocks import version_in_force

        versions = [(regime, version_in_force(regime, received)) for regime, _ in resolved]

        image = self._decode_image(body.content.image_base64, settings)
        upload_hashes: dict[str, Any] | None = None
        upload_error: str | None = None
        if image is not None:
            try:
                upload_hashes = self.stay_down.hash_upload(image, settings)
            except ImageRejected as exc:
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
        state = "needs_info" if any(e["missing"] for e in entries) else "received"

        raw = body.model_dump(mode="json")
        if image is not None:
            raw["content"]["image_base64"] = {
                "stored_as": "evidence",
                "bytes": len(image),
                "sha256": (upload_hashes or {}).get("sha256") or _sha256(image),
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
            sha = (upload_hashes or {}).get("sha256") or _sha256(image)
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

        self._recompute(session, notice, regime_set)
        _audit(
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
            _audit(
                session,
                notice.id,
                "notice.receipt_backdated",
                actor=actor,
                details={"received_at": received, "entered_at": now, "channel": body.channel},
                policy=policy,
            )
        return notice, True

    def _decode_image(self, value: str | None, settings: Settings) -> bytes | None:
        if not value:
            return None
        if len(value) > (settings.max_image_bytes * 4) // 3 + 8:
            raise ImageTooLarge(f"the uploaded image is larger than {settings.max_image_bytes} bytes")
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidNotice("content.image_base64 is not valid base64") from exc
        if len(data) > settings.max_image_bytes:
            raise ImageTooLarge(f"the uploaded image is larger than {settings.max_image_bytes} bytes")
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

    # --- clocks -------------------------------------------------------------------------------
    def _recompute(self, session: Session, notice: Notice, regime_set: RegimeSet) -> None:
        """Recompute every clock from the stored facts (receipt, completion, pauses) and store them."""
        pauses = [Pause(p.started_at, p.ended_at, p.reason) for p in repo.pauses(session, notice.id)]
        open_reasons = {p.reason for p in pauses if p.end is None}
        previous = {(c.regime, c.clock): c for c in repo.clocks(session, notice.id)}
        removal_stopped_at = (
            (notice.actioned_at or notice.state_changed_at) if notice.state in CLOCK_STOPPING else None
        )
        step_times = clock_steps.first_times(repo.steps(session, notice.id))
        rows: list[NoticeClock] = []
        all_due = []
        running_due = []
        for entry in notice.regimes:
            regime = regime_set.get(entry["id"])
            completed = (
                ensure_utc(datetime.fromisoformat(entry["completed_at"])) if entry["completed_at"] else None
            )
            computed = compute_clocks(
                regime,
                notice.received_at,
                completed_at=completed,
                served_at=notice.served_at,
                pauses=pauses,
                acknowledged_at=step_times.get("acknowledgement"),
            )
            version = regime.version(computed[0].version)
            all_due.extend(computed)
            for clock in computed:
                met = clock_steps.outcome(
                    clock.step,
                    clock.due_at,
                    times=step_times,
                    removal_stopped_at=removal_stopped_at,
                    decided_at=removal_stopped_at or notice.actioned_at,
                    state=notice.state,
                    state_changed_at=notice.state_changed_at,
                )
                stopped = met.stopped_at is not None
                if not stopped:
                    running_due.append(clock)
                last = previous.get((regime.id, clock.id))
                last_sent = last.last_alert_threshold if last is not None else None
                next_at, next_threshold = None, None
                if not stopped:
                    for alert in clock.alerts:
                        if alert.at is not None and (last_sent is None or alert.threshold > last_sent):
                            next_at, next_threshold = alert.at, alert.threshold
                            break
                    if (
                        next_at is None
                        and clock.due_at is not None
                        and version.alerts.breach
                        and (last_sent is None or last_sent < 1.0)
                    ):
                        next_at, next_threshold = clock.due_at, 1.0
                rows.append(
                    NoticeClock(
                        notice_id=notice.id,
                        regime=regime.id,
                        regime_version=clock.version,
                        clock=clock.id,
                        kind=clock.kind,
                        step=clock.step,
                        trigger=clock.trigger,
                        starts_at=clock.starts_at,
                        due_at=clock.due_at,
                        reason=clock.reason,
                        pausable=clock.spec.pausable,
                        paused=any(clock.spec.allows_pause(r) for r in open_reasons) and not stopped,
                        paused_seconds=clock.paused_for.total_seconds(),
                        next_alert_at=next_at,
                        next_alert_threshold=next_threshold,
                        stopped_at=met.stopped_at,
                        met=met.met,
                        in_queue=False,
                        queue_due_at=None,
                    )
                )
        # The next step still owed sets the due time; once every clock stopped, the earliest of all.
        notice.due_at = due_at(running_due) if running_due else due_at(all_due)
        if notice.state in OPEN_STATES:
            seen: set[str] = set()
            for row in rows:
                if row.regime not in seen:
                    seen.add(row.regime)
                    row.in_queue, row.queue_due_at = True, notice.due_at
        repo.replace_clocks(session, notice.id, rows)
        repo.update_notice(session, notice.id, {"due_at": notice.due_at})

    # --- state machine ------------------------------------------------------------------------
    def _move(
        self,
        session: Session,
        notice: Notice,
        name: str,
        *,
        actor: str,
        reason: str | None,
        policy: Policy,
        values: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
    ) -> datetime:
        """Apply transition `name` with a conditional UPDATE on the state we read; 409 if it moved."""
        transition = TRANSITIONS[name]
        current = notice.state
        if current not in transition.sources:
            raise IllegalTransition(
                f"cannot {name.replace('_', ' ')} a notice in state '{current}'",
                details={"state": current, "action": name, "allowed_from": sorted(transition.sources)},
            )
        if transition.needs_reason and not (reason and reason.strip()):
            raise ValidationFailed(
                f"a reason is required to {name.replace('_', ' ')} a notice", code="reason_required"
            )
        now = utc_now()
        update = {
            "state": transition.target,
            "state_reason": reason,
            "state_changed_at": now,
            **(values or {}),
        }
        if not repo.move_state(session, notice.id, expected=[current], values=update):
            fresh = self._load(session, notice.id)
            raise IllegalTransition(
                f"notice {notice.id} changed state meanwhile (now '{fresh.state}'); {name} not applied",
                details={"state": fresh.state, "action": name},
            )
        session.refresh(notice)
        _audit(
            session,
            notice.id,
            f"notice.{name}",
            actor=actor,
            details={"from": current, "to": transition.target, "reason": reason, **(details or {})},
            policy=policy,
        )
        return now

    def transition(
        self,
        session: Session,
        notice_id: int,
        name: str,
        *,
        actor: str,
        reason: str | None = None,
        settings: Settings | None = None,
    ) -> Notice:
        """Apply a state change other than `action` (validate, reject, request_info, appeal,
        counter_notice, uphold, restore, close); illegal ones raise 409 `illegal_transition`."""
        if name == "action":
            return self.action(session, notice_id, actor=actor, reason=reason, settings=settings)
        if name not in TRANSITIONS:
            raise ValidationFailed(f"unknown transition '{name}'", code="unknown_transition")
        policy, regime_set, notice = self._open(session, notice_id, settings)
        versions = self._versions(notice, regime_set)
        values: dict[str, Any] = {}
        details: dict[str, Any] = {}
        if name == "validate":
            missing = {r["id"]: r["missing"] for r in notice.regimes if r["missing"]}
            if missing and notice.state in TRANSITIONS["validate"].sources:
                raise NoticeIncomplete(
                    "required fields are still missing; supply them first", details={"missing": missing}
                )
        elif name in ("appeal", "counter_notice"):
            routes = {v.appeal.route for _, v in versions}
            wanted = APPEAL_ROUTES if name == "appeal" else {"counter_notice"}
            if not routes & wanted:
                route = "an appeal" if name == "appeal" else "a counter-notice"
                raise IllegalTransition(
                    f"no regime of this notice provides {route}",
                    details={"state": notice.state, "action": name, "routes": sorted(routes)},
                )
        elif name == "restore":
            self._check_restore(notice, versions)
        elif name in ("close", "reject"):
            values["closed_at"] = utc_now() if name == "close" else None
        now = self._move(
            session, notice, name, actor=actor, reason=reason, policy=policy, values=values, details=details
        )
        if name in ("close", "reject"):
            repo.release_holds(session, notice.id, "case", at=now)
        if name in ("reject", "request_info", "validate"):
            self._recompute(session, notice, regime_set)
        if name == "restore":
            self._restore_content(session, notice, actor=actor, reason=reason)
        return notice

    def _check_restore(self, notice: Notice, versions: list[tuple[Regime, RegimeVersion]]) -> None:
        if notice.child_safety or any(v.child_safety_track for _, v in versions):
            raise RestoreForbidden(
                "content in a child-safety category is never restored", details={"notice_id": notice.id}
            )
        if notice.state == "counter_noticed":
            windows = [
                restore_window(v, notice.state_changed_at) for _, v in versions if v.appeal.restore_window
            ]
            if windows:
                earliest = max(w[0] for w in windows)
                if utc_now() < earliest:
                    raise RestoreWindowNotOpen(
                        f"restore is allowed from {iso_utc(earliest)} (counter-notice restore window)",
                        details={
                            "earliest": iso_utc(earliest),
                            "latest": iso_utc(max(w[1] for w in windows)),
                        },
                    )

    def _restore_content(self, session: Session, notice: Notice, *, actor: str, reason: str | None) -> None:
        """Restore every removed item: a `restore` outbox row each, and the stay-down entries this
        notice added are disabled so a re-upload of the restored content is no longer blocked."""
        entry_ids: list[int] = []
        for item in repo.contents(session, notice.id):
            if item.state != "removed":
                continue
            item.state = "restored"
            self._enqueue(session, notice, item, "restore", reason=reason)
            entry_ids.extend(int(i) for i in item.stay_down_entry_ids or [])
        session.flush()
        # _check_restore already refuses child-safety notices; never unblock such content regardless.
        if not entry_ids or notice.child_safety:
            return
        try:
            disabled = self.stay_down.disable_entries(session, entry_ids, actor=actor)
            error = None
        except ImportError as exc:
            disabled, error = [], f"stay-down bank unavailable: {exc}"
        _audit(
            session,
            notice.id,
            "notice.stay_down_disabled",
            actor=actor,
            details={
                "notice_id": notice.id,
                "bank_entry_ids": disabled,
                "missing": sorted(set(entry_ids) - set(disabled)),
                "reason": reason,
                "error": error,
            },
        )

    # --- actioning ----------------------------------------------------------------------------
    def action(
        self,
        session: Session,
        notice_id: int,
        *,
        actor: str,
        reason: str | None = None,
        settings: Settings | None = None,
    ) -> Notice:
        """Remove the notice's content: validated -> actioned exactly once (conditional UPDATE), then in
        the same transaction an outbox row per (notice, content), stay-down hashes, the copy sweep,
        evidence under holds and the clocks stopped. A second reviewer gets 409 `illegal_transition`."""
        settings = settings or get_settings()
        policy, regime_set = self._policy(settings)
        notice = self._load(session, notice_id)
        versions = self._versions(notice, regime_set)
        now = self._move(
            session,
            notice,
            "action",
            actor=actor,
            reason=reason,
            policy=policy,
            values={"actioned_at": utc_now(), "actioned_by": actor},
        )
        scopes: set[str] = {scope for _, v in versions for scope in v.removal_scope}
        contents = repo.contents(session, notice.id)
        evidence_by_content = {e.notice_content_id: e for e in repo.evidence(session, notice.id)}
        stay_down_added = 0
        errors: list[str] = []
        searched: list[dict[str, Any]] = []
        known_ids = {c.content_id for c in contents if c.content_id}

        for item in contents:
            if item.source != "reported":
                continue
            hashes: list[tuple[str, str]] = []
            image: bytes | None = None
            evidence = evidence_by_content.get(item.id)
            if evidence is not None and evidence.hashes:
                hashes = [(k, str(v)) for k, v in evidence.hashes.items() if k in _BANK_HASHES and v]
                if evidence.ciphertext is not None:
                    image = evidence_crypto.decrypt(settings, evidence.ciphertext)
            elif item.content_id:
                try:
                    registered = self.stay_down.registered(session, item.content_id)
                except ImportError as exc:
                    registered = []
                    errors.append(f"content registry unavailable: {exc}")
                if not registered:
                    item.note = "no hashes in the content registry for this content_id"
                for reg in registered:
                    item.sha256 = item.sha256 or reg.sha256
                    item.pdq = item.pdq or reg.pdq
                    hashes.extend(
                        (t, v) for t, v in (("sha256", reg.sha256), ("md5", reg.md5), ("pdq", reg.pdq)) if v
                    )
            if evidence is None:
                # Removal is not deletion: every removed item keeps a record, with hashes when known.
                evidence_by_content[item.id] = repo.add_evidence(
                    session,
                    EvidenceItem(
                        notice_id=notice.id,
                        notice_content_id=item.id,
                        sha256=item.sha256,
                        hashes=dict(hashes),
                        details={
                            "kind": "registry" if item.content_id else "url",
                            "content_id": item.content_id,
                            "url": item.url,
                        },
                    ),
                )
            banked = self._stay_down(
                session,
                notice,
                hashes,
                actor=actor,
                errors=errors,
                metadata={"notice_id": notice.id, "ref": item.ref},
                image=image,
            )
            stay_down_added += banked.rows
            item.stay_down_entry_ids = [*(item.stay_down_entry_ids or []), *banked.entry_ids]
            item.state = "removed"
            self._enqueue(session, notice, item, "remove", reason=reason)
            if item.content_id:
                self._mark_removed(session, item.content_id, notice, actor=actor, errors=errors)
            if item.sha256 or item.pdq:
                searched.append({"ref": item.ref, "sha256": item.sha256, "pdq": item.pdq})

        identical, near = self._sweep(
            session, notice, searched, known_ids, scopes, actor=actor, reason=reason, errors=errors
        )
        sweep = {
            "ran_at": iso_utc(now),
            "searched": searched,
            "identical": identical,
            "near_duplicates": near,
            "stay_down_hashes_added": stay_down_added,
            "errors": errors,
        }
        repo.update_notice(session, notice.id, {"sweep_ran_at": now, "sweep_result": sweep})
        for kept in repo.evidence(session, notice.id):
            self._hold_evidence(session, notice, kept, versions, start=now)
        session.refresh(notice)
        self._recompute(session, notice, regime_set)
        _audit(
            session,
            notice.id,
            "notice.sweep",
            actor=actor,
            details={
                "identical": len(identical),
                "near_duplicates": len(near),
                "stay_down_hashes_added": stay_down_added,
                "errors": errors,
            },
            policy=policy,
        )
        return notice

    def _stay_down(
        self,
        session: Session,
        notice: Notice,
        hashes: list[tuple[str, str]],
        *,
        actor: str,
        errors: list[str],
        metadata: dict[str, Any],
        image: bytes | None = None,
    ) -> Banked:
        """Bank the removed content: the image itself when we hold it (so the bank stores its robust
        variants and rotations too), else the hashes the registry or the sweep gave."""
        note = f"removed under notice {notice.id}"
        try:
            if image is not None:
                return self.stay_down.add_image(session, image, note=note, metadata=metadata, actor=actor)
            if not hashes:
                return Banked([], 0)
            return self.stay_down.add_hashes(session, hashes, note=note, metadata=metadata, actor=actor)
        except ImportError as exc:
            errors.append(f"stay-down bank unavailable: {exc}")
            return Banked([], 0)

    def _mark_removed(
        self, session: Session, content_id: str, notice: Notice, *, actor: str, errors: list[str]
    ) -> None:
        try:
            self.stay_down.mark_removed(session, content_id, notice_id=notice.id, actor=actor)
        except ImportError as exc:
            errors.append(f"content registry unavailable: {exc}")

    def _sweep(
        self,
        session: Session,
        notice: Notice,
        searched: list[dict[str, Any]],
        known_ids: set[str],
        scopes: set[str],
        *,
        actor: str,
        reason: str | None,
        errors: list[str],
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Search the registry for copies of every removed item: identical ones are actioned under
        this notice; near-duplicates too when a regime covers "substantially similar" copies, else
        they wait in review."""
        found: dict[str, tuple[Copy, str]] = {}
        for query in searched:
            try:
                copies = self.stay_down.find_copies(
                    session, sha256=query["sha256"], pdq=query["pdq"], threshold=31
                )
            except ImportError as exc:
                errors.append(f"content registry unavailable: {exc}")
                return [], []
            for copy in copies:
                if not copy.content_id or copy.content_id in known_ids:
                    continue
                best = found.get(copy.content_id)
                if (
                    best is None
                    or (copy.identical and not best[0].identical)
                    or copy.distance < best[0].distance
                ):
                    found[copy.content_id] = (copy, query["ref"])
        identical: list[dict[str, Any]] = []
        near: list[dict[str, Any]] = []
        for content_id, (copy, origin) in sorted(found.items()):
            remove = copy.identical or "substantially_similar" in scopes
            item = repo.add_content(
                session,
                NoticeContent(
                    notice_id=notice.id,
                    ref=f"content:{content_id}",
                    content_id=content_id,
                    source="identical_copy" if copy.identical else "near_duplicate",
                    state="removed" if remove else "review",
                    sha256=copy.sha256,
                    pdq=copy.pdq,
                    distance=copy.distance,
                    note=f"found by the sweep from {origin}",
                ),
            )
            row = {
                "content_id": content_id,
                "distance": copy.distance,
                "action": "removed" if remove else "review",
            }
            (identical if copy.identical else near).append(row)
            if not remove:
                continue
            self._enqueue(session, notice, item, "remove", reason=reason)
            self._mark_removed(session, content_id, notice, actor=actor, errors=errors)
            hashes, _ = self._copy_evidence(session, notice, item)
            if not copy.identical:
                self._bank_copy(
                    session,
                    notice,
                    item,
                    hashes,
                    actor=actor,
                    errors=errors,
                    marker={"near_duplicate_of": origin},
                )
        return identical, near

    def _copy_evidence(
        self, session: Session, notice: Notice, item: NoticeContent
    ) -> tuple[dict[str, str], EvidenceItem]:
        """Keep evidence of a copy the sweep found (its hashes, no bytes); returns the hashes too."""
        hashes = {t: v for t, v in (("sha256", item.sha256), ("pdq", item.pdq)) if v}
        evidence = repo.add_evidence(
            session,
            EvidenceItem(
                notice_id=notice.id,
                notice_content_id=item.id,
                sha256=item.sha256,
                hashes=hashes,
                details={"kind": "sweep", "content_id": item.content_id, "distance": item.distance},
            ),
        )
        return hashes, evidence

    def _bank_copy(
        self,
        session: Session,
        notice: Notice,
        item: NoticeContent,
        hashes: dict[str, str],
        *,
        actor: str,
        errors: list[str],
        marker: dict[str, Any],
    ) -> Banked:
        """Put a removed copy's hashes into the stay-down bank and remember the entries on the copy."""
        banked = self._stay_down(
            session,
            notice,
            list(hashes.items()),
            actor=actor,
            errors=errors,
            metadata={"notice_id": notice.id, "ref": item.ref, **marker},
        )
        item.stay_down_entry_ids = banked.entry_ids
        return banked

    def _enqueue(
        self, session: Session, notice: Notice, item: NoticeContent, action: str, *, reason: str | None
    ) -> None:
        key = f"notice-{notice.id}/content-{item.id}/{action}"
        payload = {
            "event": f"content.{action}",
            "idempotency_key": key,
            "notice_id": notice.id,
            "regimes": [r["id"] for r in notice.regimes],
            "content": {
                "ref": item.ref,
                "content_id": item.content_id,
                "url": item.url,
                "sha256": item.sha256,
                "source": item.source,
            },
            "reason": reason,
            "child_safety": notice.child_safety,
        }
        repo.add_delivery(
            session,
            WebhookDelivery(
                notice_id=notice.id,
                notice_content_id=item.id,
                action=action,
                idempotency_key=key,
                payload=payload,
                next_attempt_at=utc_now(),
            ),
        )

    def _hold_evidence(
        self,
        session: Session,
        notice: Notice,
        item: EvidenceItem,
        versions: list[tuple[Regime, RegimeVersion]],
        *,
        start: datetime,
    ) -> None:
        existing = {h.kind for h in repo.holds(session, notice.id) if h.evidence_id == item.id}
        if "case" not in existing:
            repo.add_hold(session, EvidenceHold(evidence_id=item.id, notice_id=notice.id, kind="case"))
        for regime, version in versions:
            kind = f"regime:{regime.id}"
            if version.preservation is not None and kind not in existing:
                repo.add_hold(
                    session,
                    EvidenceHold(
                        evidence_id=item.id,
                        notice_id=notice.id,
                        kind=kind,
                        until=evidence_crypto.period_end(start, version.preservation),
                        note=f"{version.preservation.length} {version.preservation.unit} from removal",
                    ),
                )
        if (
            notice.child_safety or any(v.child_safety_track for _, v in versions)
        ) and "child_safety" not in existing:
            repo.add_hold(
                session,
                EvidenceHold(
                    evidence_id=item.id,
                    notice_id=notice.id,
                    kind="child_safety",
                    until=None,
                    note="child-safety evidence is kept until released by legal",
                ),
            )

    # --- near-duplicates left in review by the sweep --------------------------------------------
    def _copy_in_review(self, session: Session, notice: Notice, copy_id: int) -> NoticeContent:
        item = repo.get_content(session, copy_id)
        if item is None or item.notice_id != notice.id or item.source != "near_duplicate":
            raise CopyNotFound(
                f"notice {notice.id} has no near-duplicate {copy_id}",
                details={"notice_id": notice.id, "copy_id": copy_id},
            )
        if item.state != "review":
            raise CopyNotInReview(
                f"near-duplicate {copy_id} is '{item.state}', not in review",
                details={"copy_id": copy_id, "state": item.state},
            )
        return item

    def _decide_copy(
        self, session: Session, item: NoticeContent, target: str, *, actor: str, reason: str | None
    ) -> None:
        """Move a copy out of review with a conditional UPDATE: of two reviewers, one wins, one gets 409."""
        if not repo.move_content_state(
            session,
            item.id,
            expected="review",
            values={
                "state": target,
                "reviewed_by": actor,
                "reviewed_at": utc_now(),
                "review_reason": reason,
            },
        ):
            fresh = repo.get_content(session, item.id)
            raise CopyNotInReview(
                f"near-duplicate {item.id} was decided meanwhile (now '{fresh.state if fresh else None}')",
                details={"copy_id": item.id, "state": fresh.state if fresh else None},
            )
        session.refresh(item)

    def _note_sweep_decision(self, session: Session, notice: Notice, item: NoticeContent) -> None:
        sweep = dict(notice.sweep_result or {})
        sweep["near_duplicates"] = [
            {**row, "action": item.state, "reviewed_by": item.reviewed_by}
            if row.get("content_id") == item.content_id
            else row
            for row in sweep.get("near_duplicates", [])
        ]
        repo.update_notice(session, notice.id, {"sweep_result": sweep})
        session.refresh(notice)

    def _copy_decided(
        self,
        session: Session,
        notice: Notice,
        item: NoticeContent,
        decision: str,
        *,
        actor: str,
        reason: str | None,
        policy: Policy,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Show a reviewer's decision on a copy in the sweep record; audit it as `notice.copy_<decision>`."""
        self._note_sweep_decision(session, notice, item)
        _audit(
            session,
            notice.id,
            f"notice.copy_{decision}",
            actor=actor,
            details={
                "copy_id": item.id,
                "content_id": item.content_id,
                "distance": item.distance,
                "reason": reason,
                **(extra or {}),
            },
            policy=policy,
        )

    def remove_copy(
        self,
        session: Session,
        notice_id: int,
        copy_id: int,
        *,
        actor: str,
        reason: str | None = None,
        settings: Settings | None = None,
    ) -> Notice:
        """Remove a near-duplicate the sweep left in review, under the same notice: `review ->
        removed`, a `remove` outbox row, the registry marked, its hashes into the stay-down bank,
        evidence under the notice's holds, and the sweep's record updated. Only while the notice is
        `actioned` (409 `illegal_transition` otherwise); 409 `copy_not_in_review` if already decided."""
        policy, regime_set, notice = self._open(session, notice_id, settings)
        item = self._copy_in_review(session, notice, copy_id)
        if notice.state != "actioned":
            raise IllegalTransition(
                f"copies can be removed under an actioned notice only (this one is '{notice.state}')",
                details={"state": notice.state, "action": "remove_copy", "allowed_from": ["actioned"]},
            )
        self._decide_copy(session, item, "removed", actor=actor, reason=reason)
        errors: list[str] = []
        self._enqueue(session, notice, item, "remove", reason=reason)
        if item.content_id:
            self._mark_removed(session, item.content_id, notice, actor=actor, errors=errors)
        hashes, evidence = self._copy_evidence(session, notice, item)
        self._hold_evidence(session, notice, evidence, self._versions(notice, regime_set), start=utc_now())
        banked = self._bank_copy(
            session, notice, item, hashes, actor=actor, errors=errors, marker={"reviewed": True}
        )
        session.flush()
        self._copy_decided(
            session,
            notice,
            item,
            "removed",
            actor=actor,
            reason=reason,
            policy=policy,
            extra={"stay_down_entry_ids": banked.entry_ids, "errors": errors},
        )
        return notice

    def dismiss_copy(
        self,
        session: Session,
        notice_id: int,
        copy_id: int,
        *,
        actor: str,
        reason: str,
        settings: Settings | None = None,
    ) -> Notice:
        """Keep a near-duplicate up (`review -> dismissed`), e.g. not substantially the same content.
        A reason is required; the decision is audited and shown on the notice."""
        settings = settings or get_settings()
        policy, _ = self._policy(settings)
        if not (reason and reason.strip()):
            raise ValidationFailed("a reason is required to dismiss a copy", code="reason_required")
        notice = self._load(session, notice_id)
        item = self._copy_in_review(session, notice, copy_id)
        self._decide_copy(session, item, "dismissed", actor=actor, reason=reason)
        self._copy_decided(session, notice, item, "dismissed", actor=actor, reason=reason, policy=policy)
        return notice

    def copies_in_review(self, session: Session, notice_id: int) -> list[dict[str, Any]]:
        """The near-duplicates of a notice still waiting for a remove-or-dismiss decision."""
        notice = self._load(session, notice_id)
        return [
            self._content_out(c)
            for c in repo.contents(session, notice.id)
            if c.source == "near_duplicate" and c.state == "review"
        ]

    # --- other changes ------------------------------------------------------------------------
    def assign(self, session: Session, notice_id: int, assignee: str | None, *, actor: str) -> Notice:
        """Assign the notice to a reviewer (None unassigns); audited with the previous assignee."""
        notice = self._load(session, notice_id)
        previous = notice.assignee
        repo.update_notice(session, notice.id, {"assignee": assignee})
        session.refresh(notice)
        _audit(session, notice.id, "notice.assign", actor=actor, details={"from": previous, "to": assignee})
        return notice

    def supply_info(
        self,
        session: Session,
        notice_id: int,
        *,
        fields: dict[str, Any],
        statements: dict[str, dict[str, Any]],
        actor: str,
        reason: str | None = None,
        settings: Settings | None = None,
    ) -> Notice:
        """Add fields or statements to an open notice. A regime whose last missing field arrives is
        complete from now: its `completed`-triggered clocks start now."""
        policy, regime_set, notice = self._open(session, notice_id, settings)
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
        for (_regime, version), entry in zip(self._versions(notice, regime_set), notice.regimes, strict=True):
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
        self._recompute(session, notice, regime_set)
        _audit(
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

    def pause(
        self,
        session: Session,
        notice_id: int,
        *,
        reason: str,
        note: str | None,
        actor: str,
        settings: Settings | None = None,
    ) -> Notice:
        """Pause every clock of the notice that may pause for `reason` (e.g. TCO force majeure);
        the pause and its reason are recorded and audited. 409 `pause_not_allowed` otherwise."""
        policy, regime_set, notice = self._open(session, notice_id, settings)
        if notice.state not in OPEN_STATES:
            raise IllegalTransition(
                f"cannot pause the clocks of a notice in state '{notice.state}'",
                details={"state": notice.state, "action": "pause"},
            )
        allowed = sorted(
            {
                r
                for _, v in self._versions(notice, regime_set)
                for c in v.clocks
                if c.pausable
                for r in c.pause_reasons
            }
        )
        if reason not in allowed:
            raise PauseNotAllowed(
                f"no clock of this notice may pause for '{reason}'",
                details={"reason": reason, "allowed": allowed},
            )
        if any(p.reason == reason and p.ended_at is None for p in repo.pauses(session, notice.id)):
            raise Conflict(f"the clocks are already paused for '{reason}'", code="already_paused")
        now = utc_now()
        repo.add_pause(
            session,
            NoticePause(notice_id=notice.id, reason=reason, note=note, started_at=now, started_by=actor),
        )
        self._recompute(session, notice, regime_set)
        _audit(
            session,
            notice.id,
            "notice.pause",
            actor=actor,
            details={"reason": reason, "note": note},
            policy=policy,
        )
        return notice

    def resume(
        self,
        session: Session,
        notice_id: int,
        *,
        actor: str,
        note: str | None = None,
        settings: Settings | None = None,
    ) -> Notice:
        """End every open pause; paused clocks run again with their due time pushed back."""
        policy, regime_set, notice = self._open(session, notice_id, settings)
        ended = repo.end_open_pauses(session, notice.id, at=utc_now(), actor=actor)
        if not ended:
            raise NotPaused("the notice's clocks are not paused")
        self._recompute(session, notice, regime_set)
        _audit(
            session,
            notice.id,
            "notice.resume",
            actor=actor,
            details={"pauses_ended": ended, "note": note, "due_at": notice.due_at},
            policy=policy,
        )
        return notice

    def record_step(
        self,
        session: Session,
        notice_id: int,
        step: str,
        *,
        actor: str,
        note: str | None = None,
        settings: Settings | None = None,
    ) -> Notice:
        """Record that an acknowledgement or a status update was sent to the reporter, or that a
        decision was made, now; the clocks of that step are met (California SB 981, India grievances,
        NC 66-507(d) records review) and `acknowledged` clocks start. 409 `step_not_applicable` when
        no clock of the notice's regimes waits for that step."""
        policy, regime_set, notice = self._open(session, notice_id, settings)
        owed = sorted(
            {c.step for _, v in self._versions(notice, regime_set) for c in v.clocks}
            & set(clock_steps.RECORDABLE_STEPS)
        )
        if step not in owed:
            raise StepNotApplicable(
                f"no clock of this notice waits for '{step}'", details={"step": step, "owed": owed}
            )
        repo.add_step(
            session,
            NoticeStep(notice_id=notice.id, step=step, recorded_at=utc_now(), recorded_by=actor, note=note),
        )
        self._recompute(session, notice, regime_set)
        _audit(
            session,
            notice.id,
            "notice.step",
            actor=actor,
            details={"step": step, "note": note, "due_at": notice.due_at},
            policy=policy,
        )
        return notice

    # --- reading ------------------------------------------------------------------------------
    def queue(
        self,
        session: Session,
        *,
        regime: str | None = None,
        state: str | None = None,
        assignee: str | None = None,
        overdue: bool = False,
        cursor: str | None = None,
        limit: int = 50,
    ) -> QueueResult:
        """Open notices (or those in `state`) by due time, earliest first, with time remaining."""
        now = utc_now()
        states = [state] if state else list(OPEN_STATES)
        after = decode_cursor(cursor) if cursor else None
        rows = repo.queue(
            session,
            states=states,
            regime=regime,
            assignee=assignee,
            overdue_at=now if overdue else None,
            after=after,
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        items = [self._queue_item(n, now) for n in rows]
        next_cursor = encode_cursor(rows[-1].due_at, rows[-1].id) if more and rows else None
        return QueueResult(items, next_cursor)

    def _queue_item(self, notice: Notice, now: datetime) -> dict[str, Any]:
        remaining = (notice.due_at - now).total_seconds() if notice.due_at else None
        return {
            "id": notice.id,
            "state": notice.state,
            "regimes": [r["id"] for r in notice.regimes],
            "channel": notice.channel,
            "received_at": notice.received_at,
            "due_at": notice.due_at,
            "time_remaining_seconds": remaining,
            "overdue": remaining is not None and remaining < 0 and notice.state in OPEN_STATES,
            "assignee": notice.assignee,
            "missing_fields": {r["id"]: r["missing"] for r in notice.regimes if r["missing"]},
        }

    def get(self, session: Session, notice_id: int) -> Notice:
        return self._load(session, notice_id)

    def detail(self, session: Session, notice_id: int, settings: Settings | None = None) -> dict[str, Any]:
        """Everything about one notice: clocks, pauses, content and copies, sweep, duty flags,
        webhook delivery state, evidence (never the bytes) and the audit timeline."""
        _, regime_set, notice = self._open(session, notice_id, settings)
        now = utc_now()
        contents = repo.contents(session, notice.id)
        deliveries = repo.deliveries(session, notice.id)
        attempts = repo.attempts(session, [d.id for d in deliveries])
        holds = repo.holds(session, notice.id)
        base = self._queue_item(notice, now)
        return {
            **base,
            "regimes": notice.regimes,
            "state_reason": notice.state_reason,
            "client_reference": notice.client_reference,
            "reporter": notice.reporter,
            "statements": notice.statements,
            "served_at": notice.served_at,
            "child_safety": notice.child_safety,
            "policy_version": notice.policy_version,
            "created_by": notice.created_by,
            "actioned_at": notice.actioned_at,
            "closed_at": notice.closed_at,
            "clocks": [
                {
                    "regime": c.regime,
                    "regime_version": c.regime_version,
                    "clock": c.clock,
                    "kind": c.kind,
                    "step": c.step,
                    "trigger": c.trigger,
                    "starts_at": c.starts_at,
                    "due_at": c.due_at,
                    "reason": c.reason,
                    "pausable": c.pausable,
                    "paused": c.paused,
                    "paused_seconds": c.paused_seconds,
                    "next_alert_at": c.next_alert_at,
                    "next_alert_threshold": c.next_alert_threshold,
                    "stopped_at": c.stopped_at,
                    "met": c.met,
                }
                for c in repo.clocks(session, notice.id)
            ],
            "pauses": [
                {
                    "reason": p.reason,
                    "note": p.note,
                    "started_at": p.started_at,
                    "started_by": p.started_by,
                    "ended_at": p.ended_at,
                    "ended_by": p.ended_by,
                }
                for p in repo.pauses(session, notice.id)
            ],
            "steps": [
                {
                    "step": st.step,
                    "recorded_at": st.recorded_at,
                    "recorded_by": st.recorded_by,
                    "note": st.note,
                }
                for st in repo.steps(session, notice.id)
            ],
            "content": [self._content_out(c) for c in contents if c.source == "reported"],
            "copies": [self._content_out(c) for c in contents if c.source != "reported"],
            "sweep": notice.sweep_result,
            "duties": self._duties(notice, contents, regime_set),
            "deliveries": [
                {
                    "id": d.id,
                    "action": d.action,
                    "content_ref": d.payload.get("content", {}).get("ref"),
                    "idempotency_key": d.idempotency_key,
                    "state": d.state,
                    "attempts": d.attempts,
                    "next_attempt_at": d.next_attempt_at if d.state == "pending" else None,
                    "last_status": d.last_status,
                    "last_error": d.last_error,
                    "delivered_at": d.delivered_at,
                    "history": [
                        {
                            "attempt": a.attempt,
                            "outcome": a.outcome,
                            "status_code": a.status_code,
                            "error": a.error,
                            "started_at": a.started_at,
                            "finished_at": a.finished_at,
                        }
                        for a in attempts
                        if a.delivery_id == d.id
                    ],
                }
                for d in deliveries
            ],
            "evidence": [
                {
                    "id": e.id,
                    "sha256": e.sha256,
                    "hashes": e.hashes,
                    "details": e.details,
                    "encrypted_bytes": e.ciphertext is not None,
                    "purged_at": e.purged_at,
                    "holds": [
                        {"kind": h.kind, "until": h.until, "released_at": h.released_at}
                        for h in holds
                        if h.evidence_id == e.id
                    ],
                }
                for e in repo.evidence(session, notice.id)
            ],
            "timeline": [
                {"at": ev.occurred_at, "actor": ev.actor, "action": ev.action, "details": ev.details}
                for ev in audit.for_subject(session, SUBJECT, notice.id)
            ],
        }

    def _content_out(self, c: NoticeContent) -> dict[str, Any]:
        return {
            "id": c.id,
            "ref": c.ref,
            "content_id": c.content_id,
            "url": c.url,
            "source": c.source,
            "state": c.state,
            "sha256": c.sha256,
            "pdq": c.pdq,
            "distance": c.distance,
            "note": c.note,
            "reviewed_by": c.reviewed_by,
            "reviewed_at": c.reviewed_at,
            "review_reason": c.review_reason,
        }

    def _duties(
        self, notice: Notice, contents: list[NoticeContent], regime_set: RegimeSet
    ) -> list[dict[str, Any]]:
        """Per regime and removal scope: is the duty met? Copies count only once the sweep has run."""
        reported = [c for c in contents if c.source == "reported"]
        out = []
        for regime, version in self._versions(notice, regime_set):
            for scope in version.removal_scope:
                if scope == "item":
                    met = bool(reported) and all(c.state in ("removed", "restored") for c in reported)
                else:
                    source = "identical_copy" if scope == "identical_copies" else "near_duplicate"
                    copies = [c for c in contents if c.source == source]
                    # A dismissed near-duplicate was judged not substantially the same: nothing to remove.
                    met = notice.sweep_ran_at is not None and all(
                        c.state in ("removed", "restored", "dismissed") for c in copies
                    )
                out.append({"regime": regime.id, "scope": scope, "met": met})
        return out

    # --- dashboard (used by the admin pages) --------------------------------------------------
    def overview(self, session: Session, *, days: int = 30) -> dict[str, Any]:
        """Queue health per regime: open notices, due within 24 hours, overdue (from each open
        notice's earliest clock of that regime), and over the last `days` the median hours from
        receipt to action and the share actioned with every clock of the regime met."""
        now = utc_now()
        earliest: dict[tuple[int, str], datetime | None] = {}
        for notice_id, regime, due in repo.open_clock_dues(session):
            key = (notice_id, regime)
            current = earliest.get(key)
            earliest[key] = due if current is None else (min(current, due) if due else current)
        per_regime: dict[str, dict[str, Any]] = {}

        def row(regime: str) -> dict[str, Any]:
            return per_regime.setdefault(
                regime,
                {
                    "regime": regime,
                    "open": 0,
                    "due_24h": 0,
                    "overdue": 0,
                    "actioned": 0,
                    "median_hours": None,
                    "met": 0,
                    "met_share": None,
                    "_hours": [],
                },
            )

        for (_, regime), due in earliest.items():
            entry = row(regime)
            entry["open"] += 1
            if due is not None and due < now:
                entry["overdue"] += 1
            elif due is not None and due <= now + timedelta(hours=24):
                entry["due_24h"] += 1
        actioned = repo.actioned_since(session, now - timedelta(days=days))
        taken = {
            nid: (actioned_at - received).total_seconds() / 3600 for nid, received, actioned_at in actioned
        }
        clocks_by_notice: dict[tuple[int, str], list[bool | None]] = {}
        for clock in repo.clocks_of(session, list(taken)):
            if clock.due_at is not None:
                clocks_by_notice.setdefault((clock.notice_id, clock.regime), []).append(clock.met)
        regimes_of: dict[int, set[str]] = {}
        for notice_id, regime in clocks_by_notice:
            regimes_of.setdefault(notice_id, set()).add(regime)
        for notice_id, hours in taken.items():
            for regime in regimes_of.get(notice_id, set()):
                entry = row(regime)
                entry["actioned"] += 1
                entry["_hours"].append(hours)
                entry["met"] += all(m is True for m in clocks_by_notice[(notice_id, regime)])
        for entry in per_regime.values():
            hours_list = sorted(entry.pop("_hours"))
            if hours_list:
                mid = len(hours_list) // 2
                entry["median_hours"] = (
                    hours_list[mid] if len(hours_list) % 2 else (hours_list[mid - 1] + hours_list[mid]) / 2
                )
                entry["met_share"] = entry["met"] / entry["actioned"]
        return {
            "now": now,
            "days": days,
            "open": len({nid for nid, _ in earliest}),
            "due_24h": sum(e["due_24h"] for e in per_regime.values()),
            "overdue": sum(e["overdue"] for e in per_regime.values()),
            "regimes": sorted(per_regime.values(), key=lambda e: e["regime"]),
        }

    def evidence_holding(self, session: Session, sha256: str) -> list[int]:
        """Ids of preserved evidence items that hold the bytes of the image with this SHA-256."""
        return [item.id for item in repo.evidence_holding(session, sha256)]

    # --- alerts (used by the alerts feature) --------------------------------------------------
    def clocks_crossing_threshold(self, session: Session, *, limit: int = 500) -> list[NoticeClock]:
        """Running clocks whose next alert threshold time is now or past (index-backed scan)."""
        return repo.alerts_due(session, utc_now(), limit)

    def mark_alert_sent(
        self, session: Session, clock: NoticeClock, *, settings: Settings | None = None
    ) -> bool:
        """Advance a clock past the threshold just alerted; False if another worker already did."""
        settings = settings or get_settings()
        _, regime_set = self._policy(settings)
        assert clock.next_alert_at is not None and clock.next_alert_threshold is not None
        sent = clock.next_alert_threshold
        notice = self._load(session, clock.notice_id)
        if not repo.advance_alert(
            session, clock.id, expected_at=clock.next_alert_at, sent=sent, next_at=None, next_threshold=None
        ):
            return False
        session.refresh(clock)
        self._recompute(session, notice, regime_set)
        return True

    # --- evidence -----------------------------------------------------------------------------
    def evidence_bytes(
        self,
        session: Session,
        evidence_id: int,
        *,
        actor: str,
        reason: str | None = None,
        settings: Settings | None = None,
    ) -> bytes | None:
        """Decrypt preserved bytes for an authorised reader; every read is audited. None when the
        item does not exist or holds no bytes (hash-only, or purged)."""
        settings = settings or get_settings()
        item = repo.get_evidence(session, evidence_id)
        if item is None or item.ciphertext is None:
            return None
        notice = repo.get(session, item.notice_id)
        _audit(
            session,
            item.notice_id,
            "evidence.read",
            actor=actor,
            details={
                "evidence_id": item.id,
                "reason": reason,
                "child_safety": bool(notice and notice.child_safety),
            },
        )
        return evidence_crypto.decrypt(settings, item.ciphertext)

    def read_evidence(
        self,
        session: Session,
        notice_id: int,
        evidence_id: int,
        *,
        actor: str,
        reason: str,
        settings: Settings | None = None,
    ) -> EvidenceRead:
        """The decrypted bytes of one evidence item of a notice, for a named reader with a stated
        reason (required); the read is audited as `evidence.read` with actor, reason and whether it is
        child-safety evidence. 404 `evidence_not_found` / `evidence_bytes_not_held`, 410
        `evidence_purged` after the purge job dropped the bytes."""
        if not (reason and reason.strip()):
            raise ValidationFailed("a reason is required to read evidence", code="reason_required")
        notice = self._load(session, notice_id)
        item = repo.get_evidence(session, evidence_id)
        if item is None or item.notice_id != notice.id:
            raise EvidenceNotFound(
                f"notice {notice.id} has no evidence item {evidence_id}",
                details={"notice_id": notice.id, "evidence_id": evidence_id},
            )
        if item.purged_at is not None:
            raise EvidencePurged(
                f"evidence {evidence_id} was purged at {iso_utc(item.purged_at)}",
                details={"evidence_id": evidence_id, "purged_at": iso_utc(item.purged_at)},
            )
        if item.ciphertext is None:
            raise EvidenceNotHeld(
                f"evidence {evidence_id} keeps hashes and metadata only; the service never held the bytes",
                details={"evidence_id": evidence_id},
            )
        data = self.evidence_bytes(session, evidence_id, actor=actor, reason=reason, settings=settings)
        assert data is not None
        return EvidenceRead(
            evidence_id=item.id,
            notice_id=notice.id,
            data=data,
            media_type=_media_type(data),
            sha256=item.sha256,
            child_safety=notice.child_safety,
        )


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    attempt: int
    notice_id: int
    idempotency_key: str
    payload: dict[str, Any]


class ActionOutbox:
    """The outbox of platform actions. Lifecycle of a row: `pending` (due at `next_attempt_at`) ->
    `claim` (conditional UPDATE: `sending`, attempts+1, a lease) -> the job sends it outside any
    transaction -> `record` makes it `delivered`, `pending` again with exponential backoff, or
    `failed` after the last attempt. A row whose worker died is claimable again once its lease
    expires; the receiver deduplicates on the idempotency key, so a resend is harmless."""

    max_attempts = 10
    base_delay = timedelta(seconds=30)
    max_delay = timedelta(hours=1)

    def backoff(self, attempt: int) -> timedelta:
        """Delay after failed attempt n (1-based): 30 s, 1 min, 2 min ... capped at one hour."""
        return min(self.base_delay * (2 ** (attempt - 1)), self.max_delay)

    def due(self, session: Session, *, limit: int) -> list[tuple[int, int]]:
        return repo.due_deliveries(session, utc_now(), limit)

    def claim(
        self, session: Session, delivery_id: int, *, seen_attempts: int, worker: str, lease: timedelta
    ) -> ClaimedDelivery | None:
        """Claim one attempt of a row; None when another worker got it first."""
        now = utc_now()
        if not repo.claim_delivery(
            session, delivery_id, attempts=seen_attempts, now=now, lease_until=now + lease, worker=worker
        ):
            return None
        attempt = seen_attempts + 1
        repo.abandon_attempts(session, delivery_id, before_attempt=attempt, at=now)
        repo.add_attempt(
            session, WebhookAttempt(delivery_id=delivery_id, attempt=attempt, worker=worker, started_at=now)
        )
        row = repo.get_delivery(session, delivery_id)
        assert row is not None
        return ClaimedDelivery(row.id, attempt, row.notice_id, row.idempotency_key, dict(row.payload))

    def record(
        self,
        session: Session,
        claimed: ClaimedDelivery,
        *,
        worker: str,
        ok: bool,
        status_code: int | None,
        error: str | None,
        actor: str,
    ) -> str:
        """Store the outcome of an attempt; returns the row's new state ('lost' if the lease lapsed
        and another worker owns the row now: its outcome is recorded on the attempt only)."""
        now = utc_now()
        if ok:
            values: dict[str, Any] = {
                "state": "delivered",
                "delivered_at": now,
                "lease_until": None,
                "last_status": status_code,
                "last_error": None,
            }
        elif claimed.attempt >= self.max_attempts:
            values = {"state": "failed", "lease_until": None, "last_status": status_code, "last_error": error}
        else:
            values = {
                "state": "pending",
                "lease_until": None,
                "last_status": status_code,
                "last_error": error,
                "next_attempt_at": now + self.backoff(claimed.attempt),
            }
        owned = repo.finish_delivery(
            session, claimed.id, attempt=claimed.attempt, worker=worker, values=values
        )
        repo.finish_attempt(
            session,
            claimed.id,
            claimed.attempt,
            {
                "outcome": "delivered" if ok else "error",
                "status_code": status_code,
                "error": error,
                "finished_at": now,
            },
        )
        if not owned:
            return "lost"
        if values["state"] in ("delivered", "failed"):
            _audit(
                session,
                claimed.notice_id,
                f"notice.action_{values['state']}",
                actor=actor,
                details={
                    "delivery_id": claimed.id,
                    "idempotency_key": claimed.idempotency_key,
                    "attempts": claimed.attempt,
                    "status_code": status_code,
                    "error": error,
                },
            )
        return str(values["state"])


class EvidenceStore:
    """Preserved evidence. Lifecycle: stored at intake (uploads) or removal (hashes, metadata) under
    a `case` hold, plus a hold per regime preservation period from removal and an open-ended
    `child_safety` hold; `purge` drops bytes and metadata of items no active hold covers."""

    def purge(self, session: Session, *, actor: str, limit: int = 500) -> int:
        """Purge up to `limit` unheld items; each purge is audited. Safe to run on several workers."""
        now = utc_now()
        purged = 0
        for evidence_id in repo.purgeable(session, now, limit):
            item = repo.get_evidence(session, evidence_id)
            if item is None or not repo.purge(session, evidence_id, now):
                continue
            purged += 1
            _audit(
                session,
                item.notice_id,
                "evidence.purged",
                actor=actor,
                details={"evidence_id": evidence_id, "sha256": item.sha256},
            )
        return purged


_BANK_HASHES = ("sha256", "md5", "pdq", "phash", "dhash")


# Leading bytes of the image formats the check API accepts; anything else is served as octet-stream.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


def _media_type(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:12] in (b"ftypavif", b"ftypheic", b"ftypmif1"):
        return "image/avif" if data[8:12] == b"avif" else "image/heic"
    for magic, media_type in _MAGIC:
        if data.startswith(magic):
            return media_type
    return "application/octet-stream"


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


takedown = TakedownService()
action_outbox = ActionOutbox()
evidence_store = EvidenceStore()
