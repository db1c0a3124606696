"""Appeals (complaints, DSA Art. 20): filed by a platform for its user against a block, a removal or
a rejected notice; decided by a person other than the original decision-maker; an overturn reverses
the decision end to end. The notice transitions `appeal`, `uphold`, `restore` and `reopen` are applied
from here, so a notice's state shows its appeal."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.banks.service import STAY_DOWN_BANK, banks
from moderation.checks.registry import content_registry
from moderation.checks.service import checks
from moderation.config import Settings
from moderation.exceptions import NotFound, ValidationFailed
from moderation.kit.time import ensure_utc, utc_now
from moderation.models.appeal import Appeal, AppealState
from moderation.models.bank_entry import BankEntry
from moderation.policy.loader import get_policy
from moderation.policy.regimes import load_regimes
from moderation.redress import notify
from moderation.redress.errors import (
    AppealAlreadyDecided,
    AppealNotFound,
    AppealWindowClosed,
    AutomatedDecisionForbidden,
    ClientReferenceTaken,
    NotAppealable,
    SameDecisionMaker,
)
from moderation.redress.repository import redress_repository as repo
from moderation.redress.schemas import AppealCreate, Outcome
from moderation.statements.service import statements
from moderation.takedown.appeal_terms import AppealTerms, appeal_terms, versions_for_appeal
from moderation.takedown.outbox import enqueue_event
from moderation.takedown.service import takedown

SUBJECT = "appeal"
# Hashes of an overturned block go to this allow-list bank, so the same signal does not block again.
APPEAL_ALLOW_BANK = "appeal-allow"
AGAINST = {
    "check_block": "the block of your upload",
    "stay_down_block": "the stay-down block of your upload",
    "notice_action": "the removal of your content",
    "notice_rejection": "the rejection of your notice",
}


def encode_cursor(due: datetime, appeal_id: int) -> str:
    raw = json.dumps([due.isoformat(), appeal_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        due, appeal_id = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
        if not 0 <= int(appeal_id) <= 2**31 - 1:
            raise ValueError("id out of range")
        return ensure_utc(datetime.fromisoformat(due)), int(appeal_id)
    except (ValueError, TypeError, binascii.Error, RecursionError) as exc:
        raise ValidationFailed("cursor is not valid", code="invalid_cursor") from exc


def is_automated(actor: str) -> bool:
    return actor.startswith("system:")


class AppealService:
    def file(
        self, session: Session, body: AppealCreate, *, actor: str, settings: Settings
    ) -> tuple[Appeal, bool]:
        """Store an appeal once per `client_reference`, start its clock and acknowledge it. An uploader
        appeals a block or a removal, a reporter the rejection of their notice; 409 `not_appealable`
        otherwise, 409 `appeal_window_closed` after the window. The window and the due time come from the
        regimes of the notice where they set them (see `terms`), else from the policy defaults."""
        if body.client_reference:
            existing = repo.appeal_by_reference(session, body.client_reference)
            if existing is not None:
                return self._resubmitted(existing, actor)
        now = utc_now()
        role = body.appellant.role
        notice_id = check_id = None
        content_id: str | None = None
        decided_at: datetime | None
        notice_regimes: list[dict[str, Any]] = []  # a check or stay-down block has no regime
        if body.subject.type == "check":
            facts = checks.decision_facts(session, body.subject.id)
            if facts.decision != "block" or role != "uploader":
                raise NotAppealable(
                    "only the uploader can appeal a check, and only a block",
                    details={"decision": facts.decision, "role": role},
                )
            kind = "stay_down_block" if STAY_DOWN_BANK in facts.banks else "check_block"
            check_id, content_id = facts.check_id, facts.content_id
            decided_at, decider = facts.decided_at, facts.decided_by
        else:
            notice = takedown.get(session, body.subject.id)
            notice_id, notice_regimes = notice.id, list(notice.regimes)
            if role == "uploader" and notice.state == "actioned":
                kind, decided_at, decider = "notice_action", notice.actioned_at, notice.actioned_by
            elif role == "reporter" and notice.state == "rejected":
                kind, decided_at = "notice_rejection", notice.state_changed_at
                decider = takedown.decided_by(session, notice.id, "reject")
            else:
                raise NotAppealable(
                    f"a {role} cannot appeal a notice in state '{notice.state}' (uploaders appeal a "
                    "removal, reporters a rejection)",
                    details={"state": notice.state, "role": role},
                )
        decided_at = ensure_utc(decided_at or now)
        policy = get_policy(settings.policies_dir)
        terms = self.terms(
            notice_regimes=notice_regimes,
            decided_at=decided_at,
            filed_at=now,
            settings=settings,
        )
        if now > terms.window_closes_at:
            raise AppealWindowClosed(
                f"the appeal window ({terms.window}, {terms.window_source}) closed at "
                f"{terms.window_closes_at.isoformat()}",
                details={
                    "decided_at": decided_at.isoformat(),
                    "window_closes_at": terms.window_closes_at.isoformat(),
                    "window_source": terms.window_source,
                },
            )
        appeal = Appeal(
            client_reference=body.client_reference,
            kind=kind,
            check_id=check_id,
            notice_id=notice_id,
            content_id=content_id,
            appellant_role=role,
            appellant=body.appellant.model_dump(mode="json", exclude_none=True),
            statement=body.statement,
            state=AppealState.OPEN,
            decided_at_original=decided_at,
            original_decider=decider,
            filed_at=now,
            due_at=terms.due_at,
            filed_by=actor,
            policy_version=policy.version,
        )
        stored = repo.add_appeal(session, appeal)
        if stored is None:
            existing = repo.appeal_by_reference(session, body.client_reference or "")
            if existing is None:  # pragma: no cover - the unique key is the only constraint that can fail
                raise ClientReferenceTaken("appeal could not be stored")
            return self._resubmitted(existing, actor)
        if kind == "notice_action":
            # The notice shows the appeal (409 `illegal_transition` if no regime provides one).
            assert notice_id is not None
            takedown.apply_redress(
                session,
                notice_id,
                "appeal",
                record={"appeal_id": stored.id},
                actor=actor,
                reason=f"appeal #{stored.id}",
                settings=settings,
            )
        self._audit(
            session,
            stored,
            "appeal.filed",
            actor,
            {"kind": kind, "original_decider": decider, "terms": terms.details()},
        )
        self._tell(session, stored, "received", settings)
        return stored, True

    def terms(
        self,
        *,
        notice_regimes: list[dict[str, Any]],
        decided_at: datetime,
        filed_at: datetime,
        settings: Settings,
    ) -> AppealTerms:
        """The window and clocks of an appeal: from the regimes of the notice where they set them, else
        (and for check and stay-down blocks, which have no regime) MODERATION_APPEAL_WINDOW_DAYS and
        MODERATION_APPEAL_DECISION_DAYS."""
        regime_set = get_policy(settings.policies_dir).part("regimes", load_regimes)
        return appeal_terms(
            versions_for_appeal(notice_regimes, regime_set, filed_at),
            decided_at=decided_at,
            filed_at=filed_at,
            default_window_days=settings.appeal_window_days,
            default_decision_days=settings.appeal_decision_days,
        )

    def _resubmitted(self, existing: Appeal, actor: str) -> tuple[Appeal, bool]:
        if existing.filed_by != actor:
            raise ClientReferenceTaken("this client_reference belongs to another caller's appeal")
        return existing, False

    def get(self, session: Session, appeal_id: int) -> Appeal:
        appeal = repo.appeal(session, appeal_id)
        if appeal is None:
            raise AppealNotFound(f"appeal {appeal_id} does not exist", details={"appeal_id": appeal_id})
        return appeal

    def page(
        self, session: Session, *, state: str | None = None, cursor: str | None = None, limit: int = 50
    ) -> tuple[list[Appeal], str | None]:
        """Appeals by due time, earliest first, with a keyset cursor."""
        rows = repo.appeal_page(
            session, state=state, after=decode_cursor(cursor) if cursor else None, limit=limit + 1
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, encode_cursor(rows[-1].due_at, rows[-1].id) if more and rows else None

    def of_notice(self, session: Session, notice_id: int) -> list[Appeal]:
        return repo.appeals_of(session, notice_id=notice_id)

    def open_against_removal(self, session: Session, notice_id: int) -> Appeal | None:
        """The notice's open uploader appeal against its removal, if any (at most one is open: the
        appeal moves the notice to `appealed`, and a notice is appealed only from `actioned`)."""
        return next(
            (
                a
                for a in repo.appeals_of(session, notice_id=notice_id)
                if a.kind == "notice_action" and a.state == AppealState.OPEN
            ),
            None,
        )

    def of_check(self, session: Session, check_id: int) -> list[Appeal]:
        return repo.appeals_of(session, check_id=check_id)

    def timeline(self, session: Session, appeal_id: int) -> list[dict[str, Any]]:
        return [
            {"at": e.occurred_at, "actor": e.actor, "action": e.action, "details": e.details}
            for e in audit.for_subject(session, SUBJECT, appeal_id)
        ]

    def decide(
        self,
        session: Session,
        appeal_id: int,
        outcome: Outcome | str,
        *,
        reason: str,
        actor: str,
        settings: Settings,
    ) -> Appeal:
        """Uphold or overturn, once, by a person other than the original decision-maker (403
        `same_decision_maker`; never by a job: 403 `automated_decision_forbidden`). A retry of the
        same decision by the same reviewer answers the appeal as decided; any other second decision
        is 409 `appeal_already_decided`."""
        outcome = Outcome(outcome)
        if not reason.strip():
            raise ValidationFailed("a reason is required to decide an appeal", code="reason_required")
        if is_automated(actor):
            raise AutomatedDecisionForbidden("an appeal is decided by a person, never automatically")
        appeal = self.get(session, appeal_id)
        target = AppealState.OVERTURNED if outcome == Outcome.OVERTURN else AppealState.UPHELD
        if appeal.state != AppealState.OPEN:
            return self._already(appeal, target, actor)
        if appeal.original_decider and appeal.original_decider == actor:
            raise SameDecisionMaker(
                "the appeal must be decided by someone other than who took the original decision",
                details={"original_decider": appeal.original_decider},
            )
        if outcome == Outcome.OVERTURN and appeal.check_id is not None:
            facts = checks.decision_facts(session, appeal.check_id)
            if facts.child_safety:
                raise NotAppealable(
                    "a child-safety block is never reversed", code="restore_forbidden_child_safety"
                )
        now = utc_now()
        if not repo.decide_appeal(
            session,
            appeal.id,
            {"state": target, "decided_by": actor, "decided_at": now, "decision_reason": reason},
        ):
            return self._already(self.get(session, appeal_id), target, actor)
        session.refresh(appeal)
        reversal = (
            self._reverse(session, appeal, reason, actor, settings)
            if target == AppealState.OVERTURNED
            else None
        )
        if target == AppealState.UPHELD and appeal.kind == "notice_action" and appeal.notice_id:
            takedown.apply_redress(
                session,
                appeal.notice_id,
                "uphold",
                record={"appeal_id": appeal.id},
                actor=actor,
                reason=reason,
                settings=settings,
            )
        if reversal is not None:
            repo.set_appeal(session, appeal.id, {"reversal": reversal})
            session.refresh(appeal)
        self._audit(session, appeal, f"appeal.{target}", actor, {"reason": reason, "reversal": reversal})
        self._tell(session, appeal, str(target), settings, reason=reason)
        return appeal

    def _already(self, appeal: Appeal, target: str, actor: str) -> Appeal:
        if appeal.state == target and appeal.decided_by == actor:
            return appeal  # the same reviewer's retry
        raise AppealAlreadyDecided(
            f"appeal {appeal.id} was already decided ({appeal.state}) by {appeal.decided_by}",
            details={"state": appeal.state, "decided_by": appeal.decided_by},
        )

    def _reverse(
        self, session: Session, appeal: Appeal, reason: str, actor: str, settings: Settings
    ) -> dict[str, Any]:
        """Undo the decision: restore webhook, stay-down entries lifted, allow-list entry, registry."""
        record = {"appeal_id": appeal.id}
        if appeal.kind == "notice_action":
            assert appeal.notice_id is not None
            takedown.apply_redress(
                session,
                appeal.notice_id,
                "restore",
                record=record,
                actor=actor,
                reason=reason,
                settings=settings,
            )
            hashes, still_removed = takedown.restored_hashes(session, appeal.notice_id)
            allowed = self._allow(
                session, appeal, hashes, actor, {"appeal_id": appeal.id, "notice_id": appeal.notice_id}
            )
            return {
                "notice_id": appeal.notice_id,
                "notice": "restored",
                "allow_list_entries": [e.id for e in allowed],
                # Content another notice still removes keeps that notice's stay-down block.
                "still_removed_under": sorted(set(still_removed.values())),
            }
        if appeal.kind == "notice_rejection":
            assert appeal.notice_id is not None
            # Reopened on its original clocks, then actioned by the appeal's reviewer.
            takedown.apply_redress(
                session,
                appeal.notice_id,
                "reopen",
                record=record,
                actor=actor,
                reason=reason,
                settings=settings,
            )
            takedown.action(session, appeal.notice_id, actor=actor, reason=reason, settings=settings)
            return {"notice_id": appeal.notice_id, "notice": "actioned"}
        assert appeal.check_id is not None
        facts = checks.decision_facts(session, appeal.check_id)
        key = f"appeal-{appeal.id}/restore"
        enqueue_event(
            session,
            key=key,
            event="content.restore",
            payload={
                "appeal_id": appeal.id,
                "check_id": facts.check_id,
                "content": {
                    "content_id": facts.content_id,
                    "uploader_id": facts.uploader_id,
                    "sha256": facts.sha256,
                },
                "reason": reason,
            },
        )
        lifted: list[int] = []
        for bank_name, entry_id in facts.entries:
            if bank_name != STAY_DOWN_BANK:
                continue
            try:
                banks.disable_entry(session, entry_id, bank_name=STAY_DOWN_BANK, actor=actor)
            except NotFound:
                continue
            lifted.append(entry_id)
        hashes = [(t, v) for t, v in (("sha256", facts.sha256), ("md5", facts.md5), ("pdq", facts.pdq)) if v]
        allowed = self._allow(
            session, appeal, hashes, actor, {"appeal_id": appeal.id, "check_id": facts.check_id}
        )
        statement = statements.record_appeal_reversal(
            session, facts.check_id, facts.content_id, actor=actor, settings=settings
        )
        registry = content_registry.allow_after_appeal(
            session, facts.check_id, appeal_id=appeal.id, actor=actor
        )
        return {
            "webhook_key": key,
            "stay_down_lifted": lifted,
            "allow_list_entries": [e.id for e in allowed],
            "registry_items": registry,
            "statement_id": statement.id if statement else None,
        }

    def _allow(
        self,
        session: Session,
        appeal: Appeal,
        hashes: list[tuple[str, str]],
        actor: str,
        metadata: dict[str, Any],
    ) -> list[BankEntry]:
        """An allow-list entry in `appeal-allow` (created on first use) for the content whose
        restriction was overturned, so the same signal does not restrict it again."""
        if not hashes:
            return []
        if APPEAL_ALLOW_BANK not in {b.name for b in banks.all(session)}:
            banks.create(
                session,
                name=APPEAL_ALLOW_BANK,
                action="allow",
                description="Content whose block or removal was overturned on appeal",
                actor=actor,
            )
        return banks.add_hashes(
            session,
            APPEAL_ALLOW_BANK,
            hashes,
            source="review",
            note=f"appeal #{appeal.id}",
            metadata=metadata,
            actor=actor,
        )

    def _audit(
        self, session: Session, appeal: Appeal, action: str, actor: str, details: dict[str, Any]
    ) -> None:
        audit.record(
            session,
            actor=actor,
            action=action,
            subject_type=SUBJECT,
            subject_id=appeal.id,
            details={"check_id": appeal.check_id, "notice_id": appeal.notice_id, **details},
            policy_version=appeal.policy_version,
        )

    def _tell(
        self, session: Session, appeal: Appeal, stage: str, settings: Settings, reason: str | None = None
    ) -> None:
        """Email the appellant (when the platform gave an address), once per stage."""
        email = appeal.appellant.get("email")
        if not email:
            return
        subjects = {
            "received": f"We received your appeal #{appeal.id}",
            "overturned": f"Your appeal #{appeal.id} succeeded",
            "upheld": f"Your appeal #{appeal.id}: the decision stands",
        }
        key = f"appeal:{appeal.id}:{'received' if stage == 'received' else 'decision'}"
        if notify.send(
            session,
            key=key,
            kind="appeal",
            recipients=[email],
            subject=subjects[stage],
            template="appeal",
            settings=settings,
            appeal_id=appeal.id,
            against=AGAINST[appeal.kind],
            stage=stage,
            reason=reason,
            filed_at=appeal.filed_at.isoformat(),
            due_at=appeal.due_at.isoformat(),
            redress=self._redress(session, appeal, settings) if stage == "upheld" else [],
        ):
            self._audit(
                session, appeal, "appeal.appellant_notified", "system:redress", {"stage": stage, "key": key}
            )

    def _redress(self, session: Session, appeal: Appeal, settings: Settings) -> list[str]:
        """The redress wording the notice's regimes prescribe (none for check and stay-down blocks)."""
        if appeal.notice_id is None:
            return []
        notice = takedown.get(session, appeal.notice_id)
        return list(
            self.terms(
                notice_regimes=list(notice.regimes),
                decided_at=appeal.decided_at_original,
                filed_at=appeal.filed_at,
                settings=settings,
            ).redress
        )

    # --- alerts (the redress.scan_clocks job) ---------------------------------------------------
    def alert_overdue(self, session: Session, *, settings: Settings, limit: int = 200) -> int:
        """One alert per appeal past its due time and still open; returns how many were raised."""
        now = utc_now()
        raised = 0
        for appeal in repo.overdue_appeals(session, now, limit):
            if not repo.claim_appeal_alert(session, appeal.id, now):
                continue
            notify.send(
                session,
                key=f"appeal:{appeal.id}:overdue",
                kind="alert",
                recipients=[],
                subject=f"OVERDUE: appeal #{appeal.id} ({appeal.kind})",
                template="alert",
                settings=settings,
                text=f"Appeal #{appeal.id} was due {appeal.due_at.isoformat()} and is still open.",
                link=f"{settings.public_url.rstrip('/')}/admin/appeals/{appeal.id}",
            )
            self._audit(
                session, appeal, "appeal.overdue_alerted", "system:redress", {"due_at": appeal.due_at}
            )
            raised += 1
        return raised


appeals = AppealService()
