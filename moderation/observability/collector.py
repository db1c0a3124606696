"""Metrics read from the database when `/metrics` is scraped: the same figures from every process.

Queue, outbox and job state lives in PostgreSQL (or SQLite), not in any one process, so whichever
service process answers the scrape reports it. Each scrape runs a handful of aggregate queries."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from moderation.db import session_factory
from moderation.kit.time import utc_now
from moderation.observability.repository import operations_repository as repo

log = logging.getLogger("moderation.metrics")

QUANTILES = (0.5, 0.95)


def _age(now: datetime, then: datetime | None) -> float:
    return 0.0 if then is None else max(0.0, (now - then).total_seconds())


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile of `values` (not empty)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q * len(ordered) + 0.5)))
    return ordered[rank - 1]


class OperationsCollector(Collector):
    """Notices open and overdue per regime, clock breaches, time to action, outbox depth and oldest
    undelivered age, delivery failures, audit checkpoint age and each job's last runs."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "moderation_metrics_database_up", "1 when the scrape could read the database-backed metrics."
        )
        try:
            with self._sessions() as session:
                families = list(self._families(session, utc_now()))
                session.rollback()
        except Exception:
            log.warning("metrics: database figures unavailable", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self, session: Session, now: datetime) -> Iterator[Metric]:
        opened = GaugeMetricFamily("moderation_notices_open", "Open notices per regime.", labels=["regime"])
        for regime, count in sorted(repo.notices_open_by_regime(session).items()):
            opened.add_metric([regime], count)
        yield opened

        overdue = GaugeMetricFamily(
            "moderation_notices_overdue",
            "Open notices with a running clock past due, per regime.",
            labels=["regime"],
        )
        for regime, count in sorted(repo.notices_overdue_by_regime(session, now).items()):
            overdue.add_metric([regime], count)
        yield overdue

        breaches = CounterMetricFamily(
            "moderation_clock_breaches",
            "Clocks that ran out (breach alerts decided), per regime.",
            labels=["regime"],
        )
        for regime, count in sorted(repo.breaches_by_regime(session).items()):
            breaches.add_metric([regime], count)
        yield breaches

        to_action = GaugeMetricFamily(
            "moderation_notice_time_to_action_seconds",
            "Received-to-actioned time of notices actioned in the last 7 days, by quantile.",
            labels=["quantile"],
        )
        seconds = repo.seconds_to_action(session, now)
        if seconds:
            for q in QUANTILES:
                to_action.add_metric([str(q)], quantile(seconds, q))
            to_action.add_metric(["1.0"], max(seconds))
        yield to_action

        depth = GaugeMetricFamily(
            "moderation_outbox_depth", "Undelivered outbox rows (pending or sending).", labels=["outbox"]
        )
        oldest = GaugeMetricFamily(
            "moderation_outbox_oldest_undelivered_age_seconds",
            "Age of the oldest undelivered outbox row (0 when none).",
            labels=["outbox"],
        )
        for name, (count, first) in (
            ("email", repo.email_outbox(session)),
            ("webhook", repo.webhook_outbox(session)),
        ):
            depth.add_metric([name], count)
            oldest.add_metric([name], _age(now, first))
        yield depth
        yield oldest

        failures = CounterMetricFamily(
            "moderation_delivery_failures", "Failed delivery attempts (each is retried).", labels=["outbox"]
        )
        failures.add_metric(["email"], repo.email_failures(session))
        failures.add_metric(["webhook"], repo.webhook_failures(session))
        yield failures
        given_up = GaugeMetricFamily(
            "moderation_webhooks_failed", "Action webhooks given up after their last attempt."
        )
        given_up.add_metric([], repo.webhooks_given_up(session))
        yield given_up

        checkpoint = GaugeMetricFamily(
            "moderation_audit_checkpoint_age_seconds",
            "Seconds since the last audit checkpoint (a seal of check decisions into the audit chain); "
            "absent before the first.",
        )
        last_seal = repo.last_seal_at(session)
        if last_seal is not None:
            checkpoint.add_metric([], _age(now, last_seal))
        yield checkpoint

        success = GaugeMetricFamily(
            "moderation_job_last_success_timestamp_seconds",
            "Unix time of each job's last successful run.",
            labels=["job"],
        )
        failure = GaugeMetricFamily(
            "moderation_job_last_failure_timestamp_seconds",
            "Unix time of each job's last failed run.",
            labels=["job"],
        )
        for run in repo.job_runs(session):
            if run.last_success_at is not None:
                success.add_metric([run.name], run.last_success_at.timestamp())
            if run.last_failure_at is not None:
                failure.add_metric([run.name], run.last_failure_at.timestamp())
        yield success
        yield failure
