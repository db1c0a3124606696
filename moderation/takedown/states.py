"""The notice state machine as data: which action moves a notice from which states to which."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from moderation.models.notice import OPEN_STATES, NoticeState

STATES = tuple(NoticeState)


class TransitionName(StrEnum):
    """The changes a reviewer (or the API) asks for; the same words in the API, CLI and dashboard."""

    REQUEST_INFO = "request_info"
    VALIDATE = "validate"
    REJECT = "reject"
    ACTION = "action"
    APPEAL = "appeal"
    COUNTER_NOTICE = "counter_notice"
    UPHOLD = "uphold"
    RESTORE = "restore"
    CLOSE = "close"
    # Only through an overturned reporter appeal (moderation/redress): the rejection is undone.
    REOPEN = "reopen"


# Appeal routes of a regime under which the uploader can ask for the removal to be reviewed.
APPEAL_ROUTES = frozenset({"complaint", "grievance", "review", "internal_appeal"})


@dataclass(frozen=True)
class Transition:
    name: TransitionName
    sources: frozenset[NoticeState]
    target: NoticeState
    needs_reason: bool = False


TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition(TransitionName.REQUEST_INFO, frozenset({NoticeState.RECEIVED}), NoticeState.NEEDS_INFO),
        Transition(
            TransitionName.VALIDATE,
            frozenset({NoticeState.RECEIVED, NoticeState.NEEDS_INFO}),
            NoticeState.VALIDATED,
        ),
        Transition(TransitionName.REJECT, frozenset(OPEN_STATES), NoticeState.REJECTED, needs_reason=True),
        Transition(TransitionName.ACTION, frozenset({NoticeState.VALIDATED}), NoticeState.ACTIONED),
        Transition(TransitionName.APPEAL, frozenset({NoticeState.ACTIONED}), NoticeState.APPEALED),
        Transition(
            TransitionName.COUNTER_NOTICE, frozenset({NoticeState.ACTIONED}), NoticeState.COUNTER_NOTICED
        ),
        # The removal stands: appeal dismissed, or the complainant reports having sued.
        Transition(
            TransitionName.UPHOLD,
            frozenset({NoticeState.APPEALED, NoticeState.COUNTER_NOTICED}),
            NoticeState.ACTIONED,
            needs_reason=True,
        ),
        Transition(
            TransitionName.RESTORE,
            frozenset({NoticeState.APPEALED, NoticeState.COUNTER_NOTICED}),
            NoticeState.RESTORED,
            needs_reason=True,
        ),
        Transition(
            TransitionName.CLOSE, frozenset({NoticeState.ACTIONED, NoticeState.RESTORED}), NoticeState.CLOSED
        ),
        Transition(
            TransitionName.REOPEN, frozenset({NoticeState.REJECTED}), NoticeState.VALIDATED, needs_reason=True
        ),
    )
}

# Applied only by the redress feature, as views of its records (moderation/redress): an appeal filed,
# a counter-notice received, an appeal or counter-notice decided, an overturned reporter appeal.
# `TakedownService.transition` refuses them (409 `redress_record_required`); the API routes, CLI
# commands and dashboard forms of the same names file or decide the record instead.
APPEAL_ONLY = frozenset(
    {
        TransitionName.APPEAL,
        TransitionName.COUNTER_NOTICE,
        TransitionName.UPHOLD,
        TransitionName.RESTORE,
        TransitionName.REOPEN,
    }
)

# Once a notice leaves these states its clocks stop: the duty was met (or the notice was refused).
CLOCK_STOPPING = frozenset({NoticeState.ACTIONED, NoticeState.REJECTED, NoticeState.CLOSED})
