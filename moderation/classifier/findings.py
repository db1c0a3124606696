"""The classifier's findings on one image under a decision profile: fired thresholds, combinations
and categories no model could score, each as a reason with its rule id, outcome and risk."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moderation.classifier.results import ClassifierResult
from moderation.policy.decisions import DecisionPolicy

# category -> scoring model (None: the category's own) -> (review, block)
Thresholds = Mapping[str, Mapping[str | None, tuple[float, float | None]]]


def _threshold(
    thresholds: Thresholds | None,
    category: str,
    level: str,
    model: str | None,
) -> float | None:
    """The threshold that fired: the scoring model's own when the category gives it one."""
    if not thresholds or category not in thresholds:
        return None
    per_model = thresholds[category]
    chosen = per_model.get(model) or per_model.get(None)
    if chosen is None:
        return None
    review, block = chosen
    return block if level == "block" else review


def classifier_findings(
    policy: DecisionPolicy,
    result: ClassifierResult,
    *,
    source: str,
    thresholds: Thresholds | None = None,
    suppressed_by: str | None = None,
) -> list[tuple[dict[str, Any], float]]:
    """Every classifier finding as (reason, risk). With `suppressed_by` (an allow-list bank that
    suppresses classifier findings) each finding is kept with outcome `allow`."""
    reasons: list[dict[str, Any]] = []
    risks: list[tuple[str, float]] = []
    classifier_suppressed = suppressed_by is not None
    allow_by = suppressed_by
    fired_review = set(result.review)
    unscored = set(result.unscored_ids)
    for score in result.categories:
        level = "block" if score.block else "review" if score.review else None
        if level is None:
            continue
        outcome = policy.classifier.outcome(score.id, level)
        decision = "allow" if classifier_suppressed else outcome.decision
        reason = {
            "kind": "classifier",
            "rule": outcome.rule,
            "decision": decision,
            "category": score.id,
            "score": round(score.score, 6),
            "threshold_level": level,
            "threshold": _threshold(thresholds, score.id, level, score.model),
            "child_safety": score.child_safety,
            "model": score.model,
        }
        if outcome.label:
            reason["label"] = outcome.label
        if classifier_suppressed:
            reason["suppressed_by"] = allow_by
        reasons.append(reason)
        bonus = policy.classifier.child_safety_risk_bonus if score.child_safety else 0.0
        risks.append((decision, min(1.0, outcome.risk * score.score + bonus)))
    for combination in policy.classifier.combinations:
        listed = combination.categories
        if all(c in fired_review for c in listed):
            decision = "allow" if classifier_suppressed else combination.decision
            rule, risk = combination.rule, combination.risk
            extra: dict[str, Any] = {}
        elif (
            combination.when_unscored is not None
            and all(c in fired_review or c in unscored for c in listed)
            and any(c in fired_review for c in listed)
        ):
            when = combination.when_unscored
            decision = "allow" if classifier_suppressed else when.decisions.for_source(source)
            rule, risk = when.rule, when.risk
            extra = {"unscored": [c for c in listed if c in unscored], "source": source}
        else:
            continue
        reason = {
            "kind": "classifier_combination",
            "rule": rule,
            "decision": decision,
            "categories": list(listed),
            "scores": {c: round(result.scores[c], 6) for c in listed if c in result.scores},
            **extra,
        }
        if classifier_suppressed:
            reason["suppressed_by"] = allow_by
        reasons.append(reason)
        risks.append((decision, risk))
    for missing in result.unscored:
        decision = policy.unscored.for_category(missing.id, source)
        if decision == "allow":
            continue
        reasons.append(
            {
                "kind": "classifier_unscored",
                "rule": policy.unscored.rule,
                "decision": decision,
                "category": missing.id,
                "child_safety": missing.child_safety,
                "source": source,
                "reason": missing.reason[:500],
            }
        )
        risks.append((decision, policy.unscored.risk))
    return [(reason, risk) for reason, (_, risk) in zip(reasons, risks, strict=True)]
