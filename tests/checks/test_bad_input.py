"""Bad uploads get a 4xx with a stable code, never a 500; the service stays up and keeps its data."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from moderation.hashing.intake import ImageLimits
from tests.factories import jpeg, post_check

Auth = Callable[[str], dict[str, str]]


def _png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A tiny PNG whose header claims 400 megapixels (never decoded: refused from the header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def _corrupt_jpeg() -> bytes:
    data = bytearray(jpeg(5))
    for i in range(200, len(data) - 10, 7):
        data[i] = (data[i] * 31 + 17) % 256
    return bytes(data[:2]) + b"\xff\xdb\x00\x02" + bytes(data[200:400])


def _tiff() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 30)).save(buffer, format="TIFF")
    return buffer.getvalue()


CASES: list[tuple[str, bytes, str, int, str]] = [
    ("zero-byte", b"", "image/jpeg", 422, "empty_image"),
    ("truncated", jpeg(5)[:300], "image/jpeg", 422, "corrupt_image"),
    ("corrupt", _corrupt_jpeg(), "image/jpeg", 422, "corrupt_image"),
    ("decompression bomb", _png_bomb(), "image/png", 413, "image_dimensions_too_large"),
    ("text labelled as JPEG", b"hello, this is plain text\n" * 20, "image/jpeg", 415, "unsupported_format"),
    ("TIFF (not accepted)", _tiff(), "image/tiff", 415, "unsupported_format"),
]


@pytest.mark.parametrize(
    ("label", "data", "content_type", "status", "code"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_images_are_refused_with_their_code(
    client: TestClient, auth: Auth, label: str, data: bytes, content_type: str, status: int, code: str
) -> None:
    response = post_check(client, auth("checker"), data, content_type=content_type)
    assert response.status_code == status, (label, response.text)
    assert response.json()["code"] == code


def test_a_good_png_labelled_as_text_is_checked_by_its_bytes(client: TestClient, auth: Auth) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(buffer, format="PNG")
    response = post_check(client, auth("checker"), buffer.getvalue(), content_type="text/plain")
    assert response.status_code == 200 and response.json()["image"]["format"] == "PNG"


def test_too_large_upload_is_refused_while_reading(client: TestClient, auth: Auth) -> None:
    app: Any = client.app
    app.state.check_context.limits = ImageLimits(max_bytes=50_000, max_pixels=50_000_000)
    response = post_check(client, auth("checker"), b"\xff\xd8\xff" + b"\0" * 200_000)
    assert response.status_code == 413 and response.json()["code"] == "image_too_large"


def test_request_shape_errors(client: TestClient, auth: Auth) -> None:
    headers = auth("checker")
    response = client.post("/v1/check", headers=headers, json={"file": "abc"})
    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"
    response = client.post(
        "/v1/check", headers=headers, data={"metadata": "{}"}, files={"other": ("x", b"1")}
    )
    assert response.status_code == 400 and response.json()["code"] == "missing_file"
    response = client.post(
        "/v1/check", headers={**headers, "Content-Type": "multipart/form-data"}, content=b"--x\r\n"
    )
    assert response.status_code == 400 and response.json()["code"] == "malformed_request"
    response = client.post(
        "/v1/check",
        headers={**headers, "Content-Type": "multipart/form-data; boundary=xyz"},
        content=b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\nabc',
    )
    assert response.status_code == 400 and response.json()["code"] == "malformed_request"


@pytest.mark.parametrize(
    ("metadata", "status", "code"),
    [
        ("not json", 400, "malformed_metadata"),
        ("[1, 2]", 400, "malformed_metadata"),
        ('{"source": "scanner"}', 422, "invalid_metadata"),
        ('{"content_id": ""}', 422, "invalid_metadata"),
        ('{"unknown_field": 1}', 422, "invalid_metadata"),
        ('{"prompt": 5}', 422, "invalid_metadata"),
    ],
)
def test_bad_metadata(client: TestClient, auth: Auth, metadata: str, status: int, code: str) -> None:
    response = post_check(client, auth("checker"), jpeg(6), metadata)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


def test_service_stays_up_and_keeps_stored_checks_after_bad_input(client: TestClient, auth: Auth) -> None:
    headers = auth("checker")
    stored = post_check(client, headers, jpeg(7)).json()
    for _, data, content_type, _, _ in CASES:
        assert post_check(client, headers, data, content_type=content_type).status_code < 500
    assert client.get(f"/v1/check/{stored['check_id']}", headers=headers).json()["hashes"] == stored["hashes"]
    assert post_check(client, headers, jpeg(8)).status_code == 200
    assert client.get("/healthz").status_code == 200
