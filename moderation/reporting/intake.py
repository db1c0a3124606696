"""The check pipeline's match intake (checks.ports.MatchIntake) onto report cases."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from moderation.checks.schemas import CheckMetadata
from moderation.config import Settings
from moderation.models.check import Check
from moderation.reporting.service import reporting


class ReportingIntake:
    """Opens (or links) a report case for a check that matched one of MODERATION_REPORTING_BANKS."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def matched(
        self,
        session: Session,
        check: Check,
        data: bytes,
        banks: Sequence[str],
        *,
        actor: str,
        metadata: CheckMetadata,
    ) -> None:
        reporting.on_check_match(
            session,
            check,
            data,
            banks,
            actor=actor,
            content_id=metadata.content_id,
            uploader_id=metadata.uploader_id,
            settings=self.settings,
        )
