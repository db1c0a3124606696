"""Fetching an exchange into its bank: the library's `fetch_iter` page by page, each page applied with
its checkpoint in one transaction, so a fetch stopped anywhere resumes without duplicates or gaps.

Lifecycle of a fetch: claim the exchange's lease (conditional UPDATE; a second fetcher gets
`exchange_busy`) -> build the library's client from the exchange's settings and credentials -> for each
page the library yields (network I/O outside any transaction): one transaction that applies the page's
adds, updates and removals to the bank (through the banks service, so the change log and each process's
match index see them as they see an import), stores the page's checkpoint and renews the lease -> release
the lease, recording the error if the exchange failed. A page applied twice (a worker killed after the
exchange answered but before the commit) changes nothing the second time: records are keyed by the
exchange's own record key and value.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session
from threatexchange.exchanges.fetch_state import FetchedSignalMetadata
from threatexchange.exchanges.signal_exchange_api import AnySignalExchangeAPI

from moderation.audit.service import audit
from moderation.banks.errors import BankEntryNotFound
from moderation.banks.service import banks
from moderation.config import Settings
from moderation.exceptions import ModerationError
from moderation.exchanges import clients
from moderation.exchanges.errors import ExchangeBusy, ExchangeNotFound
from moderation.exchanges.repository import exchange_repository as repo
from moderation.exchanges.schemas import FetchReport
from moderation.exchanges.service import exchanges
from moderation.hashing.types import InvalidHash, parse_hash
from moderation.kit.time import utc_now
from moderation.models.exchange_record import ExchangeRecord

log = logging.getLogger("moderation.exchanges")

UnitOfWork = Callable[[], contextlib.AbstractContextManager[Session]]


class FetchLost(ExchangeBusy):
    """The lease lapsed mid-fetch and another fetcher took the exchange: this page is rolled back."""


@dataclasses.dataclass(frozen=True)
class _Wanted:
    signal_type: str
    hash_type: str
    value: str
    opinions: list[dict[str, Any]]
    summary: str


def record_key(key: Any) -> str:
    """The exchange's record key as text: NCMEC "<member>-<entry>", else "<signal type>:<value>"."""
    if isinstance(key, tuple):
        return ":".join(str(part) for part in key)[:200]
    return str(key)[:200]


# Ids some exchanges' opinions carry (NCMEC member, ThreatExchange owner app and descriptor).
_OPINION_IDS = ("esp_id", "owner_app_id", "descriptor_id")


def _opinions(metadata: FetchedSignalMetadata) -> list[dict[str, Any]]:
    out = []
    for opinion in metadata.get_as_opinions():
        data: dict[str, Any] = {
            "category": opinion.category.name,
            "tags": sorted(opinion.tags),
            "is_mine": bool(opinion.is_mine),
        }
        for name in _OPINION_IDS:
            value = getattr(opinion, name, None)
            if isinstance(value, int):
                data[name] = value
        out.append(data)
    return out


class ExchangeFetcher:
    """Fetches exchanges into their banks (see the module docstring for the lifecycle)."""

    def fetch(
        self,
        unit_of_work: UnitOfWork,
        name: str,
        *,
        settings: Settings,
        worker: str,
        actor: str,
        max_pages: int | None = None,
        progress: Callable[[FetchReport], None] | None = None,
    ) -> FetchReport:
        """Fetch `name` from its checkpoint until the exchange has no more (or `max_pages` pages).

        Errors of the exchange (network, HTTP, bad responses) end the fetch with `report.error` set and
        the exchange's `last_error` recorded; what was applied before stays, and the next fetch resumes
        from the last stored checkpoint. `exchange_busy` if another fetch holds the exchange."""
        report = FetchReport(exchange=name)
        lease = timedelta(seconds=settings.exchange_fetch_lease_seconds)
        with unit_of_work() as session:
            exchange = exchanges.get(session, name)
            now = utc_now()
            if not repo.claim_fetch(session, exchange.id, worker=worker, now=now, lease_until=now + lease):
                raise ExchangeBusy(f"exchange '{name}' is being fetched by another worker")
            exchange_id = exchange.id
            spec = exchanges.spec(exchange)
            stored_checkpoint = exchange.checkpoint
            signal_names = list(exchange.signal_types)
            bank_name = exchanges.bank_name(session, exchange)
        error: str | None = None
        try:
            credentials = clients.load_credentials(settings.exchange_credentials_file, spec)
            api, collab = clients.build(spec, credentials)
            checkpoint = clients.checkpoint_from_json(api, stored_checkpoint)
            if checkpoint is not None and checkpoint.is_stale():
                log.info("exchange %s: checkpoint is stale; fetching from the start", name)
                checkpoint = None
            signal_types = [clients.SIGNAL_TYPES[s] for s in signal_names if s in clients.SIGNAL_TYPES]
            image_md5 = clients.NCMEC_IMAGE_MD5 in signal_names
            for delta in api.fetch_iter(signal_types, checkpoint):
                with unit_of_work() as session:
                    page = self.apply(
                        session,
                        exchange_id=exchange_id,
                        exchange_name=name,
                        bank_name=bank_name,
                        api=api,
                        collab=collab,
                        signal_types=signal_types,
                        updates=delta.updates,
                        actor=actor,
                        image_md5=image_md5,
                    )
                    if not repo.save_progress(
                        session,
                        exchange_id,
                        worker=worker,
                        checkpoint=clients.checkpoint_to_json(delta.checkpoint),
                        lease_until=utc_now() + lease,
                        seen=page.records,
                        added=page.added,
                        removed=page.removed,
                    ):
                        raise FetchLost(f"exchange '{name}': the fetch lease was lost; page not applied")
                report.pages += 1
                for field in ("records", "added", "updated", "removed", "invalid"):
                    setattr(report, field, getattr(report, field) + getattr(page, field))
                if progress is not None:
                    progress(report)
                if max_pages is not None and report.pages >= max_pages:
                    break
            else:
                report.complete = True
        except FetchLost:
            raise
        except ModerationError as exc:
            error = f"{exc.code}: {exc.message}"
        except Exception as exc:  # noqa: BLE001 - any failure of the exchange is reported, never raised
            error = clients.describe_error(exc)
        report.error = error
        with unit_of_work() as session:
            repo.release_fetch(session, exchange_id, worker=worker, now=utc_now(), error=error)
            audit.record(
                session,
                actor=actor,
                action="exchange.fetch",
                subject_type="exchange",
                subject_id=name,
                details=report.model_dump(exclude={"exchange"}),
            )
        if error:
            log.warning("exchange %s: fetch failed after %d page(s): %s", name, report.pages, error)
        return report

    def apply(
        self,
        session: Session,
        *,
        exchange_id: int,
        exchange_name: str,
        bank_name: str,
        api: AnySignalExchangeAPI,
        collab: Any,
        signal_types: Sequence[Any],
        updates: Mapping[Any, Any],
        actor: str,
        image_md5: bool = False,
    ) -> FetchReport:
        """Apply one page of the library's updates ({record key: value, None = removed}) to the bank."""
        page = FetchReport(exchange=exchange_name, records=len(updates))
        wanted: dict[str, dict[tuple[str, str], _Wanted]] = {}
        for key, value in updates.items():
            rows, invalid = self._convert(api, collab, signal_types, key, value, image_md5)
            wanted[record_key(key)] = rows
            page.invalid += invalid
        existing: dict[str, dict[tuple[str, str], ExchangeRecord]] = {}
        for row in repo.records_for_keys(session, exchange_id, list(wanted)):
            existing.setdefault(row.record_key, {})[row.hash_type, row.value] = row
        now = utc_now()
        to_add: list[tuple[str, _Wanted]] = []
        to_remove: list[ExchangeRecord] = []
        for key, rows in wanted.items():
            have = existing.get(key, {})
            for ident, row in have.items():
                if ident not in rows:
                    to_remove.append(row)
            for ident, want in rows.items():
                current = have.get(ident)
                if current is None:
                    to_add.append((key, want))
                elif current.opinions != want.opinions or current.summary != want.summary:
                    current.opinions, current.summary, current.fetched_at = want.opinions, want.summary, now
                    page.updated += 1
        for row in to_remove:
            with contextlib.suppress(BankEntryNotFound):  # an operator deleted it already
                banks.delete_entry(session, row.entry_id, actor=actor)
        repo.delete_records(session, [r.id for r in to_remove])
        page.removed = len(to_remove)
        if to_add:
            entries = banks.add_hashes(
                session,
                bank_name,
                [(w.hash_type, w.value) for _, w in to_add],
                source=f"import:exchange:{exchange_name}",
                metadata={"exchange": exchange_name},
                actor=actor,
            )
            repo.insert_records(
                session,
                [
                    {
                        "exchange_id": exchange_id,
                        "record_key": key,
                        "signal_type": want.signal_type,
                        "hash_type": want.hash_type,
                        "value": want.value,
                        "entry_id": entry.id,
                        "opinions": want.opinions,
                        "summary": want.summary,
                        "first_fetched_at": now,
                        "fetched_at": now,
                        "reviewed": 0,
                        "confirmations": 0,
                        "overturns": 0,
                        "promoted": False,
                    }
                    for (key, want), entry in zip(to_add, entries, strict=True)
                ],
            )
            page.added = len(to_add)
        return page

    def _convert(
        self,
        api: AnySignalExchangeAPI,
        collab: Any,
        signal_types: Sequence[Any],
        key: Any,
        value: Any,
        image_md5: bool,
    ) -> tuple[dict[tuple[str, str], _Wanted], int]:
        """The bank rows a record stands for (none: the exchange removed it), through the library's
        own merge and signal type conversion; and how many of its values were not valid hashes."""
        if value is None:
            return {}, 0
        merged = api.fetch_value_merge(None, value)
        if merged is None:
            return {}, 0
        converted = api.naive_convert_to_signal_type(signal_types, collab, {key: merged})
        found: list[tuple[str, str, str, FetchedSignalMetadata]] = [
            (signal_type.get_name(), hash_type, signal_value, metadata)
            for signal_type, by_value in converted.items()
            if (hash_type := clients.HASH_TYPE_OF_SIGNAL.get(signal_type.get_name())) is not None
            for signal_value, metadata in by_value.items()
        ]
        extra = clients.ncmec_image_md5(collab, merged) if image_md5 else None
        if extra is not None:
            found.append((clients.NCMEC_IMAGE_MD5, "md5", *extra))
        rows: dict[tuple[str, str], _Wanted] = {}
        invalid = 0
        for signal_name, hash_type, signal_value, metadata in found:
            try:
                kind, canonical = parse_hash(hash_type, signal_value)
            except InvalidHash:
                invalid += 1
                continue
            rows[kind.name, canonical] = _Wanted(
                signal_name, kind.name, canonical, _opinions(metadata), str(metadata)[:500]
            )
        return rows, invalid

    def fetch_all(
        self, unit_of_work: UnitOfWork, *, settings: Settings, worker: str, actor: str
    ) -> list[FetchReport]:
        """Fetch each enabled exchange not fetched for MODERATION_EXCHANGE_FETCH_INTERVAL_SECONDS; one
        busy elsewhere is skipped."""
        every = timedelta(seconds=settings.exchange_fetch_interval_seconds)
        with unit_of_work() as session:
            names = repo.due_names(session, started_before=utc_now() - every)
        reports = []
        for name in names:
            try:
                reports.append(self.fetch(unit_of_work, name, settings=settings, worker=worker, actor=actor))
            except (ExchangeBusy, ExchangeNotFound):
                continue
        return reports


fetcher = ExchangeFetcher()
