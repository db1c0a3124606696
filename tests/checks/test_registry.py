"""Content registry: identical and near-duplicate copies, the PDQ key prefilter, removal marking."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from moderation.checks.registry import content_registry, pdq_keys, pdq_probe_keys
from moderation.exceptions import ModerationError
from moderation.hashing.types import PDQ
from tests.factories import encode, jpeg, picture, post_check

Auth = Callable[[str], dict[str, str]]


def _flip(value: str, bits: int, rng: random.Random) -> str:
    number = int(value, 16)
    for bit in rng.sample(range(256), bits):
        number ^= 1 << bit
    return f"{number:064x}"


def test_probe_keys_find_every_hash_within_the_threshold() -> None:
    rng = random.Random(7)
    for threshold in (0, 15, 31, 40):
        for _ in range(300):
            query = f"{rng.getrandbits(256):064x}"
            near = _flip(query, rng.randint(0, threshold), rng)
            assert set(pdq_keys(near)) & set(pdq_probe_keys(query, threshold)), (threshold, query, near)
    assert len(pdq_probe_keys("0" * 64, 31)) == 16 * 17


def test_find_copies_returns_identical_and_near_duplicates(
    client: TestClient, auth: Auth, session: Session
) -> None:
    headers = auth("checker")
    original = post_check(client, headers, jpeg(1), {"content_id": "orig"}).json()
    post_check(client, headers, jpeg(1), {"content_id": "same-bytes"})
    post_check(client, headers, encode(picture(1).resize((400, 300)), quality=60), {"content_id": "resized"})
    post_check(client, headers, jpeg(2), {"content_id": "other"})
    copies = content_registry.find_copies(
        session, sha256=original["hashes"]["sha256"], pdq=original["hashes"]["pdq"]
    )
    by_id = {c.content_id: c for c in copies}
    assert set(by_id) == {"orig", "same-bytes", "resized"}
    assert by_id["orig"].match == by_id["same-bytes"].match == "identical"
    assert by_id["resized"].match == "near_duplicate" and 0 < by_id["resized"].distance <= 31
    assert [c.content_id for c in content_registry.copies_of(session, "resized")][:1] == ["resized"]
    assert {c.content_id for c in content_registry.copies_of(session, "resized")} == set(by_id)


def test_find_copies_matches_brute_force_on_planted_hashes(session: Session) -> None:
    from moderation.checks.repository import content_repository
    from moderation.kit.time import utc_now
    from moderation.models.check import Check
    from moderation.models.content_item import ContentItem

    rng = random.Random(3)
    check = Check(
        actor="t",
        sha256="0" * 64,
        md5="0" * 32,
        pdq="0" * 64,
        pdq_quality=100,
        phash="0" * 16,
        dhash="0" * 16,
        image_format="JPEG",
        width=1,
        height=1,
        source="upload",
        cache_key="k",
        decision="allow",
        reasons=[],
        classifier={},
        timings_ms={},
        policy_version="v",
    )
    session.add(check)
    session.flush()
    query = f"{rng.getrandbits(256):064x}"
    values = [_flip(query, rng.randint(0, 60), rng) for _ in range(150)] + [
        f"{rng.getrandbits(256):064x}" for _ in range(150)
    ]
    for i, value in enumerate(values):
        item = ContentItem(
            content_id=f"c{i}",
            sha256=f"{i:064x}",
            md5=f"{i:032x}",
            pdq=value,
            pdq_quality=100,
            check_id=check.id,
            decision="allow",
            last_checked_at=utc_now(),
        )
        content_repository.add(session, item, pdq_keys(value))
    found = {c.content_id for c in content_registry.find_copies(session, pdq=query, pdq_threshold=31)}
    expected = {f"c{i}" for i, v in enumerate(values) if PDQ.distance(query, v) <= 31}
    assert found == expected and expected


def test_mark_removed_marks_every_version_and_is_audited(
    client: TestClient, auth: Auth, session: Session
) -> None:
    headers = auth("checker")
    post_check(client, headers, jpeg(5), {"content_id": "p1"})
    post_check(client, headers, jpeg(6), {"content_id": "p1"})
    removed = content_registry.mark_removed(session, "p1", notice_id=42, actor="cli:test")
    session.commit()
    assert len(removed) == 2
    copies = content_registry.copies_of(session, "p1")
    assert all(c.removed_at is not None and c.removal_notice_id == "42" for c in copies)
    with pytest.raises(ModerationError) as exc:
        content_registry.mark_removed(session, "nope", notice_id=1, actor="cli:test")
    assert exc.value.code == "content_not_found"
    with pytest.raises(ModerationError) as exc:
        content_registry.find_copies(session, pdq="0" * 64, pdq_threshold=64)
    assert exc.value.code == "invalid_threshold"
