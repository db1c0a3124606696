"""HTTP endpoints of the matching feature: POST /v1/match for clients that send bare hashes."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter

from moderation.dependencies import Checker
from moderation.hashing.types import parse_hash
from moderation.matching import schemas
from moderation.matching.service import matcher

router = APIRouter()


# Requests of up to this many hashes are matched on the event loop (about a millisecond each at 10M
# hashes): the hop to the thread pool and back costs more than the lookup. Larger ones go to a thread.
INLINE_HASHES = 4


@router.post("/match")
async def match_hashes(body: schemas.MatchRequest, principal: Checker) -> schemas.MatchResponse:
    """The bank entries within threshold of each hash (bank, entry, distance, threshold, action)."""
    if len(body.hashes) <= INLINE_HASHES:
        return _match(body)
    return await anyio.to_thread.run_sync(_match, body)


def _match(body: schemas.MatchRequest) -> schemas.MatchResponse:
    labels = [h.content if h.content is not None else ("hash", i) for i, h in enumerate(body.hashes)]
    matches = matcher.match([(h.type, h.value) for h in body.hashes], groups=labels)
    results = []
    for h in body.hashes:
        hash_type, value = parse_hash(h.type, h.value)
        results.append(schemas.HashResult(type=hash_type.name, value=value, content=h.content, matches=[]))
    for m in matches:
        results[m.query].matches.append(
            schemas.EntryMatch(
                bank=m.bank,
                entry_id=m.entry_id,
                variant=m.variant,
                distance=m.distance,
                threshold=m.threshold,
                action=m.action,
                suppressed_by=m.suppressed_by,
            )
        )
    return schemas.MatchResponse(results=results)
