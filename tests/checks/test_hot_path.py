"""The hot path does each piece of work once and keeps blocking work off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from moderation.checks import service
from moderation.hashing import intake
from moderation.hashing.hashers import hash_decoded
from moderation.hashing.intake import ImageLimits, decode_image
from tests.factories import jpeg, post_check

Auth = Callable[[str], dict[str, str]]


def test_hashes_equal_the_hashing_package_with_the_lookup_sha256_reused() -> None:
    data = jpeg(3)
    decoded = decode_image(data, ImageLimits())
    expected = hash_decoded(data, decoded)
    assert hash_decoded(data, decoded, sha256=expected.sha256) == expected
    only_phash = hash_decoded(data, decoded, perceptual=("phash",))
    assert only_phash.phash == expected.phash and only_phash.dhash is None
    assert only_phash.sha256 == expected.sha256 and only_phash.pdq == expected.pdq


def test_one_decode_and_no_blocking_stage_on_the_event_loop(
    client: TestClient, auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, bool]] = []

    def on_loop() -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    def spy(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append((name, on_loop()))
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(service, "decode_image", spy("decode", intake.decode_image))
    monkeypatch.setattr(service, "hash_decoded", spy("hash", service.hash_decoded))
    for stage in ("_lookup", "_record"):
        monkeypatch.setattr(service.CheckService, stage, spy(stage, getattr(service.CheckService, stage)))
    body = post_check(client, auth("checker"), jpeg(5)).json()
    assert body["decision"] == "allow"
    assert sorted(name for name, _ in calls) == ["_lookup", "_record", "decode", "hash"]
    assert not [name for name, loop in calls if loop], calls


def test_sqlite_cache_lookups_read_without_the_write_lock(client: TestClient, auth: Auth) -> None:
    context = client.app.state.check_context  # type: ignore[attr-defined]
    engine = client.app.state.engine  # type: ignore[attr-defined]
    if engine.dialect.name != "sqlite":
        assert context.reader is None
        return
    assert context.reader is not None
    with engine.connect() as writer:
        # Another transaction holds SQLite's write lock: a lookup through the reader still answers.
        writer.exec_driver_sql("SELECT 1")
        assert writer.in_transaction()
        with context.reader() as reader:
            assert reader.connection().exec_driver_sql("SELECT count(*) FROM checks").scalar() == 0
    first = post_check(client, auth("checker"), jpeg(6)).json()
    again = post_check(client, auth("checker"), jpeg(6)).json()
    assert again["cached"] is True and again["check_id"] == first["check_id"]
