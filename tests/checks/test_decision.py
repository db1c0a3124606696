"""The decision's reasons name each finding once: several hashes or variants of one bank entry that match
the same image are one reason (the closest), and two entries stay two reasons."""

from __future__ import annotations

from dataclasses import dataclass

from moderation.checks.decision import ClassifierOutcome, decide
from moderation.config import PROJECT_ROOT
from moderation.policy.decisions import load_decisions

POLICY = load_decisions(PROJECT_ROOT / "policies", "general")


@dataclass(frozen=True)
class Match:
    bank: str
    entry_id: int
    hash_type: str
    variant: str | None
    distance: int
    threshold: int
    action: str = "block"
    suppressed_by: str | None = None


def test_one_reason_per_matched_entry_the_closest_one() -> None:
    matches = [
        Match("ncii", 7, "pdq", "plain", 12, 31),
        Match("ncii", 7, "pdq", "crop-tl-4.5", 3, 31),
        Match("ncii", 7, "phash", "plain", 6, 10),
        Match("ncii", 9, "pdq", "plain", 20, 31),
    ]
    decided = decide(
        POLICY,
        matches=matches,
        classifier=ClassifierOutcome(state="disabled"),
        prompt=None,
        source="upload",
    )
    banked = [
        (r["entry_id"], r["variant"], r["distance"]) for r in decided.reasons if r["kind"] == "bank_match"
    ]
    assert sorted(banked) == [(7, "crop-tl-4.5", 3), (9, "plain", 20)]
    assert decided.decision == "block"


def test_a_prompt_finding_is_listed_once() -> None:
    decided = decide(
        POLICY,
        matches=[],
        classifier=ClassifierOutcome(state="disabled"),
        prompt="deepfake of a deepfake, a deepfake",
        source="generated",
    )
    rules = [r["rule"] for r in decided.reasons]
    assert len(rules) == len(set(rules)) and "prompt.real_person" in rules
