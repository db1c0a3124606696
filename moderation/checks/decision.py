"""Combines bank matches, classifier scores and prompt hits into one decision under the decision policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from moderation.checks.ports import BankMatch
from moderation.classifier.findings import Thresholds, classifier_findings
from moderation.classifier.results import ClassifierResult
from moderation.policy.decisions import DECISION_RANK, DecisionPolicy, strictest


@dataclass(frozen=True)
class ClassifierOutcome:
    """What the classifier stage produced: a result, or the state it was in when it could not."""

    state: str  # ready | disabled | unavailable | loading | error
    result: ClassifierResult | None = None
    reason: str | None = None
    # Videos: the frames scored ({"timestamp", "scores"}) and, per category, the timestamp of its maximum.
    frames: tuple[dict[str, Any], ...] = ()
    peaks: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"state": self.state}
        if self.result is not None:
            body.update(self.result.to_dict())
            body.pop("embedding", None)
        if self.reason:
            body["reason"] = self.reason
        if self.frames:
            body["frames"] = list(self.frames)
            body["peaks"] = dict(self.peaks)
        return body


def scorable_now(result: ClassifierResult, categories_now: Mapping[str, Any]) -> bool:
    """Whether a category `result` left unscored has a model scoring it now (`status()["categories"]`)."""
    return any((categories_now.get(u.id) or {}).get("model") for u in result.unscored)


@dataclass(frozen=True)
class Decided:
    decision: str
    reasons: list[dict[str, Any]] = field(default_factory=list)
    risk: float = 0.0


def _bank_reason(match: BankMatch, decision: str, rule: str, suppressed_by: str | None) -> dict[str, Any]:
    reason: dict[str, Any] = {
        "kind": "bank_match",
        "rule": rule,
        "decision": decision,
        "bank": match.bank,
        "entry_id": match.entry_id,
        "hash_type": match.hash_type,
        "variant": match.variant,
        "distance": match.distance,
        "threshold": match.threshold,
        "action": match.action,
    }
    query_segments = getattr(match, "query_segments", None)
    if query_segments is not None:
        # A video: where the matched frames lie in the upload and in the banked entry, and how much.
        reason["query_match_pct"] = getattr(match, "query_match_pct", None)
        reason["entry_match_pct"] = getattr(match, "entry_match_pct", None)
        reason["frames_matched"] = getattr(match, "frames_matched", None)
        reason["segments"] = [{"start": s.start, "end": s.end} for s in query_segments]
        reason["entry_segments"] = [{"start": s.start, "end": s.end} for s in match.entry_segments]  # type: ignore[attr-defined]
    if suppressed_by:
        reason["suppressed_by"] = suppressed_by
    return reason


def distinct_reasons(reasons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each finding once: one bank reason per (bank, entry, outcome), the closest match of that entry
    (several hash types or variants of one entry can match the same image), and no repeated reason."""
    kept: dict[tuple[Any, ...], dict[str, Any]] = {}
    for reason in reasons:
        if reason["kind"] == "bank_match":
            key: tuple[Any, ...] = ("bank_match", reason["bank"], reason["entry_id"], reason["decision"])
            current = kept.get(key)
            if current is None or _closeness(reason) > _closeness(current):
                kept[key] = reason
            continue
        kept.setdefault(tuple(sorted((k, repr(v)) for k, v in reason.items())), reason)
    return list(kept.values())


def _closeness(reason: dict[str, Any]) -> float:
    threshold = reason.get("threshold", 0)
    return 1.0 - reason.get("distance", 0) / (threshold + 1) if threshold >= 0 else 1.0


def decide(
    policy: DecisionPolicy,
    *,
    matches: Sequence[BankMatch],
    classifier: ClassifierOutcome,
    prompt: str | None,
    source: str,
    thresholds: Thresholds | None = None,
) -> Decided:
    """The decision for one piece of content: every finding becomes a reason with its rule id and
    outcome; findings an allow-list match suppresses stay in the list (marked `suppressed_by`) with
    outcome `allow`; the strictest outcome wins. `risk` (0-1) ranks a `review` in the queue."""
    reasons: list[dict[str, Any]] = []
    risks: list[tuple[str, float]] = []
    allow_hits = [m for m in matches if m.action == "allow"]
    allow_list = policy.banks.allow_list
    allow_by = allow_hits[0].bank if allow_hits else None
    suppresses = set(allow_list.suppresses) if allow_hits else set()

    for match in allow_hits:
        reasons.append(_bank_reason(match, "allow", allow_list.rule, None))
    for match in matches:
        if match.action not in ("block", "review"):
            continue
        outcome = policy.banks.actions[match.action]  # type: ignore[index]
        suppressed_by = match.suppressed_by or (allow_by if "bank" in suppresses else None)
        if suppressed_by:
            reasons.append(_bank_reason(match, "allow", outcome.rule, suppressed_by))
            continue
        reasons.append(_bank_reason(match, outcome.decision, outcome.rule, None))
        closeness = 1.0 - match.distance / (match.threshold + 1) if match.threshold >= 0 else 1.0
        risks.append((outcome.decision, outcome.risk * (0.5 + 0.5 * max(0.0, closeness))))

    if classifier.result is not None:
        for reason, risk in classifier_findings(
            policy,
            classifier.result,
            source=source,
            thresholds=thresholds,
            suppressed_by=allow_by if "classifier" in suppresses else None,
        ):
            if reason.get("category") in classifier.peaks:
                # A video: the timestamp of the frame where the category scored highest.
                reason["timestamps"] = [classifier.peaks[reason["category"]]]
            reasons.append(reason)
            risks.append((reason["decision"], risk))
    else:
        fallback = (
            policy.on_classifier_disabled
            if classifier.state == "disabled"
            else policy.on_classifier_unavailable
        )
        decision = fallback.for_source(source)
        if decision != "allow":
            reasons.append(
                {
                    "kind": "classifier_unavailable",
                    "rule": fallback.rule,
                    "decision": decision,
                    "state": classifier.state,
                    "source": source,
                }
            )
            risks.append((decision, fallback.risk))

    prompt_suppressed = "prompt" in suppresses
    for hit in policy.screener().screen(prompt):
        decision = "allow" if prompt_suppressed else hit.decision  # type: ignore[assignment]
        reason = {"kind": "prompt", "rule": hit.rule, "decision": decision, "matched": hit.matched}
        if hit.term is not None:
            reason["term"] = hit.term
        if hit.pattern is not None:
            reason["pattern"] = hit.pattern
        if prompt_suppressed:
            reason["suppressed_by"] = allow_by
        reasons.append(reason)
        risks.append((decision, hit.risk))

    reasons = distinct_reasons(reasons)
    final = strictest([r["decision"] for r in reasons])
    relevant = [risk for decision, risk in risks if decision == final]
    risk = max(relevant, default=policy.review.default_risk if final == "review" else 0.0)
    reasons.sort(key=lambda r: -DECISION_RANK[r["decision"]])
    return Decided(decision=final, reasons=reasons, risk=round(risk, 6))
