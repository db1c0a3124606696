"""The check pipeline's adapter onto the matching service reports each bank entry once, by its best
match: exact hash types before PDQ before the 64-bit types, then the smallest distance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from moderation.checks.ports import ServiceMatcher
from moderation.hashing.hashers import hash_image_bytes
from moderation.hashing.intake import ImageLimits
from moderation.matching.service import Match
from tests.factories import jpeg


def _match(entry_id: int, hash_type: str, distance: int, bank: str = "known") -> Match:
    return Match(
        query=0,
        hash_type=hash_type,
        value="0" * 64,
        bank=bank,
        bank_id=1,
        entry_id=entry_id,
        variant="plain",
        distance=distance,
        threshold=31,
        action="block",
    )


class ScriptedMatches:
    """Stands in for the matching service: answers every query with the same matches, in order."""

    def __init__(self, matches: Sequence[Match]) -> None:
        self.matches = list(matches)
        self.queries: list[list[tuple[str, str]]] = []

    def match(self, hashes: Sequence[tuple[str, str]], **_: Any) -> list[Match]:
        self.queries.append(list(hashes))
        return self.matches


def test_each_entry_is_reported_once_by_its_best_match_not_its_first() -> None:
    service = ScriptedMatches(
        [
            # entry 1: found first by pHash, then PDQ twice, then by its exact SHA-256
            _match(1, "phash", 2),
            _match(1, "pdq", 20),
            _match(1, "pdq", 8),
            _match(1, "sha256", 0),
            # entry 2: pHash closer in bits than PDQ, but PDQ is preferred; the closer PDQ wins
            _match(2, "phash", 1),
            _match(2, "pdq", 9),
            _match(2, "pdq", 4),
            # entry 3: the first PDQ match is the best one and must not be replaced by a later one
            _match(3, "pdq", 3),
            _match(3, "pdq", 11),
            _match(3, "dhash", 0),
        ]
    )
    found = ServiceMatcher(service).match(hash_image_bytes(jpeg(5), ImageLimits()))  # type: ignore[arg-type]
    best = {m.entry_id: (m.hash_type, m.distance) for m in found}
    assert best == {1: ("sha256", 0), 2: ("pdq", 4), 3: ("pdq", 3)}
    assert len(found) == 3
    # Every hash of the content is asked about in one query.
    assert {t for t, _ in service.queries[0]} >= {"sha256", "md5", "pdq"}


def test_the_same_entry_id_in_two_banks_is_two_results() -> None:
    service = ScriptedMatches([_match(7, "pdq", 5, bank="a"), _match(7, "pdq", 6, bank="b")])
    found = ServiceMatcher(service).match(hash_image_bytes(jpeg(6), ImageLimits()))  # type: ignore[arg-type]
    assert sorted((m.bank, m.distance) for m in found) == [("a", 5), ("b", 6)]
