"""Video entries in banks over HTTP and the CLI: add by file, add by vPDQ/JSONL frame list, export the
frames, per-bank Q and C, refusals with their codes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from moderation.cli import app as cli_app
from moderation.hashing.video import hash_video, parse_frame_lines, to_jsonl, to_vpdq_text
from tests.hashing.video_factories import audio_only, clip

Auth = Callable[[str], dict[str, str]]


def _bank(client: TestClient, admin: dict[str, str], **body: Any) -> Any:
    response = client.post("/v1/banks", json={"name": "videos", **body}, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_video_is_added_by_file_and_its_frames_export_as_vpdq(app_client: TestClient, auth: Auth) -> None:
    admin = auth("admin")
    assert _bank(app_client, admin)["video_query_match_pct"] == 80.0
    data = clip(seed=41, seconds=4.0, codec="vp9")
    response = app_client.post(
        "/v1/banks/videos/entries/video",
        files={"file": ("x.webm", data, "video/webm")},
        data={"note": "partner report", "metadata": '{"case": 7}'},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    entry = response.json()
    video = hash_video(data)
    assert (entry["hash_type"], entry["value"], entry["variant"]) == ("sha256", video.sha256, "video")
    assert entry["metadata"]["case"] == 7 and entry["metadata"]["video"]["frames"] == 4
    # MD5, one PDQ row per frame, then each frame's two robust variants.
    assert [r["hash_type"] for r in entry["rows"]] == ["md5"] + ["pdq"] * 12
    assert entry["rows"][2]["variant"] == f"frame:30:1000:{video.frames[1].quality}"
    assert entry["rows"][7]["variant"] == f"frame:30:1000:{video.frames[1].quality}:crop"
    exported = app_client.get(f"/v1/banks/videos/entries/{entry['id']}/frames", headers=admin)
    assert exported.status_code == 200
    assert exported.text == to_vpdq_text(video.frames)
    jsonl = app_client.get(
        f"/v1/banks/videos/entries/{entry['id']}/frames", params={"format": "jsonl"}, headers=admin
    )
    assert parse_frame_lines(jsonl.text.splitlines()) == list(video.frames)
    assert app_client.get("/v1/banks/videos", headers=admin).json()["entries"] == 1


def test_a_frame_list_is_imported_with_its_md5(app_client: TestClient, auth: Auth) -> None:
    admin = auth("admin")
    _bank(app_client, admin, video_query_match_pct=60, video_compared_match_pct=10)
    frames = hash_video(clip(seed=42, seconds=3.0)).frames
    response = app_client.post(
        "/v1/banks/videos/entries/video-hashes",
        files={"file": ("x.jsonl", to_jsonl(frames).encode(), "application/x-ndjson")},
        data={"md5": "AB" * 16},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    entry = response.json()
    assert entry["rows"][0] == {**entry["rows"][0], "hash_type": "md5", "value": "ab" * 16}
    assert len(entry["rows"]) == 1 + len(frames)
    bad = app_client.post(
        "/v1/banks/videos/entries/video-hashes",
        files={"file": ("x.txt", b"0,zz,100,0.000\n", "text/plain")},
        headers=admin,
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_frame_hashes")
    assert bad.json()["details"]["bad_lines"][0]["line"] == 1
    bank = app_client.get("/v1/banks/videos", headers=admin).json()
    assert (bank["video_query_match_pct"], bank["video_compared_match_pct"]) == (60.0, 10.0)
    response = app_client.patch("/v1/banks/videos", json={"video_query_match_pct": 101}, headers=admin)
    assert response.status_code == 422


def test_bad_video_files_are_refused_with_their_codes(app_client: TestClient, auth: Auth) -> None:
    admin = auth("admin")
    _bank(app_client, admin)
    for data, code in ((audio_only(), "no_video_stream"), (clip(seed=43)[:500], "truncated_video")):
        response = app_client.post(
            "/v1/banks/videos/entries/video", files={"file": ("x.mp4", data, "video/mp4")}, headers=admin
        )
        assert (response.status_code, response.json()["code"]) == (422, code)
    response = app_client.get("/v1/banks/videos/entries/1/frames", headers=admin)
    assert response.status_code == 404


def test_the_bank_cli_adds_videos_and_frame_lists(settings: Any, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli_app, ["bank", "create", "videos", "--video-query-pct", "70"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "a.mp4"
    path.write_bytes(clip(seed=44, seconds=3.0))
    result = runner.invoke(cli_app, ["bank", "add", "videos", str(path)])
    assert result.exit_code == 0, result.output
    assert "video sha256" in result.output and "3 frames" in result.output
    entry_id = int(result.output.split("entry ")[1].split()[0])
    result = runner.invoke(cli_app, ["bank", "export-frames", "videos", str(entry_id)])
    assert parse_frame_lines(result.output.splitlines()) == list(hash_video(path).frames)
    listing = tmp_path / "frames.txt"
    listing.write_text(result.output)
    result = runner.invoke(cli_app, ["bank", "add-frames", "videos", str(listing), "--md5", "cd" * 16])
    assert result.exit_code == 0, result.output
    assert "(3 frames)" in result.output
