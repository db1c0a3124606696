"""What every part of the takedown feature needs: a notice by id, the policy and its regimes, and
the audit call about a notice."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.config import Settings
from moderation.models.notice import Notice
from moderation.policy.loader import Policy, get_policy
from moderation.policy.regimes import Regime, RegimeSet, RegimeVersion, load_regimes
from moderation.takedown.errors import (
    NoticeNotFound,
)
from moderation.takedown.repository import takedown_repository as repo

SUBJECT = "notice"


def audit_notice(
    session: Session,
    notice_id: int,
    action: str,
    *,
    actor: str,
    details: dict[str, Any] | None = None,
    policy: Policy | None = None,
) -> None:
    """Record one audit event about notice `notice_id` in the caller's transaction."""
    audit.record(
        session,
        actor=actor,
        action=action,
        subject_type=SUBJECT,
        subject_id=notice_id,
        details=details,
        policy_version=policy.version if policy is not None else None,
    )


def policy_and_regimes(settings: Settings) -> tuple[Policy, RegimeSet]:
    """The current policy and its legal regimes."""
    policy = get_policy(settings.policies_dir)
    return policy, policy.part("regimes", load_regimes)


def load_notice(session: Session, notice_id: int) -> Notice:
    """The notice, or 404 `notice_not_found`."""
    notice = repo.get(session, notice_id)
    if notice is None:
        raise NoticeNotFound(f"notice {notice_id} does not exist", details={"notice_id": notice_id})
    return notice


def open_notice(session: Session, notice_id: int, settings: Settings) -> tuple[Policy, RegimeSet, Notice]:
    """The current policy, its regimes and the notice (404 `notice_not_found` if it does not exist)."""
    policy, regime_set = policy_and_regimes(settings)
    return policy, regime_set, load_notice(session, notice_id)


def regime_versions(notice: Notice, regimes: RegimeSet) -> list[tuple[Regime, RegimeVersion]]:
    """The (regime, version) pairs the notice was received under."""
    return [(regimes.get(r["id"]), regimes.get(r["id"]).version(r["version"])) for r in notice.regimes]
