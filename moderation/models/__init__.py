"""ORM models, one file per table. Importing this package registers every table on `Base.metadata`."""

from moderation.models.base import Base
from moderation.models.api_key import APIKey
from moderation.models.audit_event import AuditEvent

__all__ = ["APIKey", "AuditEvent", "Base"]
