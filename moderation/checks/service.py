"""The pre-publish check pipeline: from image bytes to a stored, decided check.

A check runs in four phases so that the database transaction stays short and never spans the slow
stages: (1) SHA-256 of the bytes and a cache lookup in a read-only transaction that is ended before
anything slow happens; (2) one decode, every hash computed once, in-memory bank matching; (3) the
classifier (batched with concurrent requests); (4) the decision and every write (check, content
registry, review item, audit event) in the caller's transaction, which the caller commits.

Block and review decisions are audited one event each; allow decisions are sealed in batches by
`check_seals` (one `checks.sealed` audit event per batch) so checks never wait on the audit chain lock.

Over 700 lines on purpose: one responsibility, the pipeline's four phases for images and videos (their
helpers are private to it); the registry, review queue and seals live in their own modules.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.checks.decision import ClassifierOutcome, Decided, decide, scorable_now
from moderation.checks.errors import CheckNotFound
from moderation.checks.ports import Matcher, MatchIntake
from moderation.checks.registry import content_registry
from moderation.checks.repository import (
    checks_repository,
    review_copy_repository,
    review_repository,
)
from moderation.checks.schemas import (
    CheckMetadata,
    CheckResult,
    FrameHashOut,
    Hashes,
    ImageInfo,
    Reason,
    VideoInfo,
)
from moderation.classifier.interface import ImageClassifier
from moderation.classifier.results import CategoryScore, ClassifierResult
from moderation.classifier.setup import build_classifier
from moderation.config import Settings
from moderation.exceptions import ModerationError
from moderation.hashing.hashers import OPTIONAL_PERCEPTUAL, ImageHashes, dhash_of, hash_decoded, phash_of
from moderation.hashing.intake import DecodedImage, ImageLimits, check_size, decode_image
from moderation.hashing.pool import HashJob, HashPool
from moderation.hashing.video import (
    FrameHash,
    VideoHashes,
    VideoHashOptions,
    VideoLimits,
    hash_video,
    sniff_video,
)
from moderation.kit import evidence_crypto
from moderation.models.check import Check
from moderation.models.review_copy import ReviewCopy
from moderation.models.review_item import ReviewItem
from moderation.policy.categories import CategoryPolicy, category_thresholds, load_categories
from moderation.policy.decisions import get_decisions
from moderation.policy.loader import Policy
from moderation.statements.schemas import StatementOut
from moderation.statements.service import statements

T = TypeVar("T")
RunSync = Callable[[Callable[[], T]], Awaitable[T]]


@dataclass
class CheckContext:
    """The per-process collaborators of the pipeline (set up once by the app or the CLI)."""

    matcher: Matcher
    classifier: ImageClassifier | None
    limits: ImageLimits
    # For the encrypted review copies (the evidence key) and the statements of reasons.
    settings: Settings
    # Sessions for the read-only cache lookup that take no write lock (SQLite: deferred BEGIN, so
    # concurrent lookups do not queue behind writers); the caller's session when None.
    reader: Callable[[], Session] | None = None
    video_limits: VideoLimits = field(default_factory=VideoLimits)
    video_options: VideoHashOptions = field(default_factory=VideoHashOptions)
    # Most frames of a video the classifier scores (`MODERATION_VIDEO_CLASSIFIER_FRAMES`).
    video_classifier_frames: int = 8
    # Told of every recorded check with a bank match (mandatory reporting); nobody when None.
    match_intake: MatchIntake | None = None
    # Decodes and hashes the images of a batch on every core; in the calling thread when None.
    hash_pool: HashPool | None = None

    @property
    def perceptual(self) -> frozenset[str]:
        """The optional perceptual hashes (pHash/dHash) a check computes now."""
        return wanted_perceptual(self.matcher, self.settings)


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
    is_video: bool = False
    video: VideoHashes | None = None
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


def _category_thresholds(policy: Policy) -> dict[str, dict[str | None, tuple[float, float | None]]]:
    categories: CategoryPolicy = policy.part("categories", load_categories)
    return {c.id: category_thresholds(c) for c in categories.categories}


def _classifier_state(classifier: ImageClassifier | None) -> str:
    if classifier is None:
        return "disabled"
    return str(classifier.status().get("state", "unavailable"))


def _stored_classifier(body: dict[str, Any]) -> ClassifierOutcome:
    state = str(body.get("state", "unavailable"))
    if state != "ready" or "categories" not in body:
        return ClassifierOutcome(state=state, reason=body.get("reason"))
    result = ClassifierResult.from_dict(body)
    return ClassifierOutcome(state="ready", result=result)


def hashes_of(check: Check) -> ImageHashes:
    return ImageHashes(
        sha256=check.sha256,
        md5=check.md5,
        pdq=check.pdq,
        pdq_quality=check.pdq_quality,
        phash=check.phash or None,  # stored as "" when not computed
        dhash=check.dhash or None,
    )


def _snapshot(check: Check) -> dict[str, Any]:
    """Plain data of a stored check (safe to use after its transaction has ended)."""
    return {
        "id": check.id,
        "hashes": hashes_of(check),
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


def _matched_banks(reasons: Sequence[dict[str, Any]]) -> list[str]:
    """The banks whose matches count in the decision (not suppressed by an allow-list)."""
    return sorted({r["bank"] for r in reasons if r.get("kind") == "bank_match" and r["decision"] != "allow"})


def _video_info(check: Check, video: VideoHashes | None = None) -> VideoInfo | None:
    """The video part of a check's answer (decode figures only when it was just hashed)."""
    if check.media_type != "video" or check.video_frames is None:
        return None
    return VideoInfo(
        duration=check.duration_seconds or 0.0,
        decoded_frames=None if video is None else video.decoded_frames,
        decode=None if video is None else video.decode,
        frames=[
            FrameHashOut(frame=f, pdq=p, quality=q, timestamp=t) for f, p, q, t, *_ in check.video_frames
        ],
    )


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
    video: VideoInfo | None = None,
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
        video=video,
        statement=statement,
    )


def wanted_perceptual(matcher: Matcher, settings: Settings) -> frozenset[str]:
    """pHash/dHash to compute for a check: both under `check_perceptual_hashes=all`, otherwise those
    some bank holds (a query of a type no bank holds cannot match; computing both costs ~2 ms)."""
    if settings.check_perceptual_hashes == "all":
        return frozenset(OPTIONAL_PERCEPTUAL)
    return frozenset(t for t in OPTIONAL_PERCEPTUAL if matcher.holds(t))


def _video_hashes(video: VideoHashes, wanted: frozenset[str]) -> ImageHashes:
    """The image-shaped hashes a video check stores: the file's SHA-256 and MD5, and the PDQ of its
    first usable sampled frame (pHash and dHash of the first keyframe, where wanted)."""
    first: FrameHash | None = next(iter(video.usable_frames or video.frames), None)
    poster = video.keyframes[0][1] if video.keyframes else None

    def perceptual(name: str, compute: Callable[[Any], str]) -> str | None:
        if name not in wanted:
            return None
        return compute(poster) if poster is not None else "0" * 16

    return ImageHashes(
        sha256=video.sha256,
        md5=video.md5,
        pdq=first.pdq if first else "0" * 64,
        pdq_quality=first.quality if first else 0,
        phash=perceptual("phash", phash_of),
        dhash=perceptual("dhash", dhash_of),
    )


# Frames of a video go to the classifier this many at a time, so scoring can stop at a certain block.
VIDEO_CLASSIFIER_CHUNK = 4


def _frame_chunks(video: VideoHashes) -> list[list[tuple[float, Any]]]:
    frames = list(video.keyframes)
    return [frames[i : i + VIDEO_CLASSIFIER_CHUNK] for i in range(0, len(frames), VIDEO_CLASSIFIER_CHUNK)]


def _video_outcome(
    scored: list[tuple[float, ClassifierResult]], error: ModerationError | None
) -> ClassifierOutcome:
    """A video's classifier outcome: each category at its highest score over the frames scored (with
    that frame's thresholds), the timestamp of that frame as evidence, and every frame's scores."""
    if not scored:
        if error is not None:
            state = str(error.details.get("state", "error")) if error.details else "error"
            return ClassifierOutcome(state=state, reason=error.message)
        return ClassifierOutcome(state="ready", reason="no frame to score")
    best: dict[str, tuple[CategoryScore, float]] = {}
    for timestamp, result in scored:
        for category in result.categories:
            held = best.get(category.id)
            if held is None or category.score > held[0].score:
                best[category.id] = (category, timestamp)
    first = scored[0][1]
    combined = ClassifierResult(
        categories=tuple(best[c.id][0] for c in first.categories if c.id in best),
        model=first.model,
        policy_version=first.policy_version,
    )
    return ClassifierOutcome(
        state="ready",
        result=combined,
        frames=tuple(
            {"timestamp": t, "scores": {k: round(v, 6) for k, v in r.scores.items()}} for t, r in scored
        ),
        peaks={category: timestamp for category, (_, timestamp) in best.items()},
    )


async def _to_thread(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn)


@dataclass(frozen=True)
class DecisionFacts:
    """A check's decision as an appeal sees it."""

    check_id: int
    decision: str
    decided_at: datetime
    decided_by: str | None
    content_id: str | None
    uploader_id: str | None
    sha256: str
    md5: str
    pdq: str | None
    banks: list[str]
    # (bank, top-level entry id) of every bank match that blocked it.
    entries: list[tuple[str, int]]
    child_safety: bool


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
        scoring_now = context.classifier.status().get("categories", {}) if context.classifier else {}
        for work in works:
            item = work.item
            if item.error is not None or item.data is None:
                continue
            if sniff_video(item.data) is not None:
                # Videos are not cached: their hashing is where identical bytes would save time, and
                # their size limit is checked by the video intake.
                work.is_video = True
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
            if any(getattr(snapshot["hashes"], t) is None for t in context.perceptual):
                continue  # a bank of a type it did not compute has appeared since
            outcome = _stored_classifier(snapshot["classifier"])
            # Reuse stored scores only if they are at least as good as what the classifier gives now.
            if outcome.state != "ready" and outcome.state != state_now:
                continue
            if outcome.result is not None and scorable_now(outcome.result, scoring_now):
                continue  # a model that was missing then could score more of it now
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
        todo = [w for w in works if w.error is None and w.item.error is None and w.cached is None]
        images = [w for w in todo if not w.is_video]
        perceptual = context.perceptual
        if context.hash_pool is not None and len(images) > 1:
            # A batch: its images are decoded and hashed on every core at once.
            jobs = [HashJob(w.item.data or b"", w.sha256) for w in images]
            for work, outcome in zip(
                images, context.hash_pool.run(jobs, context.limits, perceptual=perceptual), strict=True
            ):
                if isinstance(outcome, ModerationError):
                    work.error = outcome
                else:
                    work.decoded, work.hashes = outcome.decoded, outcome.hashes
                    work.timings["decode_hash"] = outcome.ms
        for work in todo:
            if work.error is not None:
                continue
            data = work.item.data
            assert data is not None
            begin = time.perf_counter()
            if work.is_video:
                self._prepare_video(work, data, context)
                continue
            if work.hashes is None:
                try:
                    work.decoded = decode_image(data, context.limits)
                    work.hashes = hash_decoded(data, work.decoded, sha256=work.sha256, perceptual=perceptual)
                except ModerationError as exc:
                    work.error = exc
                    continue
                work.timings["decode_hash"] = _ms(begin)
            begin = time.perf_counter()
            work.matches = context.matcher.match(work.hashes)
            work.timings["match"] = _ms(begin)

    def _prepare_video(self, work: _Work, data: bytes, context: CheckContext) -> None:
        begin = time.perf_counter()
        keep = max(1, context.video_classifier_frames)
        try:
            work.video = hash_video(data, context.video_limits, context.video_options, keep=keep)
        except ModerationError as exc:
            work.error = exc
            return
        work.hashes = _video_hashes(work.video, context.perceptual)
        work.timings["decode_hash"] = _ms(begin)
        begin = time.perf_counter()
        work.matches = context.matcher.match_video(work.video)
        work.timings["match"] = _ms(begin)

    # --- phase 3: classifier -----------------------------------------------------------------------

    def _pending_classification(self, works: list[_Work], context: CheckContext) -> list[_Work]:
        state = _classifier_state(context.classifier)
        pending = []
        for work in works:
            if work.decoded is None and work.video is None:
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
        classifier = context.classifier
        if not pending or classifier is None:
            return
        images = [w for w in pending if w.decoded is not None]
        if images:
            begin = time.perf_counter()
            try:
                results: list[ClassifierResult] | ModerationError = await classifier.classify(
                    [w.decoded.image for w in images if w.decoded is not None]
                )
            except ModerationError as exc:
                results = exc
            self._apply_classification(images, results, _ms(begin))
        for work in pending:
            if work.video is None:
                continue
            begin = time.perf_counter()
            scored: list[tuple[float, ClassifierResult]] = []
            error: ModerationError | None = None
            for chunk in _frame_chunks(work.video):
                try:
                    found = await classifier.classify([image for _, image in chunk])
                except ModerationError as exc:
                    error = exc
                    break
                scored.extend(zip((t for t, _ in chunk), found, strict=True))
                if any(result.block for result in found):
                    break  # a block is certain: the remaining frames cannot lower it
            work.timings["classifier"] = _ms(begin)
            work.classifier = _video_outcome(scored, error)

    def _classify_sync(self, works: list[_Work], context: CheckContext) -> None:
        pending = self._pending_classification(works, context)
        classifier = context.classifier
        if not pending or classifier is None:
            return
        images = [w for w in pending if w.decoded is not None]
        if images:
            begin = time.perf_counter()
            try:
                results: list[ClassifierResult] | ModerationError = classifier.classify_sync(
                    [w.decoded.image for w in images if w.decoded is not None]
                )
            except ModerationError as exc:
                results = exc
            self._apply_classification(images, results, _ms(begin))
        for work in pending:
            if work.video is None:
                continue
            begin = time.perf_counter()
            scored: list[tuple[float, ClassifierResult]] = []
            error: ModerationError | None = None
            for chunk in _frame_chunks(work.video):
                try:
                    found = classifier.classify_sync([image for _, image in chunk])
                except ModerationError as exc:
                    error = exc
                    break
                scored.extend(zip((t for t, _ in chunk), found, strict=True))
                if any(result.block for result in found):
                    break
            work.timings["classifier"] = _ms(begin)
            work.classifier = _video_outcome(scored, error)

    # --- phase 4: decide and record ----------------------------------------------------------------

    def _record(
        self, session: Session, works: list[_Work], policy: Policy, actor: str, context: CheckContext
    ) -> None:
        decisions = get_decisions(policy)
        thresholds = _category_thresholds(policy)
        settings = context.settings
        for work in works:
            if work.error is not None or work.item.error is not None:
                continue
            meta = work.item.metadata
            if work.cached is not None:
                cached_banks = _matched_banks(work.cached["reasons"])
                if cached_banks and context.match_intake is not None and work.item.data is not None:
                    original = checks_repository.get(session, work.cached["id"])
                    assert original is not None
                    context.match_intake.matched(
                        session, original, work.item.data, cached_banks, actor=actor, metadata=meta
                    )
                work.result = self._cached_result(session, work, actor, policy)
                continue
            assert work.hashes is not None and (work.decoded is not None or work.video is not None)
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
            hashes, video = work.hashes, work.video
            shown: VideoHashes | DecodedImage | None = video or work.decoded
            assert shown is not None
            image = ImageInfo(format=shown.format, width=shown.width, height=shown.height)
            check = checks_repository.add(
                session,
                Check(
                    actor=actor,
                    sha256=hashes.sha256,
                    md5=hashes.md5,
                    pdq=hashes.pdq,
                    pdq_quality=hashes.pdq_quality,
                    phash=hashes.phash or "",
                    dhash=hashes.dhash or "",
                    image_format=image.format,
                    width=image.width,
                    height=image.height,
                    media_type="video" if video is not None else "image",
                    duration_seconds=video.duration if video is not None else None,
                    video_frames=None
                    if video is None
                    else [[f.frame, f.pdq, f.quality, f.timestamp, dict(f.variants)] for f in video.frames],
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
            matched_banks = _matched_banks(decided.reasons)
            if matched_banks and context.match_intake is not None and work.item.data is not None:
                context.match_intake.matched(
                    session, check, work.item.data, matched_banks, actor=actor, metadata=meta
                )
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
                image=image,
                classifier=check.classifier,
                policy_version=policy.version,
                timings=work.timings,
                content_id=meta.content_id,
                review_item_id=review_id,
                video=_video_info(check, video),
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

    def get(self, session: Session, check_id: int, *, actor: str | None = None) -> CheckResult:
        """A stored check as the API shows it (with a reviewer's verdict applied). With `actor`, only
        a check that actor made: another key's check answers 404 like a missing one."""
        check = checks_repository.get(session, check_id)
        if check is None or (actor is not None and check.actor != actor):
            raise CheckNotFound(f"no check {check_id}")
        return self.stored_result(session, check)

    def decision_facts(self, session: Session, check_id: int) -> DecisionFacts:
        """What an appeal against check `check_id` needs: its decision, when and by whom, the banks
        and entries that blocked it and its hashes. 404 `check_not_found`."""
        check = checks_repository.get(session, check_id)
        if check is None:
            raise CheckNotFound(f"no check {check_id}")
        decision, reasons = _effective(check.decision, list(check.reasons), check.verdict, check.verdict_by)
        blocking = [r for r in reasons if r.get("kind") == "bank_match" and r.get("decision") == "block"]
        return DecisionFacts(
            check_id=check.id,
            decision=decision,
            decided_at=check.verdict_at or check.created_at,
            decided_by=check.verdict_by,
            content_id=check.content_id,
            uploader_id=check.uploader_id,
            sha256=check.sha256,
            md5=check.md5,
            pdq=check.pdq if check.media_type == "image" else None,
            banks=sorted({str(r["bank"]) for r in blocking}),
            entries=sorted(
                {
                    (str(r["bank"]), int(r["entry_id"]))
                    for r in blocking
                    if str(r.get("entry_id", "")).isdigit()
                }
            ),
            child_safety=any(r.get("child_safety") for r in reasons),
        )

    def stored_result(self, session: Session, check: Check) -> CheckResult:
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
            video=_video_info(check),
        )


def make_classifier(settings: Settings, policy: Policy) -> ImageClassifier | None:
    """The classifier (every enabled model), or None when disabled: a hash-only deployment."""
    if not settings.classifier_enabled:
        return None
    categories: CategoryPolicy = policy.part("categories", load_categories)
    return build_classifier(settings, categories)


checks = CheckService()
