"""ORM models, one file per table. Importing this package registers every table on `Base.metadata`."""

from moderation.models.base import Base
from moderation.models.api_key import APIKey
from moderation.models.audit_event import AuditEvent
from moderation.models.evidence_hold import EvidenceHold
from moderation.models.evidence_item import EvidenceItem
from moderation.models.notice import Notice
from moderation.models.notice_clock import NoticeClock
from moderation.models.notice_content import NoticeContent
from moderation.models.notice_pause import NoticePause
from moderation.models.webhook_attempt import WebhookAttempt
from moderation.models.webhook_delivery import WebhookDelivery

__all__ = [
    "APIKey",
    "AuditEvent",
    "Base",
    "EvidenceHold",
    "EvidenceItem",
    "Notice",
    "NoticeClock",
    "NoticeContent",
    "NoticePause",
    "WebhookAttempt",
    "WebhookDelivery",
]
