"""`moderation classifier info|classify` on the tiny model, configured through the environment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from moderation.cli import app
from moderation.config import get_settings
from moderation.policy.categories import CategoryPolicy

from .conftest import TinyModel


@pytest.fixture
def tiny_env(
    tiny_model: TinyModel, basic_policy: CategoryPolicy, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    monkeypatch.setenv("MODERATION_CLIP_MODEL", str(tiny_model.config))
    monkeypatch.setenv("MODERATION_CLIP_WEIGHTS", str(tiny_model.weights_safetensors))
    monkeypatch.setenv("MODERATION_POLICIES_DIR", str(Path(basic_policy.source).parent))
    monkeypatch.setenv("MODERATION_CLASSIFIER_ENABLED", "true")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_info_prints_status_and_categories(tiny_env: None) -> None:
    outcome = CliRunner().invoke(app, ["classifier", "info", "--timeout", "30"])
    assert outcome.exit_code == 0, outcome.output
    status, _ = json.JSONDecoder().raw_decode(outcome.output)
    assert status["state"] == "ready" and status["model"] == "open_clip"
    assert status["models"]["open_clip"]["model"].startswith("tiny-clip-test@sha256:")
    assert status["categories"]["red_vs_blue"]["model"] == "open_clip"
    assert "red_vs_blue" in outcome.output and "child_safety" in outcome.output


def test_info_exits_1_when_unavailable(tiny_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODERATION_CLIP_WEIGHTS", "/nonexistent.safetensors")
    get_settings.cache_clear()
    outcome = CliRunner().invoke(app, ["classifier", "info"])
    assert outcome.exit_code == 1
    assert '"state": "unavailable"' in outcome.output and "does not exist" in outcome.output


def test_classify_prints_one_json_object_per_file(tiny_env: None, tmp_path: Path) -> None:
    good = tmp_path / "gradient.png"
    Image.fromarray(np.tile(np.arange(64, dtype=np.uint8), (64, 1)), "L").save(good)
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"plain text, not an image")
    outcome = CliRunner().invoke(app, ["classifier", "classify", str(good), str(bad), "--embedding"])
    assert outcome.exit_code == 1  # one file failed
    lines = [json.loads(line) for line in outcome.output.splitlines() if line.startswith("{")]
    assert lines[0]["file"] == str(good)
    assert set(lines[0]["scores"]) == {"half", "three_quarters", "red_vs_blue"}
    assert len(lines[0]["embedding"]) == 32
    assert lines[1] == {
        "file": str(bad),
        "error": {"code": "unsupported_format", "message": f"{bad}: not an image format Pillow can read"},
    }
