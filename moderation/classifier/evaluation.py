"""Measures the classifier on an operator's labelled images: per category precision, recall and
false-positive rate at candidate thresholds, ROC AUC, the threshold reaching a target precision, and
what the decision profile would have decided. Pure: images and scores in, a report out.

Labels: an image labelled with a category id is a positive for that category and a negative for every
other; any other label (`benign`, `safe`, ...) is a negative for every category.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from moderation.classifier.findings import Thresholds, classifier_findings
from moderation.classifier.results import ClassifierResult
from moderation.exceptions import ModerationError
from moderation.policy.categories import CategoryPolicy
from moderation.policy.decisions import DecisionPolicy, strictest

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
CANDIDATE_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


class EvaluationDataError(ModerationError):
    """The labelled data set cannot be read (missing files, a malformed CSV, no images)."""

    code = "evaluation_data_invalid"
    status = 400


@dataclass(frozen=True)
class Sample:
    path: Path
    label: str


def read_samples(source: Path) -> list[Sample]:
    """A folder with one sub-folder per label, or a CSV of `path,label` (paths relative to the CSV)."""
    if source.is_dir():
        samples = [
            Sample(path, folder.name)
            for folder in sorted(p for p in source.iterdir() if p.is_dir())
            for path in sorted(folder.rglob("*"))
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
        ]
    elif source.is_file():
        samples = []
        with source.open(newline="", encoding="utf-8") as fh:
            for number, row in enumerate(csv.reader(fh), start=1):
                if not row or (number == 1 and [c.strip().lower() for c in row[:2]] == ["path", "label"]):
                    continue
                if len(row) < 2 or not row[0].strip() or not row[1].strip():
                    raise EvaluationDataError(f"{source}:{number}: expected `path,label`")
                path = Path(row[0].strip())
                path = path if path.is_absolute() else source.parent / path
                if not path.is_file():
                    raise EvaluationDataError(f"{source}:{number}: {path} does not exist")
                samples.append(Sample(path, row[1].strip()))
    else:
        raise EvaluationDataError(f"{source}: neither a folder of label folders nor a CSV file")
    if not samples:
        raise EvaluationDataError(f"{source}: no labelled images found")
    return samples


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Area under the ROC curve (the probability a positive outscores a negative; ties count half)."""
    pos, neg = scores[positive], scores[~positive]
    if len(pos) == 0 or len(neg) == 0:
        return None
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def at_threshold(scores: np.ndarray, positive: np.ndarray, threshold: float) -> dict[str, Any]:
    """Confusion counts, precision, recall and false-positive rate when `score >= threshold` flags."""
    flagged = scores >= threshold
    tp = int((flagged & positive).sum())
    fp = int((flagged & ~positive).sum())
    fn = int((~flagged & positive).sum())
    tn = int((~flagged & ~positive).sum())
    return {
        "threshold": threshold,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "fpr": fp / (fp + tn) if fp + tn else None,
    }


def threshold_for_precision(scores: np.ndarray, positive: np.ndarray, target: float) -> dict[str, Any] | None:
    """The lowest threshold (among the observed scores) whose precision reaches `target`, with its
    metrics; None when no threshold does."""
    for threshold in sorted(set(scores.tolist())):
        row = at_threshold(scores, positive, threshold)
        if row["precision"] is not None and row["precision"] >= target:
            return row
    return None


def evaluate(
    samples: Sequence[Sample],
    results: Sequence[ClassifierResult],
    categories: CategoryPolicy,
    decisions: DecisionPolicy,
    *,
    thresholds: Thresholds,
    target_precision: float,
    source: str = "unknown",
    candidates: Sequence[float] = CANDIDATE_THRESHOLDS,
) -> dict[str, Any]:
    """The report: per category metrics over the images it was scored on, and per label the
    decisions the profile's classifier rules would have made (banks and prompts play no part)."""
    report: dict[str, Any] = {
        "images": len(samples),
        "labels": dict(Counter(s.label for s in samples)),
        "target_precision": target_precision,
        "source": source,
        "categories": {},
        "decisions": {},
    }
    for category in categories.categories:
        rows = [
            (result.scores[category.id], sample.label == category.id, result)
            for sample, result in zip(samples, results, strict=True)
            if category.id in result.scores
        ]
        entry: dict[str, Any] = {"scored": len(rows), "unscored": len(samples) - len(rows)}
        if rows:
            scores = np.array([r[0] for r in rows], dtype=np.float64)
            positive = np.array([r[1] for r in rows], dtype=bool)
            model = next((c.model for c in rows[0][2].categories if c.id == category.id), None)
            policy_thresholds = category.thresholds_for(model) if model else category.thresholds
            entry.update(
                model=model,
                positives=int(positive.sum()),
                negatives=int((~positive).sum()),
                roc_auc=roc_auc(scores, positive),
                at_thresholds=[at_threshold(scores, positive, t) for t in candidates],
                at_policy_review=at_threshold(scores, positive, policy_thresholds.review),
                threshold_for_target_precision=threshold_for_precision(scores, positive, target_precision),
                scores=scores.tolist(),
                positive=positive.tolist(),
            )
        report["categories"][category.id] = entry
    per_label: dict[str, Counter[str]] = {}
    for sample, result in zip(samples, results, strict=True):
        findings = classifier_findings(decisions, result, source=source, thresholds=thresholds)
        decision = strictest([reason["decision"] for reason, _ in findings])
        per_label.setdefault(sample.label, Counter())[decision] += 1
    report["decisions"] = {label: dict(counts) for label, counts in sorted(per_label.items())}
    return report


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """`report.json` (without the raw score lists) and `roc.png` (one ROC curve per category)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window
    from matplotlib import pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(6, 6))
    for category_id, entry in report["categories"].items():
        if entry.get("roc_auc") is None:
            continue
        scores, positive = np.array(entry["scores"]), np.array(entry["positive"], dtype=bool)
        points = [(0.0, 0.0)] + [
            (float((scores >= t)[~positive].mean()), float((scores >= t)[positive].mean()))
            for t in sorted(set(scores.tolist()), reverse=True)
        ]
        axes.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            label=f"{category_id} (AUC {entry['roc_auc']:.3f})",
        )
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
    axes.set_xlabel("false-positive rate")
    axes.set_ylabel("recall (true-positive rate)")
    axes.set_title(f"ROC, {report['images']} labelled images")
    axes.legend(loc="lower right")
    plot = out_dir / "roc.png"
    figure.savefig(plot, dpi=100)
    plt.close(figure)
    compact = {
        **report,
        "categories": {
            cid: {k: v for k, v in entry.items() if k not in ("scores", "positive")}
            for cid, entry in report["categories"].items()
        },
    }
    path = out_dir / "report.json"
    path.write_text(json.dumps(compact, indent=2))
    return path, plot
