"""Statements of reasons: built from a recorded decision, validated, stored once, audited.

The check and takedown flows call one function each at the point where they record a restriction:
`record_check` (a pre-publish block, a review hold, a stay-down block), `record_verdict` (a reviewer's
decision on a held item), `record_notice_action` (a removal after a notice, or its reversal at
restore). Each builds the Transparency Database statement from the decision's own facts and the
platform wording in policies/statements.yaml, refuses it if it breaks a rule of the format, and stores
it once per restriction (a UNIQUE dedup key) together with a pending submission and an audit event,
all in the caller's transaction. A reversal is a new statement that follows the one it ends.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from uuid import uuid4

from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.banks.service import STAY_DOWN_BANK
from moderation.config import Settings
from moderation.email.service import outbox
from moderation.exceptions import ModerationError, NotFound
from moderation.kit.paging import Page, decode_id_cursor, page_of
from moderation.kit.time import utc_now
from moderation.models.check import Check
from moderation.models.notice import Notice
from moderation.models.notice_content import NoticeContent
from moderation.models.statement import Statement
from moderation.models.statement_submission import StatementSubmission
from moderation.policy import sor_rules
from moderation.policy.loader import Policy, get_policy
from moderation.policy.regimes import RegimeSet, load_regimes
from moderation.policy.statements import Classification, Restriction, StatementPolicy, load_statements
from moderation.statements.repository import statements_repository as repo
from moderation.statements.schemas import (
    Redress,
    StatementKind,
    StatementOut,
    StatementPayload,
    Submission,
    SubmissionState,
)

MAX_FACTS = 5000
RESTRICTING = ("block", "review")
FINDING_KINDS = ("bank_match", "classifier", "classifier_combination", "prompt")


class StatementNotFound(NotFound):
    code = "statement_not_found"


class StatementInvalid(ModerationError):
    """A statement built from a decision breaks a rule of the format: a bug or a policy gap. The
    decision is not recorded without its statement (the transaction rolls back)."""

    code = "statement_invalid"
    status = 500


def _day(value: datetime) -> str:
    return value.date().isoformat()


def _clip(text: str, limit: int = MAX_FACTS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(reason: dict[str, Any]) -> str | None:
    """A finding in plain words, without personal data (never the prompt text or an uploader id)."""
    kind = reason.get("kind")
    if kind == "bank_match":
        return (
            f"The image matched an entry of the platform's '{reason.get('bank')}' list of known images "
            f"({reason.get('hash_type')} hash, distance {reason.get('distance')} within the threshold "
            f"{reason.get('threshold')})."
        )
    if kind == "classifier":
        return (
            f"An automated image classifier scored the image {float(reason.get('score') or 0):.2f} for the "
            f"category '{reason.get('category')}', at or above the threshold {reason.get('threshold')}."
        )
    if kind == "classifier_combination":
        return (
            "An automated image classifier found these categories together, which the platform never "
            f"allows: {', '.join(str(c) for c in reason.get('categories') or [])}."
        )
    if kind == "prompt":
        rule = reason.get("rule")
        return f"The request that generated the image has wording the platform does not allow (rule {rule})."
    if kind == "classifier_unavailable":
        return "The automated classifier could not assess the image; it is held for a person to review."
    return None


class StatementService:
    # --- policy ---------------------------------------------------------------------------------
    def _policy(
        self, settings: Settings | None, policy: Policy | None = None
    ) -> tuple[Policy, StatementPolicy, RegimeSet]:
        if policy is None:
            if settings is None:
                raise TypeError("the statement needs the policy or the settings that name it")
            policy = get_policy(settings.policies_dir)
        return policy, policy.part("statements", load_statements), policy.part("regimes", load_regimes)

    # --- building blocks ------------------------------------------------------------------------
    def _payload(
        self,
        wording: StatementPolicy,
        *,
        puid: str,
        restriction: Restriction,
        classification: Classification,
        facts: str,
        source: str,
        detection: bool,
        automated: str,
        content_date: datetime,
        applied: datetime,
        generated: bool,
    ) -> dict[str, Any]:
        platform = wording.platform
        payload: dict[str, Any] = {"decision_visibility": list(restriction.visibility)}
        if restriction.visibility_other:
            payload["decision_visibility_other"] = restriction.visibility_other
        payload.update(wording.ground_fields(classification.ground))
        payload["content_type"] = list(
            platform.generated_content_type if generated else platform.content_type
        )
        payload["category"] = classification.category
        if classification.keywords:
            payload["category_specification"] = sorted(classification.keywords)
        payload["territorial_scope"] = sorted(platform.territorial_scope)
        # A content date before the format's range (or after the decision) is clamped to what is allowed.
        payload["content_date"] = min(_day(content_date), _day(applied))
        payload["application_date"] = _day(applied)
        payload["decision_facts"] = _clip(facts)
        payload["source_type"] = source
        payload["automated_detection"] = "Yes" if detection else "No"
        payload["automated_decision"] = automated
        payload["puid"] = puid
        return payload

    def _create(
        self,
        session: Session,
        *,
        wording: StatementPolicy,
        policy: Policy,
        kind: StatementKind,
        dedup_key: str,
        payload: dict[str, Any],
        basis: str,
        actor: str,
        content_id: str | None,
        check_id: int | None = None,
        notice_id: int | None = None,
        notice_content_id: int | None = None,
        follows: Statement | None = None,
    ) -> Statement:
        existing = repo.by_dedup_key(session, dedup_key)
        if existing is not None:
            return existing
        problems = sor_rules.problems(payload)
        if problems:
            raise StatementInvalid(
                f"the statement for {dedup_key} breaks the Transparency Database format",
                details={"problems": [{"field": f, "message": m} for f, m in problems]},
            )
        statement = Statement(
            puid=payload["puid"],
            dedup_key=dedup_key,
            kind=kind.value,
            content_id=content_id,
            check_id=check_id,
            notice_id=notice_id,
            notice_content_id=notice_content_id,
            follows_id=follows.id if follows else None,
            basis=basis,
            category=payload["category"],
            decision_ground=payload["decision_ground"],
            source_type=payload["source_type"],
            automated_detection=payload["automated_detection"],
            automated_decision=payload["automated_decision"],
            payload=payload,
            redress=wording.redress.model_dump(mode="json"),
            policy_version=policy.version,
        )
        stored = repo.insert(session, statement)
        if stored is None:  # a concurrent writer stored the same restriction first
            winner = repo.by_dedup_key(session, dedup_key)
            assert winner is not None
            return winner
        repo.add_submission(
            session, StatementSubmission(statement_id=stored.id, state="pending", next_attempt_at=utc_now())
        )
        audit.record(
            session,
            actor=actor,
            action="statement.created",
            subject_type="statement",
            subject_id=stored.id,
            details={
                "kind": kind.value,
                "puid": stored.puid,
                "content_id": content_id,
                "check_id": check_id,
                "notice_id": notice_id,
                "follows_id": stored.follows_id,
                "category": stored.category,
                "decision_ground": stored.decision_ground,
                "basis": basis,
            },
            policy_version=policy.version,
        )
        return stored

    def _puid(self, wording: StatementPolicy) -> str:
        return f"{wording.platform.puid_prefix}-{uuid4().hex}"

    # --- checks ---------------------------------------------------------------------------------
    def _stay_down_origin(self, session: Session, reasons: list[dict[str, Any]]) -> Statement | None:
        """The removal statement behind a stay-down match (the notice that put the hash in the bank)."""
        for reason in reasons:
            if reason.get("bank") != STAY_DOWN_BANK or reason.get("decision") not in RESTRICTING:
                continue
            try:
                meta = repo.bank_entry_meta(session, int(reason.get("entry_id") or 0))
            except (TypeError, ValueError):
                continue
            notice_id = meta.get("notice_id")
            if isinstance(notice_id, int):
                ref = meta.get("ref")
                origin = repo.removal_under_notice(session, notice_id, ref if isinstance(ref, str) else None)
                if origin is not None:
                    return origin
        return None

    def record_check(
        self,
        session: Session,
        check: Check,
        *,
        actor: str,
        content_id: str | None = None,
        policy: Policy | None = None,
        settings: Settings | None = None,
    ) -> StatementOut | None:
        """The statement of a check's automated block or review hold (None for allow, or for a hold
        when the policy does not treat holds as restrictions). `content_id` names the content when a
        cached check decides about another upload of the same bytes."""
        if check.decision not in RESTRICTING:
            return None
        policy, wording, _ = self._policy(settings, policy)
        content_id = content_id or check.content_id
        reasons = [dict(r) for r in check.reasons or []]
        restricting = [r for r in reasons if r.get("decision") in RESTRICTING]
        origin = self._stay_down_origin(session, reasons) if check.decision == "block" else None
        stay_down = any(r.get("bank") == STAY_DOWN_BANK for r in restricting) and check.decision == "block"
        if check.decision == "review":
            kind, restriction = StatementKind.REVIEW_HOLD, wording.restrictions.review_hold
            if not restriction.statement:
                return None
        elif stay_down:
            kind, restriction = StatementKind.STAY_DOWN_BLOCK, wording.restrictions.stay_down_block
        else:
            kind, restriction = StatementKind.CHECK_BLOCK, wording.restrictions.check_block
        rule = wording.finding(reasons)
        classification: Classification = rule
        basis = f"check_findings[{wording.check_findings.index(rule)}]"
        lines = [line for line in (_describe(r) for r in restricting) if line]
        if origin is not None:
            classification = Classification(
                category=origin.category,
                keywords=tuple(origin.payload.get("category_specification") or ()),
                ground=self._ground_of(wording, origin),
            )
            basis = f"stay_down_of:{origin.id}"
            lines.append(
                "The image is a copy of content removed on "
                f"{origin.payload['application_date']} (statement {origin.puid}); the platform keeps such "
                "content from being uploaded again."
            )
        if kind is StatementKind.REVIEW_HOLD:
            lines.append("The content is held back from publication until a moderator has reviewed it.")
        else:
            lines.append("The content was refused before publication.")
        detection = any(r.get("kind") in FINDING_KINDS for r in restricting)
        payload = self._payload(
            wording,
            puid=self._puid(wording),
            restriction=restriction,
            classification=classification,
            facts=" ".join(lines),
            source=sor_rules.SOURCE_VOLUNTARY,
            detection=detection,
            automated=sor_rules.AUTOMATED_FULLY,
            content_date=check.created_at,
            applied=check.created_at,
            generated=check.source == "generated",
        )
        if origin is not None:
            payload = self._with_ground_of(payload, origin)
        statement = self._create(
            session,
            wording=wording,
            policy=policy,
            kind=kind,
            dedup_key=f"check-{check.id}/{content_id or '-'}/{kind.value}",
            payload=payload,
            basis=basis,
            actor=actor,
            content_id=content_id,
            check_id=check.id,
        )
        return self.present(session, statement)

    def _ground_of(self, wording: StatementPolicy, origin: Statement) -> str:
        """A ground id of the policy with the same decision ground as `origin` (for the sample shape);
        the origin's own ground texts are copied by `_with_ground_of`."""
        for ground_id, ground in wording.grounds.items():
            if ground.decision_ground == origin.decision_ground:
                return ground_id
        return next(iter(wording.grounds))

    def _with_ground_of(self, payload: dict[str, Any], origin: Statement) -> dict[str, Any]:
        ground_fields = (
            "decision_ground",
            "decision_ground_reference_url",
            "illegal_content_legal_ground",
            "illegal_content_explanation",
            "incompatible_content_ground",
            "incompatible_content_explanation",
            "incompatible_content_illegal",
        )
        merged = {k: v for k, v in payload.items() if k not in ground_fields}
        merged.update({k: origin.payload[k] for k in ground_fields if k in origin.payload})
        return merged

    def record_verdict(
        self,
        session: Session,
        check: Check,
        *,
        actor: str,
        content_id: str | None = None,
        policy: Policy | None = None,
        settings: Settings | None = None,
    ) -> StatementOut | None:
        """A reviewer's verdict on a held item: `block` restricts (partly automated: the finding was
        automated, a person decided), `allow` ends the hold with a reversal statement. `content_id`
        names another upload of the same bytes that the verdict now blocks."""
        if check.verdict not in ("allow", "block"):
            return None
        policy, wording, _ = self._policy(settings, policy)
        content_id = content_id or check.content_id
        hold = repo.by_dedup_key(
            session, f"check-{check.id}/{content_id or '-'}/{StatementKind.REVIEW_HOLD.value}"
        )
        decided_at = check.verdict_at or utc_now()
        if check.verdict == "allow":
            if hold is None:
                return None
            return self._reverse(
                session,
                hold,
                wording=wording,
                policy=policy,
                actor=actor,
                ended=decided_at,
                why="A moderator reviewed the content and allowed it; the hold ended.",
            )
        reasons = [dict(r) for r in check.reasons or []]
        rule = wording.finding(reasons)
        restricting = [r for r in reasons if r.get("decision") in RESTRICTING]
        lines = [line for line in (_describe(r) for r in restricting) if line]
        lines.append("A moderator reviewed the held content and refused it.")
        payload = self._payload(
            wording,
            puid=self._puid(wording),
            restriction=wording.restrictions.check_block,
            classification=rule,
            facts=" ".join(lines),
            source=sor_rules.SOURCE_VOLUNTARY,
            detection=any(r.get("kind") in FINDING_KINDS for r in restricting),
            automated=sor_rules.AUTOMATED_PARTIALLY,
            content_date=check.created_at,
            applied=decided_at,
            generated=check.source == "generated",
        )
        statement = self._create(
            session,
            wording=wording,
            policy=policy,
            kind=StatementKind.CHECK_BLOCK,
            dedup_key=f"check-{check.id}/{content_id or '-'}/verdict-block",
            payload=payload,
            basis=f"check_findings[{wording.check_findings.index(rule)}]",
            actor=actor,
            content_id=content_id,
            check_id=check.id,
            follows=hold,
        )
        return self.present(session, statement)

    # --- notices --------------------------------------------------------------------------------
    def record_appeal_reversal(
        self, session: Session, check_id: int, content_id: str | None, *, actor: str, settings: Settings
    ) -> StatementOut | None:
        """The reversal statement of a check's block (automated, stay-down or a reviewer's) that an
        appeal overturned; None when no block statement was recorded for it."""
        policy, wording, _ = self._policy(settings)
        ref = f"check-{check_id}/{content_id or '-'}"
        for suffix in (
            StatementKind.CHECK_BLOCK.value,
            StatementKind.STAY_DOWN_BLOCK.value,
            "verdict-block",
        ):
            original = repo.by_dedup_key(session, f"{ref}/{suffix}")
            if original is not None:
                return self._reverse(
                    session,
                    original,
                    wording=wording,
                    policy=policy,
                    actor=actor,
                    ended=utc_now(),
                    why="The content was reinstated after the user's complaint was upheld.",
                )
        return None

    def record_notice_action(
        self,
        session: Session,
        notice: Notice,
        item: NoticeContent,
        action: str,
        *,
        actor: str,
        settings: Settings,
    ) -> StatementOut | None:
        """The statement of a removal after a notice (`remove`) or its reversal (`restore`)."""
        policy, wording, regimes = self._policy(settings)
        removal_key = f"notice-content-{item.id}/remove"
        if action == "restore":
            removal = repo.by_dedup_key(session, removal_key)
            if removal is None:
                return None
            return self._reverse(
                session,
                removal,
                wording=wording,
                policy=policy,
                actor=actor,
                ended=utc_now(),
                why="The content was reinstated after the decision was reconsidered.",
            )
        if action != "remove":
            return None
        regime_ids = [str(r["id"]) for r in notice.regimes]
        key, rule = wording.notice_rule(regime_ids, child_safety=notice.child_safety)
        source = rule.source
        if source == sor_rules.SOURCE_ARTICLE_16 and (notice.reporter or {}).get("trusted_flagger") is True:
            source = sor_rules.SOURCE_TRUSTED_FLAGGER
        titles = [regimes.get(r).title for r in regime_ids if r in regimes]
        now = utc_now()
        routes = "; ".join(titles) or "the platform rules"
        lines = [f"A notice received on {_day(notice.received_at)} under {routes} reported the content."]
        copy = item.source != "reported"
        if item.source == "identical_copy":
            lines.append(
                "This item is an identical copy (same SHA-256) of the reported content, found by automated "
                "matching and removed under the same decision."
            )
        elif item.source == "near_duplicate":
            lines.append(
                "This item is a near-duplicate of the reported content, found by automated image matching"
                + (
                    " and confirmed by a moderator."
                    if item.reviewed_by
                    else " and removed under the same decision."
                )
            )
        else:
            lines.append("A moderator reviewed the notice and removed the content.")
        if copy and item.reviewed_by:
            automated = sor_rules.NOT_AUTOMATED
        elif copy:
            automated = sor_rules.AUTOMATED_PARTIALLY
        else:
            automated = sor_rules.NOT_AUTOMATED
        posted = (
            repo.first_seen(session, item.content_id) if item.content_id else None
        ) or notice.received_at
        payload = self._payload(
            wording,
            puid=self._puid(wording),
            restriction=wording.restrictions.notice_removal,
            classification=rule,
            facts=" ".join(lines),
            source=source,
            detection=copy,
            automated=automated,
            content_date=posted,
            applied=notice.actioned_at or now,
            generated=False,
        )
        statement = self._create(
            session,
            wording=wording,
            policy=policy,
            kind=StatementKind.NOTICE_REMOVAL,
            dedup_key=removal_key,
            payload=payload,
            basis=f"notices.{key}",
            actor=actor,
            content_id=item.content_id,
            notice_id=notice.id,
            notice_content_id=item.id,
        )
        return self.present(session, statement)

    # --- reversal -------------------------------------------------------------------------------
    def _reverse(
        self,
        session: Session,
        original: Statement,
        *,
        wording: StatementPolicy,
        policy: Policy,
        actor: str,
        ended: datetime,
        why: str,
    ) -> StatementOut:
        """A new statement that repeats the original with the restriction's end date and says why it
        ended; linked to the original by `follows_id`."""
        payload = dict(original.payload)
        payload["puid"] = self._puid(wording)
        payload["end_date_visibility_restriction"] = max(_day(ended), payload["application_date"])
        payload["automated_decision"] = sor_rules.NOT_AUTOMATED
        payload["decision_facts"] = _clip(
            f"{why} Restriction ended on {_day(ended)}; this statement updates statement {original.puid}. "
            f"{original.payload['decision_facts']}"
        )
        statement = self._create(
            session,
            wording=wording,
            policy=policy,
            kind=StatementKind.REVERSAL,
            dedup_key=f"reversal-of-{original.id}",
            payload=payload,
            basis=f"reversal_of:{original.id}",
            actor=actor,
            content_id=original.content_id,
            check_id=original.check_id,
            notice_id=original.notice_id,
            notice_content_id=original.notice_content_id,
            follows=original,
        )
        return self.present(session, statement)

    # --- reading --------------------------------------------------------------------------------
    def present(
        self, session: Session, statement: Statement, *, with_submission: bool = False
    ) -> StatementOut:
        submission = repo.submission(session, statement.id) if with_submission else None
        return StatementOut(
            id=statement.id,
            puid=statement.puid,
            kind=StatementKind(statement.kind),
            content_id=statement.content_id,
            check_id=statement.check_id,
            notice_id=statement.notice_id,
            follows_id=statement.follows_id,
            followed_by=[s.id for s in repo.followed_by(session, statement.id)],
            created_at=statement.created_at,
            policy_version=statement.policy_version,
            statement=StatementPayload.model_validate(statement.payload),
            redress=Redress.model_validate(statement.redress),
            submission=None
            if submission is None
            else Submission(
                state=SubmissionState(submission.state),
                attempts=submission.attempts,
                submitted_at=submission.submitted_at,
                permalink=submission.permalink,
                last_error=submission.last_error,
                rejection=submission.rejection,
            ),
        )

    def get(self, session: Session, statement_id: int) -> StatementOut:
        statement = repo.get(session, statement_id)
        if statement is None:
            raise StatementNotFound(f"no statement {statement_id}", details={"statement_id": statement_id})
        return self.present(session, statement, with_submission=True)

    def for_content(self, session: Session, content_id: str, *, limit: int = 100) -> list[StatementOut]:
        """Every statement about a platform content id, oldest first."""
        return [
            self.present(session, s, with_submission=True)
            for s in repo.for_content(session, content_id, limit=limit)
        ]

    def page_for_content(
        self, session: Session, content_id: str, *, cursor: str | None = None, limit: int = 100
    ) -> Page[StatementOut]:
        """A page of the statements about a platform content id, oldest first; pass `next_cursor`
        back as `cursor` for the next."""
        after = decode_id_cursor(cursor) if cursor else None
        page = page_of(
            repo.for_content(session, content_id, limit=limit + 1, after=after), limit, lambda s: (s.id,)
        )
        return Page([self.present(session, s, with_submission=True) for s in page.items], page.next_cursor)

    def submission_overview(
        self, session: Session, *, limit: int = 100
    ) -> tuple[dict[str, int], list[StatementOut]]:
        """Submission counts by state and the statements the database rejected (with its reasons)."""
        rejected = [self.present(session, s, with_submission=True) for s, _ in repo.rejected(session, limit)]
        return repo.submission_counts(session), rejected

    # --- delivery to the user -------------------------------------------------------------------
    def email(self, session: Session, statement_id: int, *, to: str, actor: str, settings: Settings) -> bool:
        """Queue the statement to the uploader's address through the email outbox (once per address).
        The address is kept only in the outbox; the audit event stores its hash."""
        shown = self.get(session, statement_id)
        digest = hashlib.sha256(to.strip().lower().encode()).hexdigest()[:16]
        context = {"statement": shown, "public_url": settings.public_url}
        queued = outbox.enqueue(
            session,
            key=f"statement-{statement_id}/email/{digest}",
            kind="statement",
            recipients=[to.strip()],
            subject="Statement of reasons: a decision about your content",
            text_body=outbox.render("statement.txt", **context),
            html_body=outbox.render("statement.html", **context),
            now=utc_now(),
        )
        if queued is not None:
            audit.record(
                session,
                actor=actor,
                action="statement.emailed",
                subject_type="statement",
                subject_id=statement_id,
                details={"recipient_sha256": digest, "outbox_id": queued},
            )
        return queued is not None


statements = StatementService()
