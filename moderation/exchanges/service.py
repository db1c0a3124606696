"""Exchange configuration: add, list, inspect and switch exchanges; every change audited.

Fetching is in `fetching.py`, feedback in `feedback.py`. Credentials are never stored: an exchange
names only its type and non-secret settings; `clients.load_credentials` reads its entry of
MODERATION_EXCHANGE_CREDENTIALS_FILE when it is fetched or sent feedback.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session
from threatexchange.exchanges.clients.ncmec.hash_api import NCMECEnvironment

from moderation.audit.service import audit
from moderation.banks.errors import BankNotFound
from moderation.banks.service import banks
from moderation.exceptions import ValidationFailed
from moderation.exchanges import schemas
from moderation.exchanges.clients import FEEDBACK_TYPES, ExchangeSpec, signal_names_for
from moderation.exchanges.errors import ExchangeExists, ExchangeNotFound, FeedbackNotSupported
from moderation.exchanges.repository import exchange_repository as repo
from moderation.kit.time import utc_now
from moderation.models.exchange import Exchange
from moderation.models.exchange_feedback import ExchangeFeedback
from moderation.models.exchange_record import ExchangeRecord

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_URL = re.compile(r"^https?://[^\s]{1,490}$")
MAX_PAGE = 1000


def parse_cursor(cursor: str | None) -> int | None:
    """Keyset cursors are the last id of the previous page; anything else is `invalid_cursor`."""
    if cursor is None or cursor == "":
        return None
    if not cursor.isdigit() or len(cursor) > 18:
        raise ValidationFailed("cursor is not one this API returned", code="invalid_cursor")
    return int(cursor)


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be 1-{MAX_PAGE}", code="invalid_limit")


class ExchangeService:
    """Exchanges and their status. Methods run in the caller's transaction and never commit."""

    def add(self, session: Session, body: schemas.ExchangeCreate, *, actor: str) -> schemas.Exchange:
        """Configure an exchange filling `body.bank` (created when missing); `exchange_exists` if taken."""
        if not _NAME.fullmatch(body.name):
            raise ValidationFailed(
                "exchange names are 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit",
                code="invalid_exchange_name",
            )
        config = self._config(body)
        allowed = signal_names_for(body.type.value)
        signal_types = list(dict.fromkeys(body.signal_types or list(allowed)))
        unknown = [s for s in signal_types if s not in allowed]
        if unknown or not signal_types:
            raise ValidationFailed(
                f"a {body.type.value} exchange takes signal types {', '.join(allowed)}",
                code="invalid_signal_type",
                details={"given": unknown},
            )
        if body.feedback_enabled and body.type.value not in FEEDBACK_TYPES:
            raise FeedbackNotSupported(f"a {body.type.value} exchange takes no feedback")
        if body.confirmations_required and not body.promote_to:
            raise ValidationFailed(
                "confirmations_required needs promote_to: the bank confirmed entries move to",
                code="invalid_promotion",
            )
        if repo.by_name(session, body.name) is not None:
            raise ExchangeExists(f"an exchange named '{body.name}' already exists")
        holding = body.review_only or body.confirmations_required > 0
        bank = self._bank(session, body.bank, "review" if holding else "block", actor)
        promote = self._bank(session, body.promote_to, "block", actor) if body.promote_to else None
        if promote is not None and promote.id == bank.id:
            raise ValidationFailed("promote_to must be another bank", code="invalid_promotion")
        exchange = repo.add(
            session,
            Exchange(
                name=body.name,
                type=body.type.value,
                bank_id=bank.id,
                config=config,
                signal_types=signal_types,
                enabled=body.enabled,
                feedback_enabled=body.feedback_enabled,
                confirmations_required=body.confirmations_required,
                promote_bank_id=promote.id if promote else None,
                created_by=actor,
            ),
        )
        audit.record(
            session,
            actor=actor,
            action="exchange.create",
            subject_type="exchange",
            subject_id=exchange.name,
            details={
                "type": exchange.type,
                "bank": bank.name,
                "bank_action": bank.action,
                "promote_to": promote.name if promote else None,
                "config": config,
                "signal_types": signal_types,
                "enabled": exchange.enabled,
                "feedback_enabled": exchange.feedback_enabled,
                "confirmations_required": exchange.confirmations_required,
            },
        )
        return self.view(session, exchange)

    def _config(self, body: schemas.ExchangeCreate) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if body.base_url is not None:
            if not _URL.fullmatch(body.base_url):
                raise ValidationFailed("base_url must be an http(s) URL", code="invalid_exchange_config")
            config["base_url"] = body.base_url
        if body.type == schemas.ExchangeType.ncmec:
            environment = body.environment or "Industry"
            if environment not in NCMECEnvironment.__members__:
                raise ValidationFailed(
                    f"environment must be one of {', '.join(NCMECEnvironment.__members__)}",
                    code="invalid_exchange_config",
                )
            config["environment"] = environment
            if body.only_esp_ids:
                config["only_esp_ids"] = sorted(set(body.only_esp_ids))
        elif body.type == schemas.ExchangeType.threatexchange:
            if body.privacy_group is None or body.privacy_group <= 0:
                raise ValidationFailed(
                    "a threatexchange exchange needs privacy_group", code="invalid_exchange_config"
                )
            config["privacy_group"] = body.privacy_group
        elif body.type == schemas.ExchangeType.file:
            if not body.filename or not body.filename.startswith("/"):
                raise ValidationFailed(
                    "a file exchange needs an absolute filename", code="invalid_exchange_config"
                )
            config["filename"] = body.filename
        return config

    def _bank(self, session: Session, name: str, action: str, actor: str) -> Any:
        try:
            return banks.get(session, name)
        except BankNotFound:
            return banks.create(
                session, name=name, action=action, description="Filled from a hash exchange.", actor=actor
            )

    def get(self, session: Session, name: str, *, for_update: bool = False) -> Exchange:
        exchange = repo.by_name(session, name, for_update=for_update)
        if exchange is None:
            raise ExchangeNotFound(f"no exchange named '{name}'")
        return exchange

    def spec(self, exchange: Exchange) -> ExchangeSpec:
        return ExchangeSpec(name=exchange.name, type=exchange.type, config=dict(exchange.config))

    def bank_name(self, session: Session, exchange: Exchange) -> str:
        name = repo.bank_name(session, exchange.bank_id)
        assert name is not None
        return name

    def promote_bank_name(self, session: Session, exchange: Exchange) -> str | None:
        return repo.bank_name(session, exchange.promote_bank_id)

    def view(self, session: Session, exchange: Exchange) -> schemas.Exchange:
        return schemas.Exchange(
            name=exchange.name,
            type=schemas.ExchangeType(exchange.type),
            bank=self.bank_name(session, exchange),
            promote_to=self.promote_bank_name(session, exchange),
            signal_types=list(exchange.signal_types),
            enabled=exchange.enabled,
            feedback_enabled=exchange.feedback_enabled,
            confirmations_required=exchange.confirmations_required,
            config=dict(exchange.config),
            created_at=exchange.created_at,
        )

    def list(self, session: Session, *, cursor: str | None = None, limit: int = 100) -> schemas.ExchangePage:
        """A keyset page of exchanges in creation order."""
        _check_limit(limit)
        rows = repo.page(session, after=parse_cursor(cursor), limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return schemas.ExchangePage(
            items=[self.view(session, e) for e in rows],
            next_cursor=str(rows[-1].id) if more and rows else None,
        )

    def status(self, session: Session, name: str) -> schemas.ExchangeStatus:
        """Configuration, checkpoint, last fetch and error, counts of records, verdicts and feedback."""
        exchange = self.get(session, name)
        totals = repo.record_totals(session, exchange.id)
        checkpoint = exchange.checkpoint
        progress = _progress_at(checkpoint)
        lease = exchange.fetch_lease_until
        return schemas.ExchangeStatus(
            **self.view(session, exchange).model_dump(),
            checkpoint=checkpoint,
            progress_at=progress,
            fetching=lease is not None and lease > utc_now(),
            last_fetch_started_at=exchange.last_fetch_started_at,
            last_fetch_at=exchange.last_fetch_at,
            last_error=exchange.last_error,
            counts=schemas.ExchangeCounts(
                **totals,
                records_seen=exchange.records_seen,
                entries_added=exchange.entries_added,
                entries_removed=exchange.entries_removed,
            ),
            feedback=repo.feedback_counts(session, exchange.id),
        )

    def update(
        self, session: Session, name: str, body: schemas.ExchangeUpdate, *, actor: str
    ) -> schemas.Exchange:
        """Switch fetching or feedback on or off."""
        exchange = self.get(session, name, for_update=True)
        changes: dict[str, Any] = {}
        if body.feedback_enabled and exchange.type not in FEEDBACK_TYPES:
            raise FeedbackNotSupported(f"a {exchange.type} exchange takes no feedback")
        for field in ("enabled", "feedback_enabled"):
            value = getattr(body, field)
            if value is not None and value != getattr(exchange, field):
                setattr(exchange, field, value)
                changes[field] = value
        if changes:
            exchange.updated_at = utc_now()
            session.flush()
            audit.record(
                session,
                actor=actor,
                action="exchange.update",
                subject_type="exchange",
                subject_id=exchange.name,
                details=changes,
            )
        return self.view(session, exchange)

    def request_fetch(self, session: Session, name: str, *, actor: str) -> None:
        """Make the exchange due for the worker's next `exchanges.fetch` run."""
        exchange = self.get(session, name, for_update=True)
        exchange.last_fetch_started_at = None
        session.flush()
        audit.record(
            session, actor=actor, action="exchange.fetch_request", subject_type="exchange", subject_id=name
        )

    def records(
        self, session: Session, name: str, *, cursor: str | None = None, limit: int = 100
    ) -> schemas.ExchangeRecordPage:
        """A keyset page of the exchange's records: provenance of each bank entry it filled."""
        _check_limit(limit)
        exchange = self.get(session, name)
        rows = repo.page_records(session, exchange.id, after=parse_cursor(cursor), limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return schemas.ExchangeRecordPage(
            items=[_record_view(r) for r in rows], next_cursor=str(rows[-1].id) if more and rows else None
        )

    def feedback(
        self, session: Session, name: str, *, cursor: str | None = None, limit: int = 100
    ) -> schemas.FeedbackPage:
        """A keyset page of the exchange's feedback outbox."""
        _check_limit(limit)
        exchange = self.get(session, name)
        rows = repo.page_feedback(session, exchange.id, after=parse_cursor(cursor), limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return schemas.FeedbackPage(
            items=[_feedback_view(r) for r in rows], next_cursor=str(rows[-1].id) if more and rows else None
        )


def _progress_at(checkpoint: dict[str, Any] | None) -> datetime | None:
    if not checkpoint:
        return None
    for key in ("get_entries_max_ts", "update_time"):
        value = checkpoint.get(key)
        if isinstance(value, int) and value > 0:
            return datetime.fromtimestamp(value, UTC)
    raw = checkpoint.get("checkpoint")
    if isinstance(raw, str) and raw:
        try:
            return datetime.fromtimestamp(float(raw.partition(",")[0]), UTC)
        except ValueError:
            return None
    return None


def _record_view(row: ExchangeRecord) -> schemas.ExchangeRecord:
    return schemas.ExchangeRecord.model_validate(row, from_attributes=True)


def _feedback_view(row: ExchangeFeedback) -> schemas.Feedback:
    return schemas.Feedback.model_validate(row, from_attributes=True)


exchanges = ExchangeService()
