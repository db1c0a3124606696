"""ORM models, one file per table. Importing this package registers every table on `Base.metadata`."""

from moderation.models.alert import Alert
from moderation.models.api_key import APIKey
from moderation.models.appeal import Appeal
from moderation.models.audit_event import AuditEvent
from moderation.models.bank import Bank
from moderation.models.bank_change import BankChange
from moderation.models.bank_counter import BankCounter
from moderation.models.bank_entry import BankEntry
from moderation.models.base import Base
from moderation.models.check import Check
from moderation.models.content_item import ContentItem
from moderation.models.content_pdq_key import ContentPDQKey
from moderation.models.counter_notice import CounterNotice
from moderation.models.email_attempt import EmailAttempt
from moderation.models.email_message import EmailMessage
from moderation.models.evidence_hold import EvidenceHold
from moderation.models.evidence_item import EvidenceItem
from moderation.models.exchange import Exchange
from moderation.models.exchange_feedback import ExchangeFeedback
from moderation.models.exchange_record import ExchangeRecord
from moderation.models.job_run import JobRun
from moderation.models.notice import Notice
from moderation.models.notice_clock import NoticeClock
from moderation.models.notice_content import NoticeContent
from moderation.models.notice_pause import NoticePause
from moderation.models.notice_step import NoticeStep
from moderation.models.report_case import ReportCase
from moderation.models.report_file import ReportFile
from moderation.models.report_link import ReportLink
from moderation.models.review_copy import ReviewCopy
from moderation.models.review_item import ReviewItem
from moderation.models.statement import Statement
from moderation.models.statement_submission import StatementSubmission
from moderation.models.user import User
from moderation.models.webhook_attempt import WebhookAttempt
from moderation.models.webhook_delivery import WebhookDelivery

__all__ = [
    "APIKey",
    "Alert",
    "Appeal",
    "AuditEvent",
    "Bank",
    "BankChange",
    "BankCounter",
    "BankEntry",
    "Base",
    "Check",
    "ContentItem",
    "ContentPDQKey",
    "CounterNotice",
    "EmailAttempt",
    "EmailMessage",
    "EvidenceHold",
    "EvidenceItem",
    "Exchange",
    "ExchangeFeedback",
    "ExchangeRecord",
    "JobRun",
    "Notice",
    "NoticeClock",
    "NoticeContent",
    "NoticePause",
    "NoticeStep",
    "ReportCase",
    "ReportFile",
    "ReportLink",
    "ReviewCopy",
    "ReviewItem",
    "Statement",
    "StatementSubmission",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
]
