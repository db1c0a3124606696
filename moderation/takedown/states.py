"""The notice state machine as data: which action moves a notice from which states to which."""

from __future__ import annotations

from dataclasses import dataclass

from moderation.models.notice import OPEN_STATES

STATES = (
    "received",
    "needs_info",
    "validated",
    "actioned",
    "appealed",
    "counter_noticed",
    "restored",
    "closed",
    "rejected",
)

# Appeal routes of a regime under which the uploader can ask for the removal to be reviewed.
APPEAL_ROUTES = frozenset({"complaint", "grievance", "review", "internal_appeal"})


@dataclass(frozen=True)
class Transition:
    name: str
    sources: frozenset[str]
    target: str
    needs_reason: bool = False


TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("request_info", frozenset({"received"}), "needs_info"),
        Transition("validate", frozenset({"received", "needs_info"}), "validated"),
        Transition("reject", frozenset(OPEN_STATES), "rejected", needs_reason=True),
        Transition("action", frozenset({"validated"}), "actioned"),
        Transition("appeal", frozenset({"actioned"}), "appealed"),
        Transition("counter_notice", frozenset({"actioned"}), "counter_noticed"),
        # The removal stands: appeal dismissed, or the complainant reports having sued.
        Transition("uphold", frozenset({"appealed", "counter_noticed"}), "actioned", needs_reason=True),
        Transition("restore", frozenset({"appealed", "counter_noticed"}), "restored", needs_reason=True),
        Transition("close", frozenset({"actioned", "restored"}), "closed"),
    )
}

# Once a notice leaves these states its clocks stop: the duty was met (or the notice was refused).
CLOCK_STOPPING = frozenset({"actioned", "rejected", "closed"})
