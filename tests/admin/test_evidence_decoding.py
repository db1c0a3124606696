"""Reporter evidence in the dashboard goes through the intake's decode rules (issue 11, findings 5
and 6): format allow-list, byte and pixel limits, and the process-wide decode slots."""

from __future__ import annotations

import base64
import io
import struct
import threading
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from moderation.hashing import intake
from moderation.hashing.intake import DecodeBusy, ImageLimits, decode_image
from tests.admin.conftest import form_token, generated_png

Auth = Callable[[str], dict[str, str]]


def png_header_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` greyscale pixels (the data is a few bytes)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


def tiff(seed: int = 3) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(generated_png(seed, size=64))).save(out, format="TIFF")
    return out.getvalue()


def _evidence_id(client: TestClient, auth: Auth, make_notice: Callable[..., int], data: bytes) -> int:
    notice_id = make_notice(content={"image_base64": base64.b64encode(data).decode()})
    detail = client.get(f"/v1/notices/{notice_id}", headers=auth("admin"))
    assert detail.status_code == 200, detail.text
    return int(detail.json()["evidence"][0]["id"])


@pytest.mark.parametrize("side", [13_000, 20_000])
def test_bomb_evidence_preview_is_refused_not_decoded(
    signed_in: Callable[[str], TestClient], auth: Auth, make_notice: Callable[..., int], side: int
) -> None:
    client = signed_in("reviewer")
    evidence_id = _evidence_id(client, auth, make_notice, png_header_bomb(side, side))
    response = client.get(f"/admin/evidence/{evidence_id}/image")
    assert response.status_code == 404 and "not a readable image" in response.text


def test_formats_outside_the_allow_list_are_never_rendered(
    signed_in: Callable[[str], TestClient], auth: Auth, make_notice: Callable[..., int]
) -> None:
    client = signed_in("reviewer")
    data = tiff()
    evidence_id = _evidence_id(client, auth, make_notice, data)
    assert client.get(f"/admin/evidence/{evidence_id}/image").status_code == 404
    token = form_token(client.get("/admin").text)
    client.post(
        f"/admin/evidence/{evidence_id}/reveal",
        data={"csrf_token": token},
        headers={"accept": "application/json"},
    )
    full = client.get(f"/admin/evidence/{evidence_id}/image?view=full")
    assert full.status_code == 200 and full.content == data
    assert full.headers["content-type"] == "application/octet-stream"
    assert full.headers["content-disposition"] == "attachment"


def test_decodes_beyond_the_cap_wait_then_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = ImageLimits(max_concurrent_decodes=1, decode_wait_seconds=0.2)
    started, release = threading.Event(), threading.Event()
    real = intake._load_normalised

    def slow(*args: Any) -> Any:
        started.set()
        release.wait(10)
        return real(*args)

    monkeypatch.setattr(intake, "_gates", {})
    monkeypatch.setattr(intake, "_load_normalised", slow)
    image = generated_png(5, size=64)
    holder = threading.Thread(target=decode_image, args=(image, limits))
    holder.start()
    try:
        assert started.wait(10)
        with pytest.raises(DecodeBusy) as refused:
            decode_image(image, limits)
        assert refused.value.status == 503 and refused.value.code == "decode_busy"
    finally:
        release.set()
        holder.join()
    monkeypatch.setattr(intake, "_load_normalised", real)
    assert decode_image(image, limits).width == 64  # the slot is free again


def test_memory_bound_follows_the_settings(settings: Any) -> None:
    limits = ImageLimits.from_settings(settings.model_copy(update={"max_concurrent_decodes": 3}))
    assert limits.max_concurrent_decodes == 3
    assert limits.decode_memory_bound == 3 * settings.max_image_pixels * intake.DECODE_BYTES_PER_PIXEL
