"""Actioning a notice: removal of its content, the stay-down bank, the copy sweep over the content
registry, evidence under holds; and the reviewer's decision on near-duplicates the sweep left."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.exceptions import ValidationFailed
from moderation.kit import evidence_crypto
from moderation.kit.time import utc_now
from moderation.models.evidence_hold import EvidenceHold
from moderation.models.evidence_item import EvidenceItem
from moderation.models.notice import Notice, NoticeState
from moderation.models.notice_content import NoticeContent
from moderation.policy.loader import Policy
from moderation.takedown.clocks import (
    iso_utc,
)
from moderation.takedown.context import (
    audit_notice,
    load_notice,
    open_notice,
    policy_and_regimes,
    regime_versions,
)
from moderation.takedown.deadlines import recompute_clocks
from moderation.takedown.errors import (
    CopyNotFound,
    CopyNotInReview,
    IllegalTransition,
    ImageMismatch,
    NoticeContentNotFound,
)
from moderation.takedown.evidence_store import hold_evidence
from moderation.takedown.outbox import enqueue_action
from moderation.takedown.repository import takedown_repository as repo
from moderation.takedown.staydown import Banked, Copy, StayDownPort
from moderation.takedown.transitions import move_notice
from moderation.takedown.views import content_out

# Hash types of a stored upload that go into the stay-down bank.
_BANK_HASHES = ("sha256", "md5", "pdq", "phash", "dhash")


class Actioning:
    """Removes a notice's content and its copies; reaches banks and the registry through the port."""

    def __init__(self, stay_down: StayDownPort) -> None:
        self.stay_down = stay_down

    def action(
        self,
        session: Session,
        notice_id: int,
        *,
        actor: str,
        reason: str | None = None,
        settings: Settings,
    ) -> Notice:
        """Remove the notice's content: validated -> actioned exactly once (conditional UPDATE), then in
        the same transaction an outbox row per (notice, content), stay-down hashes, the copy sweep,
        evidence under holds and the clocks stopped. A second reviewer gets 409 `illegal_transition`."""
        policy, regime_set = policy_and_regimes(settings)
        notice = load_notice(session, notice_id)
        versions = regime_versions(notice, regime_set)
        now = move_notice(
            session,
            notice,
            "action",
            actor=actor,
            reason=reason,
            policy=policy,
            settings=settings,
            values={"actioned_at": utc_now(), "actioned_by": actor},
        )
        scopes: set[str] = {scope for _, v in versions for scope in v.removal_scope}
        contents = repo.contents(session, notice.id)
        evidence_by_content = {e.notice_content_id: e for e in repo.evidence(session, notice.id)}
        stay_down_added = 0
        searched: list[dict[str, Any]] = []
        known_ids = {c.content_id for c in contents if c.content_id}
        # Frame hashes of removed videos by item ref: banked and swept, not stored in the sweep record.
        video_frames: dict[str, list[list[Any]]] = {}

        for item in contents:
            if item.source != "reported":
                continue
            hashes: list[tuple[str, str]] = []
            image: bytes | None = None
            frames: list[list[Any]] | None = None
            evidence = evidence_by_content.get(item.id)
            if evidence is not None and evidence.hashes:
                hashes = [(k, str(v)) for k, v in evidence.hashes.items() if k in _BANK_HASHES and v]
                frames = evidence.hashes.get("video_frames")
                if evidence.ciphertext is not None and frames is None:
                    image = evidence_crypto.decrypt(settings, evidence.ciphertext)
            elif item.content_id:
                registered = self.stay_down.registered(session, item.content_id)
                if not registered:
                    item.note = "no hashes in the content registry for this content_id"
                for reg in registered:
                    item.sha256 = item.sha256 or reg.sha256
                    item.pdq = item.pdq or reg.pdq
                    frames = frames or reg.extra.get("video_frames")
                    hashes.extend(
                        (t, v) for t, v in (("sha256", reg.sha256), ("md5", reg.md5), ("pdq", reg.pdq)) if v
                    )
            if evidence is None:
                # Removal is not deletion: every removed item keeps a record, with hashes when known.
                evidence_by_content[item.id] = repo.add_evidence(
                    session,
                    EvidenceItem(
                        notice_id=notice.id,
                        notice_content_id=item.id,
                        sha256=item.sha256,
                        hashes=dict(hashes),
                        details={
                            "kind": "registry" if item.content_id else "url",
                            "content_id": item.content_id,
                            "url": item.url,
                        },
                    ),
                )
            if frames:
                video_frames[item.ref] = frames
            banked = self._stay_down(
                session,
                notice,
                hashes,
                actor=actor,
                metadata={"notice_id": notice.id, "ref": item.ref},
                image=image,
                frames=frames,
            )
            stay_down_added += banked.rows
            item.stay_down_entry_ids = [*(item.stay_down_entry_ids or []), *banked.entry_ids]
            item.state = "removed"
            enqueue_action(session, notice, item, "remove", reason=reason, actor=actor, settings=settings)
            if item.content_id:
                self._mark_removed(session, item.content_id, notice, actor=actor)
            if item.sha256 or item.pdq:
                searched.append({"ref": item.ref, "sha256": item.sha256, "pdq": item.pdq})

        identical, near = self._sweep(
            session,
            notice,
            searched,
            known_ids,
            scopes,
            actor=actor,
            reason=reason,
            settings=settings,
            video_frames=video_frames,
        )
        sweep = {
            "ran_at": iso_utc(now),
            "searched": searched,
            "identical": identical,
            "near_duplicates": near,
            "stay_down_hashes_added": stay_down_added,
            "errors": [],  # a failed call now rolls the action back; kept so the record keeps its shape
        }
        repo.update_notice(session, notice.id, {"sweep_ran_at": now, "sweep_result": sweep})
        for kept in repo.evidence(session, notice.id):
            hold_evidence(session, notice, kept, versions, start=now)
        session.refresh(notice)
        recompute_clocks(session, notice, regime_set)
        audit_notice(
            session,
            notice.id,
            "notice.sweep",
            actor=actor,
            details={
                "identical": len(identical),
                "near_duplicates": len(near),
                "stay_down_hashes_added": stay_down_added,
                "errors": [],
            },
            policy=policy,
        )
        return notice

    def _stay_down(
        self,
        session: Session,
        notice: Notice,
        hashes: list[tuple[str, str]],
        *,
        actor: str,
        metadata: dict[str, Any],
        image: bytes | None = None,
        frames: list[list[Any]] | None = None,
    ) -> Banked:
        """Bank the removed content: a video by its MD5, SHA-256 and frame hashes (vPDQ); the image
        itself when we hold it (so the bank stores its robust variants and rotations too), else the
        hashes the registry or the sweep gave."""
        note = f"removed under notice {notice.id}"
        if frames:
            exact = dict(hashes)
            return self.stay_down.add_video(
                session,
                frames,
                sha256=exact.get("sha256"),
                md5=exact.get("md5"),
                note=note,
                metadata=metadata,
                actor=actor,
            )
        if image is not None:
            return self.stay_down.add_image(session, image, note=note, metadata=metadata, actor=actor)
        if not hashes:
            return Banked([], 0)
        return self.stay_down.add_hashes(session, hashes, note=note, metadata=metadata, actor=actor)

    def _mark_removed(self, session: Session, content_id: str, notice: Notice, *, actor: str) -> None:
        self.stay_down.mark_removed(session, content_id, notice_id=notice.id, actor=actor)

    def _sweep(
        self,
        session: Session,
        notice: Notice,
        searched: list[dict[str, Any]],
        known_ids: set[str],
        scopes: set[str],
        *,
        actor: str,
        reason: str | None,
        settings: Settings,
        video_frames: dict[str, list[list[Any]]] | None = None,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Search the registry for copies of every removed item: identical ones are actioned under
        this notice; near-duplicates too when a regime covers "substantially similar" copies, else
        they wait in review."""
        found: dict[str, tuple[Copy, str]] = {}
        for query in searched:
            copies = self.stay_down.find_copies(
                session, sha256=query["sha256"], pdq=query["pdq"], threshold=31
            )
            frames = (video_frames or {}).get(query["ref"])
            if frames:
                # Registered videos containing the removed video or a clip of it, and images that
                # are frames of it.
                copies = [*copies, *self.stay_down.find_video_copies(session, frames, threshold=31)]
            for copy in copies:
                if not copy.content_id or copy.content_id in known_ids:
                    continue
                best = found.get(copy.content_id)
                if (
                    best is None
                    or (copy.identical and not best[0].identical)
                    or copy.distance < best[0].distance
                ):
                    found[copy.content_id] = (copy, query["ref"])
        identical: list[dict[str, Any]] = []
        near: list[dict[str, Any]] = []
        for content_id, (copy, origin) in sorted(found.items()):
            remove = copy.identical or "substantially_similar" in scopes
            item = repo.add_content(
                session,
                NoticeContent(
                    notice_id=notice.id,
                    ref=f"content:{content_id}",
                    content_id=content_id,
                    source="identical_copy" if copy.identical else "near_duplicate",
                    state="removed" if remove else "review",
                    sha256=copy.sha256,
                    pdq=copy.pdq,
                    distance=copy.distance,
                    note=f"found by the sweep from {origin}",
                ),
            )
            row = {
                "content_id": content_id,
                "distance": copy.distance,
                "action": "removed" if remove else "review",
            }
            (identical if copy.identical else near).append(row)
            if not remove:
                continue
            enqueue_action(session, notice, item, "remove", reason=reason, actor=actor, settings=settings)
            self._mark_removed(session, content_id, notice, actor=actor)
            hashes, _ = self._copy_evidence(session, notice, item)
            if not copy.identical:
                self._bank_copy(
                    session,
                    notice,
                    item,
                    hashes,
                    actor=actor,
                    marker={"near_duplicate_of": origin},
                )
        return identical, near

    def _copy_evidence(
        self, session: Session, notice: Notice, item: NoticeContent
    ) -> tuple[dict[str, str], EvidenceItem]:
        """Keep evidence of a copy the sweep found (its hashes, no bytes); returns the hashes too."""
        hashes = {t: v for t, v in (("sha256", item.sha256), ("pdq", item.pdq)) if v}
        evidence = repo.add_evidence(
            session,
            EvidenceItem(
                notice_id=notice.id,
                notice_content_id=item.id,
                sha256=item.sha256,
                hashes=hashes,
                details={"kind": "sweep", "content_id": item.content_id, "distance": item.distance},
            ),
        )
        return hashes, evidence

    def _bank_copy(
        self,
        session: Session,
        notice: Notice,
        item: NoticeContent,
        hashes: dict[str, str],
        *,
        actor: str,
        marker: dict[str, Any],
    ) -> Banked:
        """Put a removed copy's hashes into the stay-down bank and remember the entries on the copy."""
        banked = self._stay_down(
            session,
            notice,
            list(hashes.items()),
            actor=actor,
            metadata={"notice_id": notice.id, "ref": item.ref, **marker},
        )
        item.stay_down_entry_ids = banked.entry_ids
        return banked

    def _copy_in_review(self, session: Session, notice: Notice, copy_id: int) -> NoticeContent:
        item = repo.get_content(session, copy_id)
        if item is None or item.notice_id != notice.id or item.source != "near_duplicate":
            raise CopyNotFound(
                f"notice {notice.id} has no near-duplicate {copy_id}",
                details={"notice_id": notice.id, "copy_id": copy_id},
            )
        if item.state != "review":
            raise CopyNotInReview(
                f"near-duplicate {copy_id} is '{item.state}', not in review",
                details={"copy_id": copy_id, "state": item.state},
            )
        return item

    def _decide_copy(
        self, session: Session, item: NoticeContent, target: str, *, actor: str, reason: str | None
    ) -> None:
        """Move a copy out of review with a conditional UPDATE: of two reviewers, one wins, one gets 409."""
        if not repo.move_content_state(
            session,
            item.id,
            expected="review",
            values={
                "state": target,
                "reviewed_by": actor,
                "reviewed_at": utc_now(),
                "review_reason": reason,
            },
        ):
            fresh = repo.get_content(session, item.id)
            raise CopyNotInReview(
                f"near-duplicate {item.id} was decided meanwhile (now '{fresh.state if fresh else None}')",
                details={"copy_id": item.id, "state": fresh.state if fresh else None},
            )
        session.refresh(item)

    def _note_sweep_decision(self, session: Session, notice: Notice, item: NoticeContent) -> None:
        sweep = dict(notice.sweep_result or {})
        sweep["near_duplicates"] = [
            {**row, "action": item.state, "reviewed_by": item.reviewed_by}
            if row.get("content_id") == item.content_id
            else row
            for row in sweep.get("near_duplicates", [])
        ]
        repo.update_notice(session, notice.id, {"sweep_result": sweep})
        session.refresh(notice)

    def _copy_decided(
        self,
        session: Session,
        notice: Notice,
        item: NoticeContent,
        decision: str,
        *,
        actor: str,
        reason: str | None,
        policy: Policy,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Show a reviewer's decision on a copy in the sweep record; audit it as `notice.copy_<decision>`."""
        self._note_sweep_decision(session, notice, item)
        audit_notice(
            session,
            notice.id,
            f"notice.copy_{decision}",
            actor=actor,
            details={
                "copy_id": item.id,
                "content_id": item.content_id,
                "distance": item.distance,
                "reason": reason,
                **(extra or {}),
            },
            policy=policy,
        )

    def remove_copy(
        self,
        session: Session,
        notice_id: int,
        copy_id: int,
        *,
        actor: str,
        reason: str | None = None,
        settings: Settings,
    ) -> Notice:
        """Remove a near-duplicate the sweep left in review, under the same notice: `review ->
        removed`, a `remove` outbox row, the registry marked, its hashes into the stay-down bank,
        evidence under the notice's holds, and the sweep's record updated. Only while the notice is
        `actioned` (409 `illegal_transition` otherwise); 409 `copy_not_in_review` if already decided."""
        policy, regime_set, notice = open_notice(session, notice_id, settings)
        item = self._copy_in_review(session, notice, copy_id)
        if notice.state != NoticeState.ACTIONED:
            raise IllegalTransition(
                f"copies can be removed under an actioned notice only (this one is '{notice.state}')",
                details={"state": notice.state, "action": "remove_copy", "allowed_from": ["actioned"]},
            )
        self._decide_copy(session, item, "removed", actor=actor, reason=reason)
        enqueue_action(session, notice, item, "remove", reason=reason, actor=actor, settings=settings)
        if item.content_id:
            self._mark_removed(session, item.content_id, notice, actor=actor)
        hashes, evidence = self._copy_evidence(session, notice, item)
        hold_evidence(session, notice, evidence, regime_versions(notice, regime_set), start=utc_now())
        banked = self._bank_copy(session, notice, item, hashes, actor=actor, marker={"reviewed": True})
        session.flush()
        self._copy_decided(
            session,
            notice,
            item,
            "removed",
            actor=actor,
            reason=reason,
            policy=policy,
            extra={"stay_down_entry_ids": banked.entry_ids, "errors": []},
        )
        return notice

    def dismiss_copy(
        self,
        session: Session,
        notice_id: int,
        copy_id: int,
        *,
        actor: str,
        reason: str,
        settings: Settings,
    ) -> Notice:
        """Keep a near-duplicate up (`review -> dismissed`), e.g. not substantially the same content.
        A reason is required; the decision is audited and shown on the notice."""
        policy, _ = policy_and_regimes(settings)
        if not (reason and reason.strip()):
            raise ValidationFailed("a reason is required to dismiss a copy", code="reason_required")
        notice = load_notice(session, notice_id)
        item = self._copy_in_review(session, notice, copy_id)
        self._decide_copy(session, item, "dismissed", actor=actor, reason=reason)
        self._copy_decided(session, notice, item, "dismissed", actor=actor, reason=reason, policy=policy)
        return notice

    def attach_image(
        self,
        session: Session,
        notice_id: int,
        content_item_id: int,
        data: bytes,
        *,
        actor: str,
        settings: Settings,
    ) -> Notice:
        """Attach the bytes of a reported item that was named by content id or URL only, so that its
        stay-down covers edited copies: the image is kept as encrypted evidence under the notice's
        holds and, once the item is removed, banked as an image (robust variants: crops, rotations)
        on top of the exact hashes already banked. The bytes must be the item the registry knows
        (same SHA-256) when it knows one: 409 `image_mismatch` otherwise. Attaching the same image
        twice changes nothing."""
        policy, regime_set = policy_and_regimes(settings)
        notice = load_notice(session, notice_id)
        item = repo.get_content(session, content_item_id)
        if item is None or item.notice_id != notice.id or item.source != "reported":
            raise NoticeContentNotFound(
                f"notice {notice.id} has no reported content item {content_item_id}",
                details={"notice_id": notice.id, "content_item_id": content_item_id},
            )
        hashes = self.stay_down.hash_upload(data, settings)
        sha = str(hashes["sha256"])
        if item.sha256 and item.sha256 != sha:
            raise ImageMismatch(
                "the attached image is not the content recorded for this item (SHA-256 differs)",
                details={"expected_sha256": item.sha256, "sha256": sha},
            )
        kept = repo.evidence(session, notice.id)
        if any(e.notice_content_id == item.id and (e.details or {}).get("kind") == "attached" for e in kept):
            return notice
        evidence = repo.add_evidence(
            session,
            EvidenceItem(
                notice_id=notice.id,
                notice_content_id=item.id,
                sha256=sha,
                hashes={k: v for k, v in hashes.items() if k in _BANK_HASHES and v},
                details={"kind": "attached", "bytes": len(data), "content_id": item.content_id},
                ciphertext=evidence_crypto.encrypt(settings, data),
            ),
        )
        item.sha256, item.pdq = sha, item.pdq or hashes.get("pdq")
        if notice.actioned_at is not None:
            # Preservation runs from removal, as for the evidence kept when the notice was actioned.
            versions = regime_versions(notice, regime_set)
            hold_evidence(session, notice, evidence, versions, start=notice.actioned_at)
        else:
            repo.add_hold(session, EvidenceHold(evidence_id=evidence.id, notice_id=notice.id, kind="case"))
        banked = Banked([], 0)
        if item.state == "removed":
            banked = self._stay_down(
                session,
                notice,
                [],
                actor=actor,
                metadata={"notice_id": notice.id, "ref": item.ref},
                image=data,
            )
            item.stay_down_entry_ids = [*(item.stay_down_entry_ids or []), *banked.entry_ids]
        session.flush()
        audit_notice(
            session,
            notice.id,
            "notice.image_attached",
            actor=actor,
            details={
                "content_item_id": item.id,
                "content_id": item.content_id,
                "sha256": sha,
                "evidence_id": evidence.id,
                "stay_down_entry_ids": banked.entry_ids,
                "stay_down_rows": banked.rows,
            },
            policy=policy,
        )
        return notice

    def copies_in_review(self, session: Session, notice_id: int) -> list[dict[str, Any]]:
        """The near-duplicates of a notice still waiting for a remove-or-dismiss decision."""
        notice = load_notice(session, notice_id)
        return [
            content_out(c)
            for c in repo.contents(session, notice.id)
            if c.source == "near_duplicate" and c.state == "review"
        ]
