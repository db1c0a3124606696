"""The notice state machine applied: every state change except actioning (actioning.py), restore
with its stay-down release, assignment, and clock pauses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.exceptions import Conflict, ValidationFailed
from moderation.kit.time import utc_now
from moderation.models.notice import OPEN_STATES, Notice, NoticeState
from moderation.models.notice_pause import NoticePause
from moderation.models.notice_step import NoticeStep
from moderation.policy.loader import Policy
from moderation.policy.regimes import Regime, RegimeVersion
from moderation.takedown import reporter_notices
from moderation.takedown import steps as clock_steps
from moderation.takedown.clocks import (
    iso_utc,
    restore_window,
)
from moderation.takedown.context import (
    audit_notice,
    load_notice,
    open_notice,
    regime_versions,
)
from moderation.takedown.deadlines import recompute_clocks
from moderation.takedown.errors import (
    IllegalTransition,
    NoticeIncomplete,
    NotPaused,
    PauseNotAllowed,
    RedressRecordRequired,
    RestoreForbidden,
    RestoreWindowNotOpen,
    StepNotApplicable,
)
from moderation.takedown.outbox import enqueue_action
from moderation.takedown.repository import takedown_repository as repo
from moderation.takedown.states import APPEAL_ONLY, APPEAL_ROUTES, TRANSITIONS
from moderation.takedown.staydown import StayDownPort


def move_notice(
    session: Session,
    notice: Notice,
    name: str,
    *,
    actor: str,
    reason: str | None,
    policy: Policy,
    settings: Settings,
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
        fresh = load_notice(session, notice.id)
        raise IllegalTransition(
            f"notice {notice.id} changed state meanwhile (now '{fresh.state}'); {name} not applied",
            details={"state": fresh.state, "action": name},
        )
    session.refresh(notice)
    reporter_notices.decision(session, notice, name, reason=reason, policy=policy, settings=settings)
    audit_notice(
        session,
        notice.id,
        f"notice.{name}",
        actor=actor,
        details={"from": current, "to": transition.target, "reason": reason, **(details or {})},
        policy=policy,
    )
    return now


class NoticeTransitions:
    """State changes other than `action`; `restore` disables the notice's stay-down entries."""

    def __init__(self, stay_down: StayDownPort) -> None:
        self.stay_down = stay_down

    def transition(
        self,
        session: Session,
        notice_id: int,
        name: str,
        *,
        actor: str,
        reason: str | None = None,
        settings: Settings,
        record: dict[str, Any] | None = None,
    ) -> Notice:
        """Apply a state change other than `action` (validate, reject, request_info, appeal,
        counter_notice, uphold, restore, close); illegal ones raise 409 `illegal_transition`.
        The redress ones (APPEAL_ONLY) need the appeal or counter-notice `record` that drives them
        (409 `redress_record_required` without), which the notice's audit event names."""
        if name not in TRANSITIONS:
            raise ValidationFailed(f"unknown transition '{name}'", code="unknown_transition")
        if name in APPEAL_ONLY and not record:
            raise RedressRecordRequired(
                f"'{name}' is applied through an appeal or a counter-notice, not directly "
                "(POST /v1/appeals, /v1/appeals/{id}/decision, /v1/notices/{id}/counter-notices)",
                details={"action": name},
            )
        policy, regime_set, notice = open_notice(session, notice_id, settings)
        versions = regime_versions(notice, regime_set)
        values: dict[str, Any] = {}
        details: dict[str, Any] = dict(record or {})
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
        elif name in ("close", "reject", "reopen"):
            values["closed_at"] = utc_now() if name == "close" else None
        if name == "close":
            undecided = [
                c.id
                for c in repo.contents(session, notice.id)
                if c.source == "near_duplicate" and c.state == "review"
            ]
            if undecided:
                # Once closed, a copy can no longer be removed: decide every copy first.
                raise IllegalTransition(
                    f"{len(undecided)} near-duplicate copies still await a remove or dismiss decision",
                    code="copies_undecided",
                    details={"state": notice.state, "action": name, "copies": undecided},
                )
        now = move_notice(
            session,
            notice,
            name,
            actor=actor,
            reason=reason,
            policy=policy,
            settings=settings,
            values=values,
            details=details,
        )
        if name in ("close", "reject"):
            repo.release_holds(session, notice.id, "case", at=now)
        if name in ("reject", "request_info", "validate", "reopen"):
            # A reopened notice runs on its original clocks (from receipt), not on new ones.
            recompute_clocks(session, notice, regime_set)
        if name == "restore":
            self._restore_content(session, notice, actor=actor, reason=reason, settings=settings)
        return notice

    def _check_restore(self, notice: Notice, versions: list[tuple[Regime, RegimeVersion]]) -> None:
        if notice.child_safety or any(v.child_safety_track for _, v in versions):
            raise RestoreForbidden(
                "content in a child-safety category is never restored", details={"notice_id": notice.id}
            )
        if notice.state == NoticeState.COUNTER_NOTICED:
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

    def _restore_content(
        self, session: Session, notice: Notice, *, actor: str, reason: str | None, settings: Settings
    ) -> None:
        """Restore every removed item: a `restore` outbox row each, and the stay-down entries this
        notice added are disabled so a re-upload of the restored content is no longer blocked."""
        entry_ids: list[int] = []
        for item in repo.contents(session, notice.id):
            if item.state != "removed":
                continue
            item.state = "restored"
            enqueue_action(session, notice, item, "restore", reason=reason, actor=actor, settings=settings)
            entry_ids.extend(int(i) for i in item.stay_down_entry_ids or [])
        session.flush()
        # _check_restore already refuses child-safety notices; never unblock such content regardless.
        if not entry_ids or notice.child_safety:
            return
        disabled = self.stay_down.disable_entries(session, entry_ids, actor=actor)
        audit_notice(
            session,
            notice.id,
            "notice.stay_down_disabled",
            actor=actor,
            details={
                "notice_id": notice.id,
                "bank_entry_ids": disabled,
                "missing": sorted(set(entry_ids) - set(disabled)),
                "reason": reason,
                "error": None,
            },
        )

    def restored_hashes(
        self, session: Session, notice_id: int
    ) -> tuple[list[tuple[str, str]], dict[str, int]]:
        """The SHA-256, MD5 and PDQ of the notice's restored items (from their evidence records), for
        an allow-list entry after an overturned appeal; an item whose SHA-256 another notice still
        removes is left out (that notice's stay-down must keep blocking), returned as sha256 -> notice."""
        restored = {c.id for c in repo.contents(session, notice_id) if c.state == "restored"}
        per_item = [
            {k: str(v) for k, v in (e.hashes or {}).items() if k in ("sha256", "md5", "pdq") and v}
            for e in repo.evidence(session, notice_id)
            if e.notice_content_id in restored
        ]
        elsewhere = repo.removed_elsewhere(
            session, [h["sha256"] for h in per_item if "sha256" in h], notice_id
        )
        hashes: list[tuple[str, str]] = []
        for item in per_item:
            if item.get("sha256") in elsewhere:
                continue
            hashes.extend((t, v) for t, v in sorted(item.items()) if (t, v) not in hashes)
        return hashes, elsewhere

    def assign(self, session: Session, notice_id: int, assignee: str | None, *, actor: str) -> Notice:
        """Assign the notice to a reviewer (None unassigns); audited with the previous assignee."""
        notice = load_notice(session, notice_id)
        previous = notice.assignee
        repo.update_notice(session, notice.id, {"assignee": assignee})
        session.refresh(notice)
        audit_notice(
            session, notice.id, "notice.assign", actor=actor, details={"from": previous, "to": assignee}
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
        settings: Settings,
    ) -> Notice:
        """Pause every clock of the notice that may pause for `reason` (e.g. TCO force majeure);
        the pause and its reason are recorded and audited. 409 `pause_not_allowed` otherwise."""
        policy, regime_set, notice = open_notice(session, notice_id, settings)
        if notice.state not in OPEN_STATES:
            raise IllegalTransition(
                f"cannot pause the clocks of a notice in state '{notice.state}'",
                details={"state": notice.state, "action": "pause"},
            )
        allowed = sorted(
            {
                r
                for _, v in regime_versions(notice, regime_set)
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
        recompute_clocks(session, notice, regime_set)
        audit_notice(
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
        settings: Settings,
    ) -> Notice:
        """End every open pause; paused clocks run again with their due time pushed back."""
        policy, regime_set, notice = open_notice(session, notice_id, settings)
        ended = repo.end_open_pauses(session, notice.id, at=utc_now(), actor=actor)
        if not ended:
            raise NotPaused("the notice's clocks are not paused")
        recompute_clocks(session, notice, regime_set)
        audit_notice(
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
        settings: Settings,
    ) -> Notice:
        """Record that an acknowledgement or a status update was sent to the reporter, or that a
        decision was made, now; the clocks of that step are met (California SB 981, India grievances,
        NC 66-507(d) records review) and `acknowledged` clocks start. 409 `step_not_applicable` when
        no clock of the notice's regimes waits for that step."""
        policy, regime_set, notice = open_notice(session, notice_id, settings)
        owed = sorted(
            {c.step for _, v in regime_versions(notice, regime_set) for c in v.clocks}
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
        recompute_clocks(session, notice, regime_set)
        audit_notice(
            session,
            notice.id,
            "notice.step",
            actor=actor,
            details={"step": step, "note": note, "due_at": notice.due_at},
            policy=policy,
        )
        return notice
