"""DMCA counter-notices (17 U.S.C. 512(g)): intake with the statutory elements, a copy to the claimant,
the restore window on the regime's business-day calendar, court actions, and the restore itself
(the `redress.restore_counter_noticed` job) with an alert before the window is missed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.config import Settings
from moderation.exceptions import ValidationFailed
from moderation.kit.time import utc_now
from moderation.models.counter_notice import CounterNotice, CounterNoticeState
from moderation.redress import notify
from moderation.redress.errors import (
    ClientReferenceTaken,
    CounterNoticeClosed,
    CounterNoticeIncomplete,
    CounterNoticeNotAvailable,
    CounterNoticeNotFound,
)
from moderation.redress.repository import redress_repository as repo
from moderation.redress.schemas import CounterNoticeCreate
from moderation.takedown.service import takedown

SUBJECT = "counter_notice"
# 512(g)(3)(A)-(D): each element, and what to ask for when it is missing.
REQUIRED: dict[str, str] = {
    "signature": "a physical or electronic signature",
    "material": "identification of the material removed and where it appeared",
    "good_faith_statement": "a good-faith statement that it was removed by mistake or misidentification",
    "perjury_acknowledged": "that statement made under penalty of perjury",
    "jurisdiction_consent": "consent to the jurisdiction of the federal district court and to service",
    "name": "the subscriber's name",
    "address": "the subscriber's address",
    "phone": "the subscriber's telephone number",
}


def missing_elements(body: CounterNoticeCreate) -> list[str]:
    values = body.model_dump()
    return [
        name
        for name in REQUIRED
        if not (values.get(name) is True or (isinstance(values.get(name), str) and values[name].strip()))
    ]


class CounterNoticeService:
    def file(
        self,
        session: Session,
        notice_id: int,
        body: CounterNoticeCreate,
        *,
        actor: str,
        settings: Settings,
    ) -> tuple[CounterNotice, bool]:
        """Validate the statutory elements (422 `counter_notice_incomplete` lists every missing one),
        move the notice to `counter_noticed`, fix the restore window and send the claimant a copy."""
        if body.client_reference:
            existing = repo.counter_notice_by_reference(session, body.client_reference)
            if existing is not None:
                return self._resubmitted(existing, actor)
        missing = missing_elements(body)
        if missing:
            raise CounterNoticeIncomplete(
                "the counter-notice lacks statutory elements",
                details={"missing": missing, "required": REQUIRED},
            )
        notice = takedown.get(session, notice_id)
        if "counter_notice" not in takedown.appeal_routes(session, notice.id, settings=settings):
            raise CounterNoticeNotAvailable(
                "no regime of this notice provides a counter-notice", details={"notice_id": notice.id}
            )
        now = utc_now()
        window = takedown.restore_window(session, notice.id, at=now, settings=settings)
        if window is None:
            raise CounterNoticeNotAvailable(
                "no regime of this notice sets a restore window", details={"notice_id": notice.id}
            )
        elements = body.model_dump(mode="json", exclude={"client_reference"})
        row = repo.add_counter_notice(
            session,
            CounterNotice(
                client_reference=body.client_reference,
                notice_id=notice.id,
                elements=elements,
                state=CounterNoticeState.WAITING,
                received_at=now,
                restore_from=window[0],
                restore_by=window[1],
                filed_by=actor,
            ),
        )
        if row is None:
            existing = repo.counter_notice_by_reference(session, body.client_reference or "")
            if existing is None:  # pragma: no cover
                raise ClientReferenceTaken("counter-notice could not be stored")
            return self._resubmitted(existing, actor)
        # 409 `illegal_transition` unless the notice's content is removed (state `actioned`).
        takedown.apply_redress(
            session,
            notice.id,
            "counter_notice",
            record={"counter_notice_id": row.id},
            actor=actor,
            reason=f"counter-notice #{row.id}",
            settings=settings,
        )
        self._audit(
            session,
            row,
            "counter_notice.received",
            actor,
            {"restore_from": window[0].isoformat(), "restore_by": window[1].isoformat()},
        )
        claimant = (notice.reporter or {}).get("email")
        if claimant:
            notify.send(
                session,
                key=f"counter-notice:{row.id}:claimant",
                kind="counter_notice",
                recipients=[claimant],
                subject=f"Counter-notice received for your notice #{notice.id}",
                template="counter_notice",
                settings=settings,
                notice_id=notice.id,
                counter_id=row.id,
                elements=elements,
                received_at=now.isoformat(),
                restore_from=window[0].isoformat(),
                restore_by=window[1].isoformat(),
            )
            self._audit(session, row, "counter_notice.claimant_notified", actor, {"to": "reporter"})
        return row, True

    def _resubmitted(self, existing: CounterNotice, actor: str) -> tuple[CounterNotice, bool]:
        if existing.filed_by != actor:
            raise ClientReferenceTaken("this client_reference belongs to another caller's counter-notice")
        return existing, False

    def get(self, session: Session, counter_id: int) -> CounterNotice:
        row = repo.counter_notice(session, counter_id)
        if row is None:
            raise CounterNoticeNotFound(f"counter-notice {counter_id} does not exist")
        return row

    def of_notice(self, session: Session, notice_id: int) -> list[CounterNotice]:
        return repo.counter_notices_of(session, notice_id)

    def waiting_of(self, session: Session, notice_id: int) -> CounterNotice | None:
        """The notice's counter-notice still waiting for its restore window, if any."""
        return next(
            (c for c in self.of_notice(session, notice_id) if c.state == CounterNoticeState.WAITING), None
        )

    def page(
        self, session: Session, *, state: str | None = None, cursor: str | None = None, limit: int = 50
    ) -> tuple[list[CounterNotice], str | None]:
        try:
            after = int(cursor) if cursor else None
        except ValueError:
            after = -1
        if after is not None and not 0 <= after <= 2**31 - 1:
            raise ValidationFailed("cursor is not valid", code="invalid_cursor")
        rows = repo.counter_notice_page(session, state=state, after=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, str(rows[-1].id) if more and rows else None

    def court_action(
        self, session: Session, counter_id: int, *, note: str, actor: str, settings: Settings
    ) -> CounterNotice:
        """The claimant reports a court action: no restore; the removal stands (notice `uphold`).
        409 `counter_notice_closed` once the content was restored."""
        row = self.get(session, counter_id)
        if row.state == CounterNoticeState.COURT_ACTION:
            return row
        now = utc_now()
        if not repo.move_counter_notice(
            session,
            row.id,
            expected=CounterNoticeState.WAITING,
            values={
                "state": CounterNoticeState.COURT_ACTION,
                "court_action_at": now,
                "court_action_note": note,
                "closed_by": actor,
            },
        ):
            fresh = self.get(session, counter_id)
            if fresh.state == CounterNoticeState.COURT_ACTION:
                return fresh
            raise CounterNoticeClosed(
                f"counter-notice {counter_id} is {fresh.state}; a court action no longer stops a restore",
                details={"state": fresh.state},
            )
        session.refresh(row)
        if takedown.get(session, row.notice_id).state != "counter_noticed":
            # Someone decided the notice by hand meanwhile; the court action is still recorded.
            self._audit(session, row, "counter_notice.court_action", actor, {"note": note})
            return row
        takedown.apply_redress(
            session,
            row.notice_id,
            "uphold",
            record={"counter_notice_id": row.id},
            actor=actor,
            reason=f"court action reported: {note}",
            settings=settings,
        )
        self._audit(session, row, "counter_notice.court_action", actor, {"note": note})
        return row

    def restorable(self, session: Session, *, limit: int = 100) -> list[int]:
        """Ids of counter-notices whose restore window has opened, still waiting."""
        return repo.restorable(session, utc_now(), limit)

    def restore_one(
        self,
        session: Session,
        counter_id: int,
        *,
        actor: str,
        settings: Settings,
        reason: str | None = None,
    ) -> bool:
        """Restore the notice of one counter-notice whose window opened (claimed with a conditional
        UPDATE; False when it is not due or another worker has it). `reason` is a person's, when
        one restores it by hand (the notice's `restore` route) rather than the job."""
        row = self.get(session, counter_id)
        now = utc_now()
        if now < row.restore_from:
            return False
        if not repo.move_counter_notice(
            session,
            row.id,
            expected=CounterNoticeState.WAITING,
            values={"state": CounterNoticeState.RESTORED, "restored_at": now, "closed_by": actor},
        ):
            return False
        takedown.apply_redress(
            session,
            row.notice_id,
            "restore",
            record={"counter_notice_id": row.id},
            actor=actor,
            reason=reason
            or f"counter-notice #{row.id}: restore window reached with no court action reported",
            settings=settings,
        )
        self._audit(
            session, row, "counter_notice.restored", actor, {"restore_by": row.restore_by.isoformat()}
        )
        return True

    def alert_closing(self, session: Session, *, settings: Settings, limit: int = 200) -> int:
        """One alert per counter-notice still waiting within MODERATION_COUNTER_NOTICE_ALERT_HOURS
        of the end of its window (a restore that failed or a worker that is down)."""
        now = utc_now()
        raised = 0
        for row in repo.window_closing(
            session, now + timedelta(hours=settings.counter_notice_alert_hours), limit
        ):
            if not repo.claim_window_alert(session, row.id, now):
                continue
            notify.send(
                session,
                key=f"counter-notice:{row.id}:window-alert",
                kind="alert",
                recipients=[],
                subject=f"Counter-notice #{row.id}: restore window closes {row.restore_by.isoformat()}",
                template="alert",
                settings=settings,
                text=(
                    f"Notice #{row.notice_id} has not been restored after counter-notice #{row.id}; the "
                    f"statutory restore window closes {row.restore_by.isoformat()}."
                ),
                link=f"{settings.public_url.rstrip('/')}/admin/notices/{row.notice_id}",
            )
            self._audit(
                session,
                row,
                "counter_notice.window_alerted",
                "system:redress",
                {"restore_by": row.restore_by.isoformat()},
            )
            raised += 1
        return raised

    def _audit(
        self, session: Session, row: CounterNotice, action: str, actor: str, details: dict[str, Any]
    ) -> None:
        audit.record(
            session,
            actor=actor,
            action=action,
            subject_type=SUBJECT,
            subject_id=row.id,
            details={"notice_id": row.notice_id, **details},
        )


counter_notices = CounterNoticeService()
