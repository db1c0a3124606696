"""`moderation classifier evaluate` and its metrics: generated images, the tiny random open_clip model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from moderation.classifier.evaluation import (
    EvaluationDataError,
    at_threshold,
    read_samples,
    roc_auc,
    threshold_for_precision,
)
from moderation.cli import app
from moderation.config import PROJECT_ROOT, get_settings

from .conftest import TinyModel, softmax_category


def test_metrics_on_known_scores() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.3, 0.2])
    positive = np.array([True, True, False, True, False, False])
    # 3 positives x 3 negatives = 9 pairs; the positive 0.6 loses to the negative 0.7 only.
    assert roc_auc(scores, positive) == pytest.approx(8 / 9)
    row = at_threshold(scores, positive, 0.65)
    assert (row["tp"], row["fp"], row["fn"], row["tn"]) == (2, 1, 1, 2)
    assert row["precision"] == pytest.approx(2 / 3) and row["recall"] == pytest.approx(2 / 3)
    assert row["fpr"] == pytest.approx(1 / 3)
    found = threshold_for_precision(scores, positive, 1.0)
    assert found is not None and found["threshold"] == 0.8 and found["recall"] == pytest.approx(2 / 3)
    assert threshold_for_precision(np.array([0.9, 0.1]), np.array([False, True]), 0.6) is None
    assert roc_auc(scores, np.ones(6, dtype=bool)) is None


def _square(colour: tuple[int, int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = np.array(colour, dtype=np.int16) + rng.integers(-20, 20, (48, 48, 3))
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    root = tmp_path / "labelled"
    for label, colour, count in (("red_vs_blue", (220, 30, 30), 6), ("benign", (30, 30, 220), 8)):
        (root / label).mkdir(parents=True)
        for index in range(count):
            _square(colour, index).save(root / label / f"{index}.png")
    return root


@pytest.fixture
def tiny_policies(tiny_model: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    policies = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", policies)
    categories = [softmax_category("red_vs_blue", ["a red square"], ["a blue square"], 0.5, 0.9)]
    (policies / "classifier.yaml").write_text(yaml.safe_dump({"categories": categories}))
    profile = policies / "profiles" / "general.yaml"
    raw = yaml.safe_load(profile.read_text())
    raw["classifier"].pop("combinations")
    raw["unscored"].pop("categories")
    profile.write_text(yaml.safe_dump(raw))
    (policies / "profiles" / "adult.yaml").unlink()
    for key, value in {
        "MODERATION_CLIP_MODEL": str(tiny_model.config),
        "MODERATION_CLIP_WEIGHTS": str(tiny_model.weights_safetensors),
        "MODERATION_POLICIES_DIR": str(policies),
        "MODERATION_CLASSIFIER_ENABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield policies
    get_settings.cache_clear()


def test_evaluate_a_folder_per_label_writes_report_and_plot(
    tiny_policies: Path, labelled: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    outcome = CliRunner().invoke(
        app, ["classifier", "evaluate", str(labelled), "--out", str(out), "--target-precision", "0.5"]
    )
    assert outcome.exit_code == 0, outcome.output
    assert "red_vs_blue (open_clip): 6 positives, 8 negatives, ROC AUC" in outcome.output
    report = json.loads((out / "report.json").read_text())
    entry = report["categories"]["red_vs_blue"]
    assert report["images"] == 14 and report["labels"] == {"red_vs_blue": 6, "benign": 8}
    assert entry["positives"] == 6 and entry["negatives"] == 8 and 0.0 <= entry["roc_auc"] <= 1.0
    for row in entry["at_thresholds"]:
        assert row["tp"] + row["fn"] == 6 and row["fp"] + row["tn"] == 8
    # Precision 0.5 is always reachable here: at the lowest score everything is flagged (6 of 14 < 0.5),
    # so the answer, if any, is a threshold where at most as many negatives as positives remain.
    found = entry["threshold_for_target_precision"]
    assert found is None or found["precision"] >= 0.5
    assert sum(sum(counts.values()) for counts in report["decisions"].values()) == 14
    assert report["profile"] == "general" and len(report["policy_version"]) == 16
    assert (out / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_a_csv_gives_the_same_scores(tiny_policies: Path, labelled: Path, tmp_path: Path) -> None:
    rows = ["path,label"] + [
        f"{p.relative_to(labelled)},{p.parent.name}" for p in sorted(labelled.rglob("*.png"))
    ]
    (labelled / "labels.csv").write_text("\n".join(rows) + "\n")
    runner = CliRunner()
    assert (
        runner.invoke(app, ["classifier", "evaluate", str(labelled), "--out", str(tmp_path / "a")]).exit_code
        == 0
    )
    outcome = runner.invoke(
        app, ["classifier", "evaluate", str(labelled / "labels.csv"), "--out", str(tmp_path / "b")]
    )
    assert outcome.exit_code == 0, outcome.output
    folder = json.loads((tmp_path / "a" / "report.json").read_text())["categories"]["red_vs_blue"]
    csv = json.loads((tmp_path / "b" / "report.json").read_text())["categories"]["red_vs_blue"]
    assert folder["roc_auc"] == csv["roc_auc"] and folder["at_thresholds"] == csv["at_thresholds"]


def test_bad_data_sets_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvaluationDataError, match="no labelled images"):
        read_samples(tmp_path / "empty")
    (tmp_path / "bad.csv").write_text("path,label\nmissing.png,benign\n")
    with pytest.raises(EvaluationDataError, match=r"bad\.csv:2: .*missing\.png does not exist"):
        read_samples(tmp_path / "bad.csv")
    (tmp_path / "short.csv").write_text("only-a-path\n")
    with pytest.raises(EvaluationDataError, match=r"short\.csv:1: expected `path,label`"):
        read_samples(tmp_path / "short.csv")
