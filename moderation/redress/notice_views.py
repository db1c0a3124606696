"""The notice routes `appeal`, `uphold` and `restore` (API, CLI, dashboard) as views of the redress
records: they file or decide the notice's appeal or counter-notice, under the same rules as
/v1/appeals, and never move the notice by themselves. A counter-notice is taken only with its
statutory elements (`counter_notices.file`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.exceptions import ValidationFailed
from moderation.kit.time import utc_now
from moderation.models.appeal import Appeal, AppealState
from moderation.models.counter_notice import CounterNoticeState
from moderation.models.notice import Notice, NoticeState
from moderation.redress.counter_notices import counter_notices
from moderation.redress.errors import AutomatedDecisionForbidden, SameDecisionMaker
from moderation.redress.schemas import AppealCreate, AppealSubject, Appellant, Outcome
from moderation.redress.service import appeals, is_automated
from moderation.takedown.clocks import iso_utc
from moderation.takedown.errors import RestoreWindowNotOpen
from moderation.takedown.service import takedown

FILED_BY_ROUTE = "Appeal against the removal, filed through the notice's appeal route."


class NoticeRedress:
    def appeal(
        self, session: Session, notice_id: int, *, statement: str | None, actor: str, settings: Settings
    ) -> tuple[Appeal, bool]:
        """File the uploader's appeal against the notice's removal: the same record, clock and rules
        as POST /v1/appeals. Idempotent: while the notice has an open appeal against its removal,
        that appeal is the answer (False: not created now)."""
        takedown.get(session, notice_id)
        existing = appeals.open_against_removal(session, notice_id)
        if existing is not None:
            return existing, False
        body = AppealCreate(
            subject=AppealSubject(type="notice", id=notice_id),
            appellant=Appellant(role="uploader"),
            statement=(statement or "").strip() or FILED_BY_ROUTE,
        )
        return appeals.file(session, body, actor=actor, settings=settings)

    def uphold(
        self, session: Session, notice_id: int, *, reason: str, actor: str, settings: Settings
    ) -> None:
        """The removal stands. An appealed notice: its open appeal is upheld (`appeals.decide`: a
        person other than who removed it, with reasons). A counter-noticed one: the claimant's court
        action is recorded on the waiting counter-notice (no restore, 17 U.S.C. 512(g)(2)(C))."""
        notice = self._reason_given(session, notice_id, reason)
        if notice.state == NoticeState.APPEALED:
            appeal = appeals.open_against_removal(session, notice_id)
            if appeal is not None:
                appeals.decide(
                    session, appeal.id, Outcome.UPHOLD, reason=reason, actor=actor, settings=settings
                )
                return
        elif notice.state == NoticeState.COUNTER_NOTICED:
            waiting = counter_notices.waiting_of(session, notice_id)
            if waiting is not None:
                counter_notices.court_action(session, waiting.id, note=reason, actor=actor, settings=settings)
                return
        elif self._retried(session, notice, AppealState.UPHELD, actor):
            return
        self._without_record(session, notice, "uphold", reason=reason, actor=actor, settings=settings)

    def restore(
        self, session: Session, notice_id: int, *, reason: str, actor: str, settings: Settings
    ) -> None:
        """Reinstate the content. An appealed notice: its open appeal is overturned end to end
        (`appeals.decide`: restore webhooks, stay-down lifted, an allow-list entry, the appellant
        told). A counter-noticed one: restored now if its restore window has opened (409
        `restore_window_not_open` before), as the job would."""
        notice = self._reason_given(session, notice_id, reason)
        if notice.state == NoticeState.APPEALED:
            appeal = appeals.open_against_removal(session, notice_id)
            if appeal is not None:
                appeals.decide(
                    session, appeal.id, Outcome.OVERTURN, reason=reason, actor=actor, settings=settings
                )
                return
        elif notice.state == NoticeState.COUNTER_NOTICED:
            waiting = counter_notices.waiting_of(session, notice_id)
            if waiting is not None:
                if utc_now() < waiting.restore_from:
                    raise RestoreWindowNotOpen(
                        f"restore is allowed from {iso_utc(waiting.restore_from)} "
                        f"(counter-notice #{waiting.id} restore window)",
                        details={
                            "earliest": iso_utc(waiting.restore_from),
                            "latest": iso_utc(waiting.restore_by),
                            "counter_notice_id": waiting.id,
                        },
                    )
                counter_notices.restore_one(
                    session, waiting.id, actor=actor, settings=settings, reason=reason
                )
                return
        elif self._retried(session, notice, AppealState.OVERTURNED, actor):
            return
        self._without_record(session, notice, "restore", reason=reason, actor=actor, settings=settings)

    def _reason_given(self, session: Session, notice_id: int, reason: str) -> Notice:
        notice = takedown.get(session, notice_id)
        if not reason.strip():
            raise ValidationFailed("a reason is required to decide an appeal", code="reason_required")
        return notice

    def _retried(self, session: Session, notice: Notice, outcome: AppealState, actor: str) -> bool:
        """A retry of the decision this actor just took (the notice already shows it): no change."""
        target = NoticeState.ACTIONED if outcome == AppealState.UPHELD else NoticeState.RESTORED
        if notice.state != target:
            return False
        decided = [a for a in appeals.of_notice(session, notice.id) if a.kind == "notice_action"]
        if decided and decided[-1].state == outcome and decided[-1].decided_by == actor:
            return True
        return outcome == AppealState.UPHELD and any(
            c.state == CounterNoticeState.COURT_ACTION and c.closed_by == actor
            for c in counter_notices.of_notice(session, notice.id)[-1:]
        )

    def _without_record(
        self, session: Session, notice: Notice, name: str, *, reason: str, actor: str, settings: Settings
    ) -> None:
        """A notice left `appealed` or `counter_noticed` by the bare transitions of before, with no
        record to decide: decided under the appeal rules (a person other than who removed it), and
        audited as such. Any other state is 409 `illegal_transition`, as before."""
        if notice.state in (NoticeState.APPEALED, NoticeState.COUNTER_NOTICED):
            if is_automated(actor):
                raise AutomatedDecisionForbidden("an appeal is decided by a person, never automatically")
            if notice.actioned_by and notice.actioned_by == actor:
                raise SameDecisionMaker(
                    "the appeal must be decided by someone other than who took the original decision",
                    details={"original_decider": notice.actioned_by},
                )
        takedown.apply_redress(
            session,
            notice.id,
            name,
            record={"without_record": True},
            actor=actor,
            reason=reason,
            settings=settings,
        )


notice_redress = NoticeRedress()
