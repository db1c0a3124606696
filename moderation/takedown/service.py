"""The takedown service: the one entry point the API, the CLI, the dashboard and other features use.

Each responsibility lives in its own module: intake.py (notices in, information supplied),
transitions.py (the state machine, restore, pauses), actioning.py (removal, stay-down, the copy sweep
and near-duplicate review), deadlines.py (stored clocks, alert thresholds), views.py (queue, detail,
overview), evidence_store.py (holds, audited reads, purge) and outbox.py (the webhook outbox). Every
method runs inside the caller's transaction and never commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.config import Settings
from moderation.kit.paging import Page
from moderation.models.notice import Notice
from moderation.models.notice_clock import NoticeClock
from moderation.takedown import deadlines
from moderation.takedown.actioning import Actioning
from moderation.takedown.clocks import restore_window
from moderation.takedown.context import SUBJECT, load_notice, open_notice, regime_versions
from moderation.takedown.evidence_store import EvidenceRead, evidence_store
from moderation.takedown.intake import NoticeIntake
from moderation.takedown.outbox import action_outbox
from moderation.takedown.schemas import NoticeCreate, NoticeOut, QueueItem
from moderation.takedown.staydown import PlatformStayDown, StayDownPort
from moderation.takedown.transitions import NoticeTransitions
from moderation.takedown.views import notice_views

__all__ = ["TakedownService", "action_outbox", "evidence_store", "takedown"]


class TakedownService:
    """Notices from intake to closure. `stay_down` is the port to hashing, banks and the content
    registry; assigning a fake to it (tests) reaches every part that uses it."""

    def __init__(self, stay_down: StayDownPort | None = None) -> None:
        self.stay_down = stay_down or PlatformStayDown()

    @property
    def stay_down(self) -> StayDownPort:
        return self._stay_down

    @stay_down.setter
    def stay_down(self, port: StayDownPort) -> None:
        self._stay_down = port
        self._intake = NoticeIntake(port)
        self._transitions = NoticeTransitions(port)
        self._actioning = Actioning(port)

    # --- changes ------------------------------------------------------------------------------
    def submit(
        self, session: Session, body: NoticeCreate, *, actor: str, settings: Settings
    ) -> tuple[Notice, bool]:
        """Store a notice exactly once (per `client_reference`) and start its clocks; see `NoticeIntake`."""
        return self._intake.submit(session, body, actor=actor, settings=settings)

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
        """Add fields or statements to an open notice; completed regimes' clocks start now."""
        return self._intake.supply_info(
            session,
            notice_id,
            fields=fields,
            statements=statements,
            actor=actor,
            reason=reason,
            settings=settings,
        )

    def transition(
        self,
        session: Session,
        notice_id: int,
        name: str,
        *,
        actor: str,
        reason: str | None = None,
        settings: Settings,
    ) -> Notice:
        """Apply a state change by name; `action` removes the content (see `action`), the others are
        in `NoticeTransitions`. Illegal ones raise 409 `illegal_transition`; the redress ones
        (`appeal`, `counter_notice`, `uphold`, `restore`, `reopen`) 409 `redress_record_required`:
        they are views of an appeal or counter-notice (see `apply_redress`)."""
        if name == "action":
            return self.action(session, notice_id, actor=actor, reason=reason, settings=settings)
        return self._transitions.transition(
            session, notice_id, name, actor=actor, reason=reason, settings=settings
        )

    def apply_redress(
        self,
        session: Session,
        notice_id: int,
        name: str,
        *,
        record: dict[str, Any],
        actor: str,
        reason: str | None = None,
        settings: Settings,
    ) -> Notice:
        """The notice side of an appeal or counter-notice (the redress feature's only way to move a
        notice to or from `appealed` / `counter_noticed`, to restore it or reopen it). `record` names
        the appeal or counter-notice (e.g. {"appeal_id": 5}) in the notice's audit event."""
        return self._transitions.transition(
            session, notice_id, name, actor=actor, reason=reason, settings=settings, record=record
        )

    def restored_hashes(
        self, session: Session, notice_id: int
    ) -> tuple[list[tuple[str, str]], dict[str, int]]:
        """Hashes of the notice's restored items for an allow-list entry; see `NoticeTransitions`."""
        return self._transitions.restored_hashes(session, notice_id)

    def action(
        self,
        session: Session,
        notice_id: int,
        *,
        actor: str,
        reason: str | None = None,
        settings: Settings,
    ) -> Notice:
        """Remove the notice's content exactly once, with stay-down, copy sweep and evidence holds."""
        return self._actioning.action(session, notice_id, actor=actor, reason=reason, settings=settings)

    def remove_copy(
        self,
        session: Session,
        notice_id: int,
        copy_id: int,
        *,
        actor: str,
        reason: str | None = None,
        settings: Settings,
    ) -> Notice:
        """Remove a near-duplicate the sweep left in review, under the same (actioned) notice."""
        return self._actioning.remove_copy(
            session, notice_id, copy_id, actor=actor, reason=reason, settings=settings
        )

    def attach_image(
        self,
        session: Session,
        notice_id: int,
        content_item_id: int,
        data: bytes,
        *,
        actor: str,
        settings: Settings,
    ) -> Notice:
        """Attach the image of an item named by content id or URL, so its stay-down covers crops and
        rotations (see `Actioning.attach_image`)."""
        return self._actioning.attach_image(
            session, notice_id, content_item_id, data, actor=actor, settings=settings
        )

    def dismiss_copy(
        self,
        session: Session,
        notice_id: int,
        copy_id: int,
        *,
        actor: str,
        reason: str,
        settings: Settings,
    ) -> Notice:
        """Keep a near-duplicate up; a reason is required."""
        return self._actioning.dismiss_copy(
            session, notice_id, copy_id, actor=actor, reason=reason, settings=settings
        )

    def assign(self, session: Session, notice_id: int, assignee: str | None, *, actor: str) -> Notice:
        """Assign the notice to a reviewer (None unassigns)."""
        return self._transitions.assign(session, notice_id, assignee, actor=actor)

    def pause(
        self,
        session: Session,
        notice_id: int,
        *,
        reason: str,
        note: str | None,
        actor: str,
        settings: Settings,
    ) -> Notice:
        """Pause every clock of the notice that may pause for `reason`."""
        return self._transitions.pause(
            session, notice_id, reason=reason, note=note, actor=actor, settings=settings
        )

    def resume(
        self,
        session: Session,
        notice_id: int,
        *,
        actor: str,
        note: str | None = None,
        settings: Settings,
    ) -> Notice:
        """End every open pause of the notice."""
        return self._transitions.resume(session, notice_id, actor=actor, note=note, settings=settings)

    def record_step(
        self,
        session: Session,
        notice_id: int,
        step: str,
        *,
        actor: str,
        note: str | None = None,
        settings: Settings,
    ) -> Notice:
        """Record an acknowledgement, a status update or a decision; that step's clocks are met."""
        return self._transitions.record_step(
            session, notice_id, step, actor=actor, note=note, settings=settings
        )

    def restore_window(
        self, session: Session, notice_id: int, *, at: datetime, settings: Settings
    ) -> tuple[datetime, datetime] | None:
        """Earliest and latest restore after a counter-notice arriving `at`, under the notice's
        regimes (their calendars and zones); None when no regime of the notice has a window."""
        _, regime_set, notice = open_notice(session, notice_id, settings)
        windows = [
            restore_window(v, at) for _, v in regime_versions(notice, regime_set) if v.appeal.restore_window
        ]
        if not windows:
            return None
        return max(w[0] for w in windows), max(w[1] for w in windows)

    def appeal_routes(self, session: Session, notice_id: int, *, settings: Settings) -> set[str]:
        """The appeal routes (complaint, counter_notice ...) the notice's regimes provide."""
        _, regime_set, notice = open_notice(session, notice_id, settings)
        return {v.appeal.route for _, v in regime_versions(notice, regime_set)}

    def decided_by(self, session: Session, notice_id: int, transition: str) -> str | None:
        """Who last applied `transition` to the notice (from its audit timeline), or None."""
        actors = [
            e.actor
            for e in audit.for_subject(session, SUBJECT, notice_id)
            if e.action == f"notice.{transition}"
        ]
        return actors[-1] if actors else None

    # --- reading ------------------------------------------------------------------------------
    def get(self, session: Session, notice_id: int) -> Notice:
        """The notice, or 404 `notice_not_found`."""
        return load_notice(session, notice_id)

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
    ) -> Page[QueueItem]:
        """Open notices (or those in `state`) by due time, earliest first."""
        return notice_views.queue(
            session,
            regime=regime,
            state=state,
            assignee=assignee,
            overdue=overdue,
            cursor=cursor,
            limit=limit,
        )

    def detail(self, session: Session, notice_id: int, settings: Settings) -> NoticeOut:
        """Everything about one notice (never the evidence bytes)."""
        return notice_views.detail(session, notice_id, settings)

    def copies_in_review(self, session: Session, notice_id: int) -> list[dict[str, Any]]:
        """The near-duplicates of a notice still waiting for a remove-or-dismiss decision."""
        return self._actioning.copies_in_review(session, notice_id)

    def overview(self, session: Session, *, days: int = 30) -> dict[str, Any]:
        """Queue health per regime for the dashboard."""
        return notice_views.overview(session, days=days)

    # --- clocks (used by the alerts feature) --------------------------------------------------
    def clocks_crossing_threshold(self, session: Session, *, limit: int = 500) -> list[NoticeClock]:
        """Running clocks whose next alert threshold time is now or past."""
        return deadlines.clocks_crossing_threshold(session, limit=limit)

    def mark_alert_sent(self, session: Session, clock: NoticeClock, *, settings: Settings) -> bool:
        """Advance a clock past the threshold just alerted; False if another worker already did."""
        return deadlines.mark_alert_sent(session, clock, settings=settings)

    # --- evidence -----------------------------------------------------------------------------
    def evidence_holding(self, session: Session, sha256: str) -> list[int]:
        """Ids of preserved evidence items that hold the bytes of the image with this SHA-256."""
        return evidence_store.evidence_holding(session, sha256)

    def evidence_bytes(
        self,
        session: Session,
        evidence_id: int,
        *,
        actor: str,
        reason: str | None = None,
        settings: Settings,
    ) -> bytes | None:
        """Decrypted preserved bytes for an authorised reader; every read is audited."""
        return evidence_store.evidence_bytes(
            session, evidence_id, actor=actor, reason=reason, settings=settings
        )

    def read_evidence(
        self,
        session: Session,
        notice_id: int,
        evidence_id: int,
        *,
        actor: str,
        reason: str,
        settings: Settings,
    ) -> EvidenceRead:
        """One evidence item of a notice, decrypted, for a named reader with a stated reason."""
        return evidence_store.read_evidence(
            session, notice_id, evidence_id, actor=actor, reason=reason, settings=settings
        )


takedown = TakedownService()
