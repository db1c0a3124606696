"""The open_clip weights preflight: a command on a machine without weights, caches or network learns
that open_clip is unavailable without importing torch (seconds of CPU per `moderation check FILE`),
and the preflight never declares unavailable what the full load could still find."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from moderation.classifier import weights
from moderation.classifier.setup import CLIP_MODEL_ID, build_classifier
from moderation.config import PROJECT_ROOT, Settings
from moderation.policy.categories import CategoryPolicy

from ..processes import base_env, free_port


@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No Hugging Face cache, no ~/.cache/clip, hub offline."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


def _settings(**overrides: object) -> Settings:
    return Settings(clip_model="ViT-B-32", clip_pretrained="laion2b_s34b_b79k", clip_weights=None).model_copy(
        update=overrides
    )


def test_offline_with_empty_caches_is_unavailable_with_the_runtimes_reason(empty_caches: Path) -> None:
    reason = weights.preflight(_settings())
    assert reason is not None
    assert "ViT-B-32@laion2b_s34b_b79k" in reason and "HF_HUB_OFFLINE" in reason


def test_unreachable_hub_is_unavailable(empty_caches: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE")
    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HF_ENDPOINT", closed)
    monkeypatch.setattr(weights, "OPENAI_WEIGHTS_URL", f"http://127.0.0.1:{free_port()}")
    reason = weights.preflight(_settings())
    assert reason is not None and "is unreachable" in reason and "MODERATION_CLIP_WEIGHTS" in reason


def test_anything_that_might_load_is_left_to_the_runtime(
    empty_caches: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A configured weights file that exists, or a cache that holds some model: the full load decides.
    weights_file = empty_caches / "weights.pt"
    weights_file.write_bytes(b"not checked here")
    assert weights.preflight(_settings(clip_weights=weights_file)) is None
    (empty_caches / "hf" / "hub" / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K").mkdir(parents=True)
    assert weights.preflight(_settings()) is None
    # The hub answering (a listening local socket stands in for it) means a download may work.
    monkeypatch.delenv("HF_HUB_OFFLINE")
    (empty_caches / "hf" / "hub" / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K").rmdir()
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{listener.getsockname()[1]}")
        assert weights.preflight(_settings()) is None


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        (
            {"clip_weights": Path("/nonexistent/weights.pt")},
            "weights file /nonexistent/weights.pt does not exist",
        ),
        ({"clip_pretrained": ""}, "no weights configured"),
        ({"clip_model": "/nonexistent/tiny.json"}, "model config /nonexistent/tiny.json does not exist"),
    ],
)
def test_settings_that_cannot_load_say_why(
    empty_caches: Path, overrides: dict[str, object], reason: str
) -> None:
    found = weights.preflight(_settings(**overrides))
    assert found is not None and reason in found


def test_build_classifier_records_open_clip_unavailable_without_a_runtime(
    empty_caches: Path, basic_policy: CategoryPolicy
) -> None:
    classifier = build_classifier(_settings(clip_enabled=True), basic_policy)
    assert CLIP_MODEL_ID not in classifier.runtimes
    status = classifier.status()["models"][CLIP_MODEL_ID]
    assert status["state"] == "unavailable" and "HF_HUB_OFFLINE" in status["reason"]


def test_check_command_without_weights_never_imports_torch(tmp_path: Path) -> None:
    image = tmp_path / "gradient.png"
    Image.linear_gradient("L").convert("RGB").save(image)
    env = base_env(
        f"sqlite:///{tmp_path / 'db.sqlite'}",
        tmp_path / "data",
        MODERATION_CLASSIFIER_ENABLED="true",
        HF_HUB_OFFLINE="1",
        HF_HOME=str(tmp_path / "hf"),
        HOME=str(tmp_path / "home"),
    )
    script = (
        "import sys, json\n"
        "from moderation.cli import app\n"
        "try:\n"
        "    app(['check', '--json', sys.argv[1]], prog_name='moderation')\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "loaded = sys.modules\n"
        "print(json.dumps({'code': code, 'torch': 'torch' in loaded, 'open_clip': 'open_clip' in loaded}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(image)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary == {"code": 0, "torch": False, "open_clip": False}, done.stderr[-2000:]
    assert '"decision"' in done.stdout
