"""Who may see and change a notice through the intake API: only the key that submitted it.

Admin keys see every notice in full. An intake key is a reporting partner: it reaches only the notices
it created (another partner's id answers 404 exactly like a missing one, and reusing another partner's
`client_reference` is a 409 that names nobody), and it gets a receipt, not the case file."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.exceptions import Conflict
from moderation.kit.time import utc_now
from moderation.models.notice import Notice
from moderation.takedown.errors import NoticeNotFound
from moderation.takedown.service import takedown


class ClientReferenceTaken(Conflict):
    code = "client_reference_taken"


class NoticeAccess:
    def require_submitter(self, session: Session, notice_id: int, actor: str) -> Notice:
        """The notice if `actor` submitted it; 404 `notice_not_found` otherwise (no hint that it exists)."""
        notice = takedown.get(session, notice_id)
        if notice.created_by != actor:
            raise NoticeNotFound(f"notice {notice_id} does not exist", details={"notice_id": notice_id})
        return notice

    def check_resubmission(self, notice: Notice, actor: str) -> None:
        """A resubmitted `client_reference` answers with the stored notice only to the key that stored it."""
        if notice.created_by != actor:
            raise ClientReferenceTaken(
                "this client_reference is already used; choose one unique to your submissions"
            )

    def receipt(
        self, session: Session, notice_id: int, *, settings: Settings, created: bool | None = None
    ) -> dict[str, Any]:
        """What a reporter needs: where the notice stands and what is still missing."""
        notice = takedown.get(session, notice_id)
        due_at = notice.due_at
        return {
            "id": notice.id,
            "client_reference": notice.client_reference,
            "state": notice.state,
            "channel": notice.channel,
            "received_at": notice.received_at,
            "missing_fields": {r["id"]: r["missing"] for r in notice.regimes if r["missing"]},
            "regimes": [
                {
                    "id": r["id"],
                    "version": r["version"],
                    "missing": r["missing"],
                    "completed_at": r["completed_at"],
                }
                for r in notice.regimes
            ],
            "due_at": due_at,
            "overdue": bool(
                due_at is not None
                and notice.state in ("received", "needs_info", "validated")
                and due_at < utc_now()
            ),
            "created": created,
            # The submitter's own references (no reporter details): ids to attach images to.
            "content": [
                {
                    "id": c.id,
                    "ref": c.ref,
                    "content_id": c.content_id,
                    "url": c.url,
                    "state": c.state,
                    "stay_down": c.stay_down,
                }
                for c in takedown.detail(session, notice_id, settings).content
            ],
        }


notice_access = NoticeAccess()
