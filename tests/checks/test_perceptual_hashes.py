"""pHash and dHash are computed for a check only while some bank holds that type (issue 18)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from moderation.banks.service import banks
from moderation.db import session_factory
from moderation.hashing.hashers import dhash_of, phash_of
from moderation.matching.service import matcher
from moderation.models.check import Check
from tests.factories import bank_image, encode, jpeg, picture, post_check

Auth = Callable[[str], dict[str, str]]


def _bank_hashes(engine: Engine, name: str, pairs: list[tuple[str, str]]) -> None:
    with session_factory(engine)() as session:
        banks.create(session, name=name, action="block", actor="test")
        banks.add_hashes(session, name, pairs, source="upload", actor="test")
        session.commit()
    matcher.refresh()


def _stored(engine: Engine, check_id: int) -> Check:
    with session_factory(engine)() as session:
        check = session.scalar(select(Check).where(Check.id == check_id))
        assert check is not None
        session.expunge(check)
        return check


def test_no_bank_of_the_type_means_the_hash_is_not_computed(
    client: TestClient, auth: Auth, engine: Engine
) -> None:
    _bank_hashes(engine, "pdq-only", [("pdq", "f" * 64)])
    headers = auth("checker")
    body = post_check(client, headers, jpeg(71)).json()
    assert body["decision"] == "allow"
    assert body["hashes"]["phash"] is None and body["hashes"]["dhash"] is None
    assert len(body["hashes"]["pdq"]) == 64 and len(body["hashes"]["sha256"]) == 64
    check = _stored(engine, body["check_id"])
    assert check.phash == "" and check.dhash == ""
    # Read back through the API: still null, not an empty string.
    again = client.get(f"/v1/check/{body['check_id']}", headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["hashes"]["phash"] is None


def test_setting_all_computes_both_without_any_bank(client: TestClient, auth: Auth, engine: Engine) -> None:
    context: Any = client.app.state.check_context  # type: ignore[attr-defined]
    context.settings = context.settings.model_copy(update={"check_perceptual_hashes": "all"})
    image = picture(72)
    body = post_check(client, auth("checker"), encode(image)).json()
    assert body["hashes"]["phash"] and len(body["hashes"]["phash"]) == 16
    assert body["hashes"]["dhash"] and len(body["hashes"]["dhash"]) == 16


def test_a_phash_only_bank_is_matched_and_computes_only_phash(
    client: TestClient, auth: Auth, engine: Engine
) -> None:
    from PIL import Image

    image = picture(73)
    _bank_hashes(engine, "phash-list", [("phash", phash_of(image.convert("RGB")))])
    copy = encode(image.resize((480, 360), Image.Resampling.BILINEAR), quality=70)
    body = post_check(client, auth("checker"), copy).json()
    assert body["decision"] == "block", body
    (reason,) = [r for r in body["reasons"] if r["kind"] == "bank_match"]
    assert reason["hash_type"] == "phash" and reason["bank"] == "phash-list"
    assert body["hashes"]["phash"] and body["hashes"]["dhash"] is None


def test_a_check_cached_without_a_hash_is_rehashed_once_a_bank_of_that_type_exists(
    client: TestClient, auth: Auth, engine: Engine
) -> None:
    headers = auth("checker")
    data = jpeg(74)
    first = post_check(client, headers, data).json()
    assert first["decision"] == "allow" and first["hashes"]["dhash"] is None
    assert post_check(client, headers, data).json()["cached"] is True
    from moderation.hashing.intake import ImageLimits, decode_image

    _bank_hashes(engine, "dhash-list", [("dhash", dhash_of(decode_image(data, ImageLimits()).image))])
    again = post_check(client, headers, data).json()
    assert again["cached"] is False and again["decision"] == "block", again
    assert again["hashes"]["dhash"]
    assert [r["hash_type"] for r in again["reasons"] if r["kind"] == "bank_match"] == ["dhash"]


def test_banking_an_image_still_gives_every_hash(client: TestClient, auth: Auth, engine: Engine) -> None:
    bank_image(engine, "images", jpeg(75))
    body = post_check(client, auth("checker"), jpeg(76)).json()
    assert body["hashes"]["phash"] and body["hashes"]["dhash"]
