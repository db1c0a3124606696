"""The pre-publish check pipeline, check seals, the content registry and the review queue.

A check runs in four phases so that the database transaction stays short and never spans the slow
stages: (1) SHA-256 of the bytes and a cache lookup in a read-only transaction that is ended before
anything slow happens; (2) one decode, every hash computed once, in-memory bank matching; (3) the
classifier (batched with concurrent requests); (4) the decision and every write (check, content
registry, review item, audit event) in the caller's transaction, which the caller commits.

Block and review decisions are audited one event each; allow decisions are sealed in batches by
`check_seals` (one `checks.sealed` audit event per batch) so checks never wait on the audit chain lock.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import anyio.to_thread
import numpy as np
from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.checks.decision import ClassifierOutcome, Decided, decide
from moderation.checks.ports import Matcher, add_hashes_to_bank
from moderation.checks.repository import (
    checks_repository,
    content_repository,
    review_copy_repository,
    review_repository,
)
from moderation.checks.schemas import CheckMetadata, CheckResult, Hashes, ImageInfo, Reason, ReviewEntry
from moderation.classifier.interface import ImageClassifier
from moderation.classifier.results import CategoryScore, ClassifierResult
from moderation.config import Settings, get_settings
from moderation.exceptions import IllegalTransition, ModerationError, NotFound, ValidationFailed
from moderation.hashing.hashers import ImageHashes, dhash_of, pdq_of_array, phash_of
from moderation.hashing.intake import DecodedImage, ImageLimits, check_size, decode_image
from moderation.hashing.types import PDQ, PDQ_DEFAULT_THRESHOLD, hamming_to_rows, hex_to_rows
from moderation.kit.time import utc_now
from moderation.models.check import Check
from moderation.models.content_item import ContentItem
from moderation.models.review_copy import ReviewCopy
from moderation.models.review_item import ReviewItem
from moderation.policy.categories import CategoryPolicy, load_categories
from moderation.policy.decisions import get_decisions
from moderation.policy.loader import Policy
from moderation.statements.schemas import StatementOut
from moderation.statements.service import statements
from moderation.takedown import evidence as evidence_crypto

T = TypeVar("T")
RunSync = Callable[[Callable[[], T]], Awaitable[T]]


class CheckNotFound(NotFound):
    code = "check_not_found"


class ReviewItemNotFound(NotFound):
    code = "review_item_not_found"


class ReviewCopyNotFound(NotFound):
    code = "review_copy_not_found"


class SealConflict(ModerationError):
    code = "seal_conflict"
    status = 409


@dataclass
class CheckContext:
    """The per-process collaborators of the pipeline (set up once by the app or the CLI)."""

    matcher: Matcher
    classifier: ImageClassifier | None
    limits: ImageLimits
    # For the encrypted review copies (the evidence key); the process settings when None.
    settings: Settings | None = None
    # Sessions for the read-only cache lookup that take no write lock (SQLite: deferred BEGIN, so
    # concurrent lookups do not queue behind writers); the caller's session when None.
    reader: Callable[[], Session] | None = None


@dataclass
class CheckInput:
    """One image to check: its bytes (or the intake error that refused it) and the platform's metadata."""

    data: bytes | None
    metadata: CheckMetadata = field(default_factory=CheckMetadata)
    error: ModerationError | None = None
    read_ms: float = 0.0


@dataclass
class _Work:
    item: CheckInput
    started: float
    timings: dict[str, float] = field(default_factory=dict)
    sha256: str = ""
    cache_key: str = ""
    cached: dict[str, Any] | None = None
    decoded: DecodedImage | None = None
    hashes: ImageHashes | None = None
    matches: Sequence[Any] = ()
    classifier: ClassifierOutcome | None = None
    decided: Decided | None = None
    error: ModerationError | None = None
    result: CheckResult | None = None


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)


def cache_key(sha256: str, metadata: CheckMetadata) -> str:
    """Identical bytes with the same decision inputs (source, prompt) share a key."""
    text = f"{sha256}\0{metadata.source_or_unknown}\0{metadata.prompt or ''}"
    return hashlib.sha256(text.encode()).hexdigest()


def _category_thresholds(policy: Policy) -> dict[str, tuple[float, float | None]]:
    categories: CategoryPolicy = policy.part("categories", load_categories)
    return {c.id: (c.thresholds.review, c.thresholds.block) for c in categories.categories}


def _classifier_state(classifier: ImageClassifier | None) -> str:
    if classifier is None:
        return "disabled"
    return str(classifier.status().get("state", "unavailable"))


def _stored_classifier(body: dict[str, Any]) -> ClassifierOutcome:
    state = str(body.get("state", "unavailable"))
    if state != "ready" or "categories" not in body:
        return ClassifierOutcome(state=state, reason=body.get("reason"))
    result = ClassifierResult(
        categories=tuple(
            CategoryScore(
                id=c["id"],
                score=float(c["score"]),
                review=bool(c["review"]),
                block=bool(c["block"]),
                child_safety=bool(c.get("child_safety", False)),
            )
            for c in body["categories"]
        ),
        model=str(body.get("model", "")),
        policy_version=str(body.get("policy_version", "")),
    )
    return ClassifierOutcome(state="ready", result=result)


def _hashes_of(check: Check) -> ImageHashes:
    return ImageHashes(
        sha256=check.sha256,
        md5=check.md5,
        pdq=check.pdq,
        pdq_quality=check.pdq_quality,
        phash=check.phash,
        dhash=check.dhash,
    )


def _snapshot(check: Check) -> dict[str, Any]:
    """Plain data of a stored check (safe to use after its transaction has ended)."""
    return {
        "id": check.id,
        "hashes": _hashes_of(check),
        "image": ImageInfo(format=check.image_format, width=check.width, height=check.height),
        "decision": check.decision,
        "reasons": list(check.reasons),
        "classifier": dict(check.classifier),
        "timings_ms": dict(check.timings_ms),
        "policy_version": check.policy_version,
        "content_id": check.content_id,
        "verdict": check.verdict,
        "verdict_by": check.verdict_by,
    }


def _rules(reasons: Sequence[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return sorted((r["rule"], r["decision"], str(r.get("entry_id", r.get("category", "")))) for r in reasons)


def _effective(
    decision: str, reasons: list[dict[str, Any]], verdict: str | None, verdict_by: str | None
) -> tuple[str, list[dict[str, Any]]]:
    """A reviewer's allow/block verdict overrides the automated `review` decision."""
    if verdict in ("allow", "block"):
        note = {"kind": "review_verdict", "rule": "review.verdict", "decision": verdict, "by": verdict_by}
        return verdict, [note, *reasons]
    return decision, reasons


def _result(
    *,
    check_id: int,
    decision: str,
    cached: bool,
    reasons: list[dict[str, Any]],
    hashes: ImageHashes,
    image: ImageInfo,
    classifier: dict[str, Any],
    policy_version: str,
    timings: dict[str, float],
    content_id: str | None,
    review_item_id: int | None,
    statement: StatementOut | None = None,
) -> CheckResult:
    return CheckResult(
        check_id=check_id,
        decision=decision,
        cached=cached,
        reasons=[Reason.model_validate(r) for r in reasons],
        hashes=Hashes(**hashes.as_dict()),
        image=image,
        classifier=classifier,
        policy_version=policy_version,
        timings_ms=timings,
        content_id=content_id,
        review_item_id=review_item_id,
        statement=statement,
    )


def _hash_decoded(data: bytes, decoded: DecodedImage, sha256: str) -> ImageHashes:
    """`hashing.hash_decoded` reusing the SHA-256 the cache lookup already took of the same bytes."""
    pdq, quality = pdq_of_array(decoded.array())
    return ImageHashes(
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        pdq=pdq,
        pdq_quality=quality,
        phash=phash_of(decoded.image),
        dhash=dhash_of(decoded.image),
    )


async def _to_thread(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn)


class CheckService:
    """Runs checks. `check_many` is the one pipeline; `check`, `check_sync` are conveniences."""

    # --- phase 1: cache ---------------------------------------------------------------------------

    def _lookup(self, session: Session, works: list[_Work], policy: Policy, context: CheckContext) -> None:
        if context.reader is not None and not session.in_transaction():
            with context.reader() as reader:
                self._lookup_in(reader, works, policy, context)
            return
        started_txn = not session.in_transaction()
        self._lookup_in(session, works, policy, context)
        if started_txn and session.in_transaction() and not (session.new or session.dirty or session.deleted):
            # End the read-only transaction before decoding and classifying (on SQLite every
            # transaction holds the write lock); phase 4 opens the short write transaction.
            session.rollback()

    def _lookup_in(self, session: Session, works: list[_Work], policy: Policy, context: CheckContext) -> None:
        decisions = get_decisions(policy)
        thresholds = _category_thresholds(policy)
        state_now = _classifier_state(context.classifier)
        for work in works:
            item = work.item
            if item.error is not None or item.data is None:
                continue
            try:
                check_size(len(item.data), context.limits)
            except ModerationError as exc:
                work.error = exc
                continue
            begin = time.perf_counter()
            work.sha256 = hashlib.sha256(item.data).hexdigest()
            work.cache_key = cache_key(work.sha256, item.metadata)
            stored = checks_repository.cached(session, work.cache_key, policy.version)
            work.timings["cache_lookup"] = _ms(begin)
            if stored is None:
                continue
            snapshot = _snapshot(stored)
            outcome = _stored_classifier(snapshot["classifier"])
            # Reuse stored scores only if they are at least as good as what the classifier gives now.
            if outcome.state != "ready" and outcome.state != state_now:
                continue
            begin = time.perf_counter()
            matches = context.matcher.match(snapshot["hashes"])
            again = decide(
                decisions,
                matches=matches,
                classifier=outcome,
                prompt=item.metadata.prompt,
                source=item.metadata.source_or_unknown,
                thresholds=thresholds,
            )
            work.timings["match"] = _ms(begin)
            # Banks change: a new entry (a takedown's stay-down hash) must not be hidden by the cache.
            if again.decision == snapshot["decision"] and _rules(again.reasons) == _rules(
                snapshot["reasons"]
            ):
                work.cached = snapshot

    # --- phase 2: decode, hash, match ---------------------------------------------------------------

    def _prepare(self, works: list[_Work], context: CheckContext) -> None:
        for work in works:
            if work.error is not None or work.item.error is not None or work.cached is not None:
                continue
            data = work.item.data
            assert data is not None
            begin = time.perf_counter()
            try:
                work.decoded = decode_image(data, context.limits)
                work.hashes = _hash_decoded(data, work.decoded, work.sha256)
            except ModerationError as exc:
                work.error = exc
                continue
            work.timings["decode_hash"] = _ms(begin)
            begin = time.perf_counter()
            work.matches = context.matcher.match(work.hashes)
            work.timings["match"] = _ms(begin)

    # --- phase 3: classifier -----------------------------------------------------------------------

    def _pending_classification(self, works: list[_Work], context: CheckContext) -> list[_Work]:
        state = _classifier_state(context.classifier)
        pending = []
        for work in works:
            if work.decoded is None:
                continue
            if state != "ready":
                reason = (
                    context.classifier.status().get("reason")
                    if context.classifier
                    else "disabled by settings"
                )
                work.classifier = ClassifierOutcome(state=state, reason=reason)
            else:
                pending.append(work)
        return pending

    def _apply_classification(
        self, pending: list[_Work], results: list[ClassifierResult] | ModerationError, elapsed_ms: float
    ) -> None:
        for position, work in enumerate(pending):
            work.timings["classifier"] = elapsed_ms
            if isinstance(results, ModerationError):
                state = str(results.details.get("state", "error")) if results.details else "error"
                work.classifier = ClassifierOutcome(state=state, reason=results.message)
            else:
                work.classifier = ClassifierOutcome(state="ready", result=results[position])

    async def _classify(self, works: list[_Work], context: CheckContext) -> None:
        pending = self._pending_classification(works, context)
        if not pending or context.classifier is None:
            return
        begin = time.perf_counter()
        try:
            results: list[ClassifierResult] | ModerationError = await context.classifier.classify(
                [w.decoded.image for w in pending if w.decoded is not None]
            )
        except ModerationError as exc:
            results = exc
        self._apply_classification(pending, results, _ms(begin))

    def _classify_sync(self, works: list[_Work], context: CheckContext) -> None:
        pending = self._pending_classification(works, context)
        if not pending or context.classifier is None:
            return
        begin = time.perf_counter()
        try:
            results: list[ClassifierResult] | ModerationError = context.classifier.classify_sync(
                [w.decoded.image for w in pending if w.decoded is not None]
            )
        except ModerationError as exc:
            results = exc
        self._apply_classification(pending, results, _ms(begin))

    # --- phase 4: decide and record ----------------------------------------------------------------

    def _record(
        self, session: Session, works: list[_Work], policy: Policy, actor: str, context: CheckContext
    ) -> None:
        decisions = get_decisions(policy)
        thresholds = _category_thresholds(policy)
        settings = context.settings or get_settings()
        for work in works:
            if work.error is not None or work.item.error is not None:
                continue
            meta = work.item.metadata
            if work.cached is not None:
                work.result = self._cached_result(session, work, actor, policy)
                continue
            assert work.hashes is not None and work.decoded is not None
            classifier = work.classifier or ClassifierOutcome(state="disabled")
            begin = time.perf_counter()
            decided = decide(
                decisions,
                matches=work.matches,
                classifier=classifier,
                prompt=meta.prompt,
                source=meta.source_or_unknown,
                thresholds=thresholds,
            )
            work.timings["decide"] = _ms(begin)
            begin = time.perf_counter()
            hashes, decoded = work.hashes, work.decoded
            check = checks_repository.add(
                session,
                Check(
                    actor=actor,
                    sha256=hashes.sha256,
                    md5=hashes.md5,
                    pdq=hashes.pdq,
                    pdq_quality=hashes.pdq_quality,
                    phash=hashes.phash,
                    dhash=hashes.dhash,
                    image_format=decoded.format,
                    width=decoded.width,
                    height=decoded.height,
                    content_id=meta.content_id,
                    uploader_id=meta.uploader_id,
                    source=meta.source_or_unknown,
                    prompt=meta.prompt,
                    generator_model=meta.model,
                    seed=None if meta.seed is None else str(meta.seed),
                    cache_key=work.cache_key,
                    decision=decided.decision,
                    reasons=decided.reasons,
                    classifier=classifier.to_dict(),
                    timings_ms={},
                    policy_version=policy.version,
                ),
            )
            review_id = None
            if decided.decision == "review":
                review_id = review_repository.add(
                    session,
                    ReviewItem(
                        check_id=check.id, risk=decided.risk, content_id=meta.content_id, state="open"
                    ),
                ).id
                assert work.item.data is not None
                review_copy_repository.add(
                    session,
                    ReviewCopy(
                        review_item_id=review_id,
                        sha256=hashes.sha256,
                        size=len(work.item.data),
                        ciphertext=evidence_crypto.encrypt(settings, work.item.data),
                    ),
                )
            if meta.content_id:
                content_registry.register(session, check, meta)
            if decided.decision != "allow":
                audit.record(
                    session,
                    actor=actor,
                    action=f"check.{decided.decision}",
                    subject_type="check",
                    subject_id=check.id,
                    details={
                        "content_id": meta.content_id,
                        "sha256": hashes.sha256,
                        "rules": sorted({r["rule"] for r in decided.reasons if r["decision"] != "allow"}),
                        "review_item_id": review_id,
                    },
                    policy_version=policy.version,
                )
            statement = statements.record_check(session, check, actor=actor, policy=policy)
            work.timings["store"] = _ms(begin)
            work.timings["total"] = _ms(work.started)
            check.timings_ms = dict(work.timings)
            work.result = _result(
                check_id=check.id,
                decision=decided.decision,
                cached=False,
                reasons=decided.reasons,
                hashes=hashes,
                image=ImageInfo(format=decoded.format, width=decoded.width, height=decoded.height),
                classifier=check.classifier,
                policy_version=policy.version,
                timings=work.timings,
                content_id=meta.content_id,
                review_item_id=review_id,
                statement=statement,
            )

    def _cached_result(self, session: Session, work: _Work, actor: str, policy: Policy) -> CheckResult:
        snapshot = work.cached
        assert snapshot is not None
        meta = work.item.metadata
        check = None
        if meta.content_id:
            check = checks_repository.get(session, snapshot["id"])
            assert check is not None
            content_registry.register(session, check, meta)
        statement = None
        if snapshot["verdict"] == "block" or (
            snapshot["decision"] != "allow" and snapshot["verdict"] != "allow"
        ):
            check = check or checks_repository.get(session, snapshot["id"])
            assert check is not None
            # The same bytes under another content id are another restriction: its own statement.
            record = statements.record_verdict if check.verdict == "block" else statements.record_check
            statement = record(session, check, actor=actor, content_id=meta.content_id, policy=policy)
        review = review_repository.by_check(session, snapshot["id"])
        decision, reasons = _effective(
            snapshot["decision"], snapshot["reasons"], snapshot["verdict"], snapshot["verdict_by"]
        )
        work.timings["total"] = _ms(work.started)
        return _result(
            check_id=snapshot["id"],
            decision=decision,
            cached=True,
            reasons=reasons,
            hashes=snapshot["hashes"],
            image=snapshot["image"],
            classifier=snapshot["classifier"],
            policy_version=snapshot["policy_version"],
            timings=work.timings,
            content_id=meta.content_id or snapshot["content_id"],
            review_item_id=review.id if review else None,
            statement=statement,
        )

    # --- public API --------------------------------------------------------------------------------

    async def check_many(
        self,
        session: Session,
        items: list[CheckInput],
        *,
        policy: Policy,
        context: CheckContext,
        actor: str,
        run_sync: RunSync[Any] | None = None,
    ) -> list[CheckResult | ModerationError]:
        """Check several images; one result or one error per input, in order (a bad image fails only
        its own entry). Blocking work runs on worker threads (`run_sync`, default anyio's thread pool),
        the classifier is awaited, and every write goes into `session`'s transaction: the caller commits.
        """
        run = run_sync or _to_thread
        works = [_Work(item=item, started=time.perf_counter() - item.read_ms / 1000) for item in items]
        for work in works:
            if work.item.read_ms:
                work.timings["read"] = round(work.item.read_ms, 3)
        await run(lambda: self._lookup(session, works, policy, context))
        await run(lambda: self._prepare(works, context))
        await self._classify(works, context)
        await run(lambda: self._record(session, works, policy, actor, context))
        return self._outputs(works)

    async def check(
        self, session: Session, item: CheckInput, *, policy: Policy, context: CheckContext, actor: str
    ) -> CheckResult:
        """Check one image; raises the intake error (`ImageRejected` subclass) for a bad image."""
        (output,) = await self.check_many(session, [item], policy=policy, context=context, actor=actor)
        if isinstance(output, ModerationError):
            raise output
        return output

    def check_sync(
        self, session: Session, item: CheckInput, *, policy: Policy, context: CheckContext, actor: str
    ) -> CheckResult:
        """The same pipeline without an event loop (the CLI): the classifier runs synchronously."""
        works = [_Work(item=item, started=time.perf_counter())]
        self._lookup(session, works, policy, context)
        self._prepare(works, context)
        self._classify_sync(works, context)
        self._record(session, works, policy, actor, context)
        (output,) = self._outputs(works)
        if isinstance(output, ModerationError):
            raise output
        return output

    def _outputs(self, works: list[_Work]) -> list[CheckResult | ModerationError]:
        outputs: list[CheckResult | ModerationError] = []
        for work in works:
            error = work.item.error or work.error
            if error is not None:
                outputs.append(error)
            else:
                assert work.result is not None
                outputs.append(work.result)
        return outputs

    def get(self, session: Session, check_id: int) -> CheckResult:
        """A stored check as the API shows it (with a reviewer's verdict applied)."""
        check = checks_repository.get(session, check_id)
        if check is None:
            raise CheckNotFound(f"no check {check_id}")
        return self._stored_result(session, check)

    def _stored_result(self, session: Session, check: Check) -> CheckResult:
        snapshot = _snapshot(check)
        review = review_repository.by_check(session, check.id)
        decision, reasons = _effective(check.decision, list(check.reasons), check.verdict, check.verdict_by)
        return _result(
            check_id=check.id,
            decision=decision,
            cached=False,
            reasons=reasons,
            hashes=snapshot["hashes"],
            image=snapshot["image"],
            classifier=snapshot["classifier"],
            policy_version=check.policy_version,
            timings=snapshot["timings_ms"],
            content_id=check.content_id,
            review_item_id=review.id if review else None,
        )


# --- content registry ------------------------------------------------------------------------------

PDQ_SEGMENTS = 16
PDQ_SEGMENT_BITS = 16
MAX_NEAR_DUPLICATE_THRESHOLD = 47
MAX_CANDIDATES = 100_000


def pdq_keys(pdq: str) -> list[int]:
    """The 16 stored keys of a PDQ hash: `segment << 16 | 16-bit value of that segment`."""
    value = PDQ.parse(pdq)
    return [(i << PDQ_SEGMENT_BITS) | int(value[4 * i : 4 * i + 4], 16) for i in range(PDQ_SEGMENTS)]


def pdq_probe_keys(pdq: str, threshold: int) -> list[int]:
    """Every key a hash within `threshold` of `pdq` must share at least one of (pigeonhole: with 16
    segments and a per-segment radius t, 16 * (t + 1) > threshold guarantees one segment within t)."""
    radius = -(-(threshold + 1) // PDQ_SEGMENTS) - 1
    flips: list[int] = [0]
    if radius >= 1:
        flips += [1 << b for b in range(PDQ_SEGMENT_BITS)]
    if radius >= 2:
        flips += [
            (1 << a) | (1 << b) for a in range(PDQ_SEGMENT_BITS) for b in range(a + 1, PDQ_SEGMENT_BITS)
        ]
    keys: list[int] = []
    for key in pdq_keys(pdq):
        segment, value = key >> PDQ_SEGMENT_BITS, key & 0xFFFF
        keys.extend((segment << PDQ_SEGMENT_BITS) | (value ^ flip) for flip in flips)
    return keys


@dataclass(frozen=True)
class ContentCopy:
    """A registered piece of platform content that is the same as, or near, the queried content."""

    content_item_id: int
    content_id: str
    uploader_id: str | None
    match: str  # identical | near_duplicate
    distance: int
    sha256: str
    md5: str
    pdq: str
    check_id: int
    decision: str
    removed_at: Any = None
    removal_notice_id: str | None = None


def _copy(item: ContentItem, match: str, distance: int) -> ContentCopy:
    return ContentCopy(
        content_item_id=item.id,
        content_id=item.content_id,
        uploader_id=item.uploader_id,
        match=match,
        distance=distance,
        sha256=item.sha256,
        md5=item.md5,
        pdq=item.pdq,
        check_id=item.check_id,
        decision=item.decision,
        removed_at=item.removed_at,
        removal_notice_id=item.removal_notice_id,
    )


class ContentRegistry:
    """Platform content ids with their hashes, so a takedown can find every copy already published.

    Near-duplicate search uses a multi-index prefilter in SQL: each item stores 16 keys (one per
    16-bit segment of its PDQ hash); a query probes the keys within distance 1 of each of its segments
    (272 keys at threshold 31), which by the pigeonhole principle includes every hash within the
    threshold, then verifies the candidates' exact Hamming distance in numpy. No full table scan.
    """

    def register(self, session: Session, check: Check, meta: CheckMetadata) -> ContentItem:
        """Record (or refresh) `meta.content_id` with the check's hashes and decision."""
        assert meta.content_id is not None
        now = utc_now()
        existing = content_repository.get(session, meta.content_id, check.sha256)
        if existing is not None:
            existing.check_id, existing.decision, existing.last_checked_at = check.id, check.decision, now
            return existing
        item = ContentItem(
            content_id=meta.content_id,
            uploader_id=meta.uploader_id,
            sha256=check.sha256,
            md5=check.md5,
            pdq=check.pdq,
            pdq_quality=check.pdq_quality,
            check_id=check.id,
            decision=check.decision,
            last_checked_at=now,
        )
        return content_repository.add(session, item, pdq_keys(check.pdq))

    def find_copies(
        self,
        session: Session,
        *,
        sha256: str | None = None,
        md5: str | None = None,
        pdq: str | None = None,
        pdq_threshold: int = PDQ_DEFAULT_THRESHOLD,
    ) -> list[ContentCopy]:
        """Every registered item identical to the query (same SHA-256 or MD5) or near it (PDQ within
        `pdq_threshold`, at most 47), identical ones first, then by distance."""
        if pdq_threshold < 0 or pdq_threshold > MAX_NEAR_DUPLICATE_THRESHOLD:
            raise ValidationFailed(
                f"pdq_threshold must be between 0 and {MAX_NEAR_DUPLICATE_THRESHOLD}",
                code="invalid_threshold",
            )
        found: dict[int, ContentCopy] = {}
        for item in content_repository.exact(session, sha256=sha256, md5=md5):
            found[item.id] = _copy(item, "identical", 0)
        if pdq:
            query = hex_to_rows([pdq])[0]
            candidates = [
                c
                for c in content_repository.by_pdq_keys(
                    session, pdq_probe_keys(pdq, pdq_threshold), MAX_CANDIDATES
                )
                if c.id not in found
            ]
            if candidates:
                distances = hamming_to_rows(query, hex_to_rows([c.pdq for c in candidates]))
                for item, distance in zip(candidates, np.asarray(distances).tolist(), strict=True):
                    if distance <= pdq_threshold:
                        found[item.id] = _copy(item, "near_duplicate", int(distance))
        return sorted(found.values(), key=lambda c: (c.match != "identical", c.distance, c.content_item_id))

    def copies_of(
        self, session: Session, content_id: str, *, pdq_threshold: int = PDQ_DEFAULT_THRESHOLD
    ) -> list[ContentCopy]:
        """Every copy of every version registered under `content_id` (the item itself included)."""
        found: dict[int, ContentCopy] = {}
        for item in content_repository.by_content_id(session, content_id):
            for copy in self.find_copies(
                session, sha256=item.sha256, md5=item.md5, pdq=item.pdq, pdq_threshold=pdq_threshold
            ):
                if copy.content_item_id not in found or copy.distance < found[copy.content_item_id].distance:
                    found[copy.content_item_id] = copy
        return sorted(found.values(), key=lambda c: (c.match != "identical", c.distance, c.content_item_id))

    def mark_removed(
        self, session: Session, content_id: str, notice_id: str | int, actor: str
    ) -> list[ContentCopy]:
        """Mark every registered version of `content_id` as removed under a notice (audited)."""
        items = content_repository.mark_removed(
            session, content_id, at=utc_now(), actor=actor, notice_id=str(notice_id)
        )
        if not items:
            raise NotFound(f"no registered content '{content_id}'", code="content_not_found")
        audit.record(
            session,
            actor=actor,
            action="content.removed",
            subject_type="content",
            subject_id=content_id,
            details={"notice_id": str(notice_id), "items": [i.id for i in items]},
        )
        return [_copy(i, "identical", 0) for i in items]


# --- review queue --------------------------------------------------------------------------------

QUEUE_STATES = {
    "open": ("open",),
    "escalated": ("escalated",),
    "pending": ("open", "escalated"),
    "decided": ("allowed", "blocked"),
    "all": ("open", "escalated", "allowed", "blocked"),
}


class ReviewQueue:
    """Checks decided `review`, highest risk first.

    Lifecycle: a `review` decision opens an item (`open`). A reviewer's verdict moves it: `escalate`
    -> `escalated` (still pending, for a senior reviewer); `allow` -> `allowed`, `block` -> `blocked`
    (final; the check records the verdict, and later checks of the same bytes return it). A `block`
    verdict may add the content's hashes to a bank. Every verdict is audited.
    """

    def list(
        self, session: Session, *, state: str = "pending", limit: int = 50, offset: int = 0
    ) -> list[ReviewEntry]:
        """A page of the queue (`state`: open, escalated, pending = both, decided, all)."""
        if state not in QUEUE_STATES:
            raise ValidationFailed(f"state must be one of {', '.join(QUEUE_STATES)}", code="invalid_state")
        items = review_repository.queue(session, states=QUEUE_STATES[state], limit=limit, offset=offset)
        checks_by_id = checks_repository.by_ids(session, [i.check_id for i in items])
        return [self._entry(session, item, checks_by_id[item.check_id]) for item in items]

    def get(self, session: Session, item_id: int) -> ReviewEntry:
        item = review_repository.get(session, item_id)
        if item is None:
            raise ReviewItemNotFound(f"no review item {item_id}")
        check = checks_repository.get(session, item.check_id)
        assert check is not None
        return self._entry(session, item, check)

    def _entry(self, session: Session, item: ReviewItem, check: Check) -> ReviewEntry:
        return ReviewEntry(
            id=item.id,
            state=item.state,
            risk=item.risk,
            created_at=item.created_at,
            content_id=item.content_id,
            decided_at=item.decided_at,
            decided_by=item.decided_by,
            note=item.note,
            added_to_bank=item.added_to_bank,
            check=checks._stored_result(session, check),
            prompt=check.prompt,
            source=check.source,
        )

    def verdict(
        self,
        session: Session,
        item_id: int,
        *,
        verdict: str,
        actor: str,
        note: str | None = None,
        add_to_bank: str | None = None,
        policy_version: str | None = None,
        settings: Settings | None = None,
    ) -> ReviewEntry:
        """Record a reviewer's verdict (`allow`, `block`, `escalate`) against the item and its check.

        The item's encrypted image copy is deleted on `allow`; on `block` it is kept for
        MODERATION_REVIEW_COPY_RETENTION_DAYS (0: deleted at once), then the purge job deletes it."""
        if verdict not in ("allow", "block", "escalate"):
            raise ValidationFailed("verdict must be allow, block or escalate", code="invalid_verdict")
        if add_to_bank and verdict != "block":
            raise ValidationFailed("add_to_bank goes only with a block verdict", code="invalid_verdict")
        item = review_repository.get(session, item_id, for_update=True)
        if item is None:
            raise ReviewItemNotFound(f"no review item {item_id}")
        check = checks_repository.get(session, item.check_id)
        assert check is not None
        from_states = ("open",) if verdict == "escalate" else ("open", "escalated")
        now = utc_now()
        new_state = {"allow": "allowed", "block": "blocked", "escalate": "escalated"}[verdict]
        values: dict[str, Any] = {"state": new_state, "note": note}
        if verdict != "escalate":
            values.update(decided_at=now, decided_by=actor)
        if not review_repository.claim_transition(session, item.id, from_states=from_states, values=values):
            raise IllegalTransition(
                f"review item {item_id} is {item.state}; it cannot take a(n) {verdict} verdict",
                details={"state": item.state},
            )
        bank_entries: list[Any] = []
        if verdict != "escalate":
            check.verdict, check.verdict_at, check.verdict_by = verdict, now, actor
            for content in content_repository.exact(session, sha256=check.sha256, md5=None):
                if content.check_id == check.id:
                    content.decision = verdict
            if add_to_bank:
                bank_entries = list(
                    add_hashes_to_bank(
                        session,
                        bank=add_to_bank,
                        hashes=_hashes_of(check),
                        actor=actor,
                        note=f"review item {item.id} (check {check.id}) blocked",
                        metadata={
                            "check_id": check.id,
                            "review_item_id": item.id,
                            "content_id": item.content_id,
                        },
                    )
                    or []
                )
                session.refresh(item)
                item.added_to_bank = add_to_bank
        copy = self._settle_copy(session, item.id, verdict, now, settings or get_settings())
        session.flush()
        audit.record(
            session,
            actor=actor,
            action=f"review.{verdict}",
            subject_type="review_item",
            subject_id=item.id,
            details={
                "check_id": check.id,
                "content_id": item.content_id,
                "note": note,
                "bank": add_to_bank,
                "bank_entry_ids": [getattr(e, "id", None) for e in bank_entries],
                "review_copy": copy,
            },
            policy_version=policy_version or check.policy_version,
        )
        statements.record_verdict(session, check, actor=actor, settings=settings)
        session.refresh(item)
        return self._entry(session, item, check)

    def _settle_copy(
        self, session: Session, item_id: int, verdict: str, now: datetime, settings: Settings
    ) -> str | None:
        """What happens to the image copy on a verdict (for the audit event); None without a copy."""
        if verdict == "escalate":
            return "kept" if review_copy_repository.exists(session, item_id) else None
        days = settings.review_copy_retention_days
        if verdict == "allow" or days <= 0:
            return "deleted" if review_copy_repository.delete(session, item_id) else None
        until = now + timedelta(days=days)
        if review_copy_repository.set_delete_after(session, item_id, until):
            return f"kept until {until.astimezone(UTC).isoformat()}"
        return None

    def has_image(self, session: Session, item_id: int) -> bool:
        """Whether the item still holds an encrypted copy of its image."""
        return review_copy_repository.exists(session, item_id)

    def review_image(
        self,
        session: Session,
        review_item_id: int,
        *,
        actor: str,
        reason: str | None = None,
        settings: Settings | None = None,
    ) -> bytes:
        """The decrypted image bytes of a review item, for an authorised reader; every read is audited
        (`review.image_read`, in the caller's transaction). 404 `review_item_not_found` or
        `review_copy_not_found` (never stored for allowed content, deleted after an allow verdict or
        when a block verdict's retention ends)."""
        item = review_repository.get(session, review_item_id)
        if item is None:
            raise ReviewItemNotFound(f"no review item {review_item_id}")
        copy = review_copy_repository.get(session, review_item_id)
        if copy is None:
            raise ReviewCopyNotFound(f"review item {review_item_id} holds no image copy")
        audit.record(
            session,
            actor=actor,
            action="review.image_read",
            subject_type="review_item",
            subject_id=review_item_id,
            details={"check_id": item.check_id, "sha256": copy.sha256, "reason": reason},
        )
        return evidence_crypto.decrypt(settings or get_settings(), copy.ciphertext)

    def purge_copies(self, session: Session, *, actor: str, limit: int = 500) -> int:
        """Delete the image copies of blocked items whose retention has ended (one audit event per run)."""
        purged = review_copy_repository.purge_due(session, utc_now(), limit)
        if purged:
            audit.record(
                session,
                actor=actor,
                action="review.copies_purged",
                subject_type="review_item",
                subject_id=purged[0] if len(purged) == 1 else f"{min(purged)}-{max(purged)}",
                details={"review_item_ids": sorted(purged)},
            )
        return len(purged)


# --- seals over checks --------------------------------------------------------------------------

SEAL_ACTION = "checks.sealed"


def check_digest(check: Check) -> str:
    """SHA-256 of a check's canonical content: what a seal vouches for. The fields never change after
    the check is stored (a reviewer's verdict lives in other columns and is audited on its own)."""
    created = check.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    content = {
        "id": check.id,
        "sha256": check.sha256,
        "decision": check.decision,
        "reasons": check.reasons,
        "policy_version": check.policy_version,
        "created_at": created,
    }
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()


def batch_digest(digests: Sequence[str]) -> str:
    """SHA-256 over the batch's check digests in id order, one per line."""
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()


@dataclass(frozen=True)
class Seal:
    event_id: int
    first_id: int
    last_id: int
    count: int
    digest: str


@dataclass
class SealReport:
    """The outcome of `check_seals.verify`: ok, or the first problem with the check (and event) it is in."""

    ok: bool = True
    batches: int = 0
    sealed: int = 0
    unsealed: int = 0
    oldest_unsealed_at: datetime | None = None
    check_id: int | None = None
    event_id: int | None = None
    reason: str | None = None


class CheckSeals:
    """Seals stored checks into the audit log, in batches, and verifies the seals.

    Lifecycle: a check is stored unsealed. `seal_batch` (run by the `checks.seal_decisions` job every
    worker interval, or `moderation checks seal`) takes the oldest unsealed checks, appends one
    `checks.sealed` audit event with their id range, count and batch digest, and claims them with a
    conditional UPDATE; when another sealer claimed any of them first it raises `SealConflict`, and the
    caller's rollback drops the event too. `verify` recomputes every batch from the checks table.
    """

    def seal_batch(self, session: Session, *, actor: str, limit: int) -> Seal | None:
        """Seal up to `limit` unsealed checks in the caller's transaction; None when there are none."""
        rows = checks_repository.unsealed(session, limit)
        if not rows:
            return None
        digests = {check.id: check_digest(check) for check in rows}
        ids = list(digests)
        digest = batch_digest(list(digests.values()))
        event = audit.record(
            session,
            actor=actor,
            action=SEAL_ACTION,
            subject_type="check_batch",
            subject_id=f"{ids[0]}-{ids[-1]}",
            details={
                "first_id": ids[0],
                "last_id": ids[-1],
                "count": len(ids),
                "digest": digest,
                "decisions": {
                    d: sum(1 for c in rows if c.decision == d) for d in sorted({c.decision for c in rows})
                },
            },
        )
        claimed = checks_repository.claim_seal(session, ids, event.id)
        if claimed != len(ids):
            raise SealConflict(
                f"{len(ids) - claimed} of checks {ids[0]}-{ids[-1]} were sealed by another worker"
            )
        checks_repository.set_seal_digests(session, event.id, digests)
        return Seal(event.id, ids[0], ids[-1], len(ids), digest)

    def verify(self, session: Session) -> SealReport:
        """Recompute every `checks.sealed` batch from the checks table, oldest first. Fails on the first
        check whose content no longer matches its digest, a batch that lost or gained checks, or a
        check that claims a seal no event made."""
        report = SealReport()
        seen: set[int] = set()
        before: int | None = None
        events: list[tuple[int, dict[str, Any]]] = []
        while True:
            page = audit.page(session, action=SEAL_ACTION, before_id=before, limit=1000)
            if not page:
                break
            events.extend((e.id, dict(e.details)) for e in page)
            before = page[-1].id
        for event_id, details in sorted(events, key=lambda e: e[0]):
            seen.add(event_id)
            rows = checks_repository.sealed_by(session, event_id)
            digests = []
            for check in rows:
                digest = check_digest(check)
                if digest != check.seal_digest:
                    return self._fail(report, check.id, event_id, "content does not match its sealed digest")
                digests.append(digest)
            if len(rows) != details.get("count") or (rows and rows[0].id != details.get("first_id")):
                return self._fail(
                    report,
                    rows[0].id if rows else details.get("first_id"),
                    event_id,
                    f"the batch sealed {details.get('count')} checks; {len(rows)} are marked with it now",
                )
            if batch_digest(digests) != details.get("digest"):
                return self._fail(
                    report, rows[0].id, event_id, "batch digest does not match (check digests rewritten)"
                )
            report.batches += 1
            report.sealed += len(rows)
            session.expunge_all()
        stray = sorted(checks_repository.seal_event_ids(session) - seen)
        if stray:
            check = checks_repository.sealed_by(session, stray[0])[0]
            return self._fail(report, check.id, stray[0], "sealed by an event that is not a checks seal")
        report.unsealed, report.oldest_unsealed_at = checks_repository.unsealed_summary(session)
        return report

    @staticmethod
    def _fail(report: SealReport, check_id: int | None, event_id: int, reason: str) -> SealReport:
        report.ok, report.check_id, report.event_id, report.reason = False, check_id, event_id, reason
        return report


checks = CheckService()
content_registry = ContentRegistry()
review_queue = ReviewQueue()
check_seals = CheckSeals()
