"""Fixtures of the exchange tests: the fake exchanges, a credentials file, exchange and fetch helpers."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from moderation.config import Settings, get_settings
from moderation.db import session_factory, transaction
from moderation.exchanges import schemas
from moderation.exchanges.fetching import fetcher
from moderation.exchanges.service import exchanges
from moderation.models.bank import Bank
from moderation.models.bank_entry import BankEntry
from tests.exchanges import fakes
from tests.factories import random_pdq


@pytest.fixture
def fake() -> Iterator[fakes.FakeExchanges]:
    with fakes.FakeExchanges() as server:
        yield server


@pytest.fixture
def credentials(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A credentials file with an entry for each test exchange name; settings that point at it."""
    path = tmp_path / "exchange-credentials.json"
    ncmec = {"user": fakes.NCMEC_USER, "password": fakes.NCMEC_PASSWORD}
    stopncii = {
        "fetch_function_key": fakes.STOPNCII_FETCH_KEY,
        "subscription_key": fakes.STOPNCII_SUBSCRIPTION_KEY,
        "feedback_function_key": fakes.STOPNCII_FEEDBACK_KEY,
    }
    tat = {"username": fakes.TAT_USER, "password": fakes.TAT_PASSWORD}
    te = {"api_token": fakes.TE_TOKEN}
    path.write_text(json.dumps({"ncmec": ncmec, "stopncii": stopncii, "tat": tat, "threatexchange": te}))
    monkeypatch.setenv("MODERATION_EXCHANGE_CREDENTIALS_FILE", str(path))
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def ncmec_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The NCMEC adapter fetches up to its own `time.time()`; tests set it (list item 0)."""
    from types import SimpleNamespace

    from threatexchange.exchanges.impl import ncmec_api

    from tests.exchanges.scenarios import BASE_TS

    now = [float(BASE_TS + 2000)]
    monkeypatch.setattr(ncmec_api, "time", SimpleNamespace(time=lambda: now[0]))
    return now


def add_exchange(
    engine: Engine,
    fake: fakes.FakeExchanges,
    kind: str,
    *,
    name: str | None = None,
    bank: str | None = None,
    **options: Any,
) -> schemas.Exchange:
    """Configure exchange `name` (default: the type's name, which the credentials file knows)."""
    extra: dict[str, Any] = {}
    if kind != "file":
        extra["base_url"] = fake.base({"threatexchange": "te"}.get(kind, kind))
    if kind == "threatexchange":
        extra["privacy_group"] = fakes.TE_PRIVACY_GROUP
    if kind == "ncmec":
        extra["environment"] = "test_Industry"
    extra.update(options)
    with transaction(engine) as session:
        return exchanges.add(
            session,
            schemas.ExchangeCreate(name=name or kind, type=kind, bank=bank or f"{kind}-bank", **extra),
            actor="test",
        )


def fetch(engine: Engine, settings: Settings, name: str, **kwargs: Any) -> schemas.FetchReport:
    return fetcher.fetch(
        lambda: transaction(engine), name, settings=settings, worker="test-worker", actor="test", **kwargs
    )


def bank_rows(engine: Engine, bank: str) -> list[tuple[str, str]]:
    """(hash type, value) of the bank's top-level entries, in id order (duplicates kept)."""
    with session_factory(engine)() as session:
        bank_id = session.scalar(select(Bank.id).where(Bank.name == bank))
        rows = session.execute(
            select(BankEntry.hash_type, BankEntry.value)
            .where(BankEntry.bank_id == bank_id, BankEntry.parent_id.is_(None))
            .order_by(BankEntry.id)
        )
        return [(t, v) for t, v in rows]


@pytest.fixture
def pdqs() -> Callable[[int], list[str]]:
    def _make(n: int, seed: int = 21) -> list[str]:
        rng = random.Random(seed)
        return [random_pdq(rng) for _ in range(n)]

    return _make


def md5(n: int) -> str:
    return f"{n:032x}"


__all__ = ["Session", "add_exchange", "bank_rows", "fetch", "md5"]
