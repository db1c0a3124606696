"""Videos through the check: POST /v1/check and the batch, refusals with their codes, bank matches with
segments and percentages, the classifier over sampled frames, and the CLI (`check`, `hash`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from moderation.banks.service import banks
from moderation.checks.service import checks
from moderation.cli import app as cli_app
from moderation.db import session_factory
from moderation.hashing.video import hash_video, parse_frame_lines
from moderation.matching.service import matcher
from moderation.models.check import Check
from tests.checks.conftest import FakeClassifier, with_classifier
from tests.factories import jpeg, post_check
from tests.hashing.video_factories import clip, cut

Auth = Callable[[str], dict[str, str]]


def _bank_video(engine: Engine, name: str, data: bytes) -> int:
    with session_factory(engine)() as session:
        banks.create(session, name=name, actor="test")
        entry = banks.add_video(session, name, hash_video(data), actor="test")[0]
        session.commit()
    if matcher.state == "ready":
        matcher.refresh()
    return entry.id


def _post(client: TestClient, headers: dict[str, str], data: bytes, **metadata: Any) -> Any:
    return post_check(
        client, headers, data, metadata or None, filename="clip.bin", content_type="application/octet-stream"
    )


def test_a_clip_of_a_banked_video_is_blocked_with_segments_and_percentages(
    app_client: TestClient, auth: Auth, engine: Engine
) -> None:
    banked = clip(seed=31, seconds=8.0)
    entry = _bank_video(engine, "known-videos", banked)
    response = _post(app_client, auth("checker"), cut(banked, 2.0, 6.0), content_id="v-1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["decision"] == "block"
    (reason,) = [r for r in body["reasons"] if r["kind"] == "bank_match"]
    assert (reason["bank"], reason["entry_id"], reason["variant"], reason["rule"]) == (
        "known-videos",
        entry,
        "video",
        "bank.block",
    )
    assert reason["query_match_pct"] == 100.0 and 40.0 <= reason["entry_match_pct"] <= 60.0
    assert reason["segments"] == [{"start": 0.0, "end": 3.0}]
    assert reason["entry_segments"] == [{"start": 2.0, "end": 5.0}]
    assert body["image"] == {"format": "mp4", "width": 160, "height": 120}
    assert [f["timestamp"] for f in body["video"]["frames"]] == [0.0, 1.0, 2.0, 3.0]
    assert body["video"]["decoded_frames"] == 120
    with session_factory(engine)() as session:
        check = session.get(Check, body["check_id"])
        assert check is not None
        assert (check.media_type, check.duration_seconds) == ("video", 4.0)
        assert check.video_frames is not None and len(check.video_frames) == 4
        stored = checks.get(session, body["check_id"])
    assert stored.video is not None
    assert stored.video.model_dump()["frames"] == body["video"]["frames"]


def test_an_unrelated_video_is_not_matched(app_client: TestClient, auth: Auth, engine: Engine) -> None:
    _bank_video(engine, "known-videos", clip(seed=31, seconds=8.0))
    body = _post(app_client, auth("checker"), clip(seed=32, seconds=4.0)).json()
    assert [r for r in body["reasons"] if r["kind"] == "bank_match"] == []
    assert body["decision"] != "block"


def test_bad_videos_get_their_codes(app_client: TestClient, auth: Auth) -> None:
    data = clip(seed=33, seconds=4.0)
    response = _post(app_client, auth("checker"), data[: len(data) // 2])
    assert (response.status_code, response.json()["code"]) == (422, "truncated_video")
    app: Any = app_client.app
    context = app.state.check_context
    limits = context.video_limits
    try:
        context.video_limits = type(limits)(max_bytes=len(data) - 1)
        response = _post(app_client, auth("checker"), data)
        assert (response.status_code, response.json()["code"]) == (413, "video_too_large")
        context.video_limits = type(limits)(max_seconds=2.0)
        response = _post(app_client, auth("checker"), data)
        assert (response.status_code, response.json()["code"]) == (413, "video_too_long")
    finally:
        context.video_limits = limits


def test_a_batch_mixes_images_and_videos(app_client: TestClient, auth: Auth) -> None:
    data = clip(seed=34, seconds=3.0)
    files = [
        ("file", ("a.jpg", jpeg(1), "image/jpeg")),
        ("file", ("b.mp4", data, "video/mp4")),
        ("file", ("c.mp4", data[:100], "video/mp4")),
    ]
    response = app_client.post("/v1/check/batch", headers=auth("checker"), files=files)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert results[0]["result"]["video"] is None
    assert len(results[1]["result"]["video"]["frames"]) == 3
    assert results[2]["error"]["code"] == "truncated_video"


def test_the_classifier_scores_sampled_frames_and_reports_the_peak(
    app_client: TestClient, auth: Auth
) -> None:
    classifier = FakeClassifier({"violence_gore": 0.6})
    with_classifier(app_client, classifier)
    body = _post(app_client, auth("checker"), clip(seed=35, seconds=6.0)).json()
    assert body["decision"] == "review"
    (reason,) = [r for r in body["reasons"] if r["kind"] == "classifier"]
    assert reason["category"] == "violence_gore" and reason["timestamps"] == [0.0]
    assert 1 < classifier.calls <= 8
    assert len(body["classifier"]["frames"]) == classifier.calls
    # A certain block stops the scoring after the first chunk of frames.
    blocking = FakeClassifier({"violence_gore": 0.95})
    with_classifier(app_client, blocking)
    body = _post(app_client, auth("checker"), clip(seed=36, seconds=8.0)).json()
    assert body["decision"] == "block"
    assert blocking.calls == 4


def test_cli_check_and_hash_take_videos(settings: Any, engine: Engine, tmp_path: Path) -> None:
    banked = clip(seed=37, seconds=6.0)
    _bank_video(engine, "known-videos", banked)
    path = tmp_path / "upload.webm"
    path.write_bytes(clip(seed=37, seconds=6.0, codec="vp9"))
    runner = CliRunner()
    result = runner.invoke(cli_app, ["check", str(path), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["decision"] == "block" and body["image"]["format"] == "webm"
    result = runner.invoke(cli_app, ["hash", str(path), "--vpdq"])
    assert result.exit_code == 0, result.output
    frames = parse_frame_lines(result.output.splitlines())
    assert frames == list(hash_video(path).frames)
    result = runner.invoke(cli_app, ["hash", str(path), "--json"])
    row = json.loads(result.output)
    assert row["format"] == "webm" and len(row["frames"]) == len(frames)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(banked[:200])
    result = runner.invoke(cli_app, ["hash", str(broken), "--json"])
    assert result.exit_code == 1 and json.loads(result.output)["error"] == "truncated_video"
