"""The transparency report (DSA Arts. 15 and 24): restrictions, notices and time to action per period.

Every figure is computed from stored records and lists their ids, so each one can be traced back to
the statements or notices behind it. Periods are whole UTC days, both ends included.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from moderation.exceptions import ValidationFailed
from moderation.kit.time import utc_now
from moderation.models.statement import Statement
from moderation.statements.repository import statements_repository as repo
from moderation.statements.schemas import RecordType, ReportRow, ReportSection, TransparencyReport

MAX_PERIOD_DAYS = 3 * 366
COMPLAINTS = "Complaints (Art. 20) are not recorded by this service yet; no complaint figures."


class InvalidPeriod(ValidationFailed):
    code = "invalid_period"


def _grouped(statements: Iterable[Statement], keys: Callable[[Statement], Iterable[str]]) -> list[ReportRow]:
    groups: dict[str, list[int]] = defaultdict(list)
    for statement in statements:
        for key in keys(statement):
            groups[key].append(statement.id)
    return [
        ReportRow(key=key, count=len(ids), record_type=RecordType.STATEMENT, records=ids)
        for key, ids in sorted(groups.items())
    ]


class TransparencyReportService:
    def period(self, start: date, end: date) -> tuple[datetime, datetime]:
        """UTC instants [start 00:00, day after end 00:00); 422 `invalid_period` if reversed or too long."""
        if end < start:
            raise InvalidPeriod(
                "--to is before --from", details={"from": start.isoformat(), "to": end.isoformat()}
            )
        if (end - start).days > MAX_PERIOD_DAYS:
            raise InvalidPeriod(f"a report covers at most {MAX_PERIOD_DAYS} days")
        return datetime.combine(start, time(), UTC), datetime.combine(end + timedelta(days=1), time(), UTC)

    def build(self, session: Session, start: date, end: date, *, policy_version: str) -> TransparencyReport:
        """Compute the report for the days `start`..`end` (UTC, inclusive)."""
        since, until = self.period(start, end)
        statements = repo.statements_between(session, since, until)
        restrictions = [s for s in statements if s.kind != "reversal"]
        reversals = [s for s in statements if s.kind == "reversal"]
        sections = [
            ReportSection(
                name="restrictions_by_kind",
                title="Restrictions by kind",
                rows=_grouped(restrictions, lambda s: [s.kind]),
            ),
            ReportSection(
                name="restrictions_by_category",
                title="Restrictions by category",
                rows=_grouped(restrictions, lambda s: [s.category]),
            ),
            ReportSection(
                name="restrictions_by_ground",
                title="Restrictions by ground",
                rows=_grouped(restrictions, lambda s: [s.decision_ground]),
            ),
            ReportSection(
                name="restrictions_by_source",
                title="Restrictions by source (notice type or own initiative)",
                rows=_grouped(restrictions, lambda s: [s.source_type]),
            ),
            ReportSection(
                name="restrictions_by_automated_detection",
                title="Restrictions by automated detection",
                rows=_grouped(restrictions, lambda s: [s.automated_detection]),
            ),
            ReportSection(
                name="restrictions_by_automated_decision",
                title="Restrictions by automated decision",
                rows=_grouped(restrictions, lambda s: [s.automated_decision]),
            ),
            ReportSection(
                name="restrictions_by_territory",
                title="Restrictions by territorial scope (one count per country in scope)",
                rows=_grouped(restrictions, lambda s: list(s.payload.get("territorial_scope") or ["(none)"])),
            ),
            ReportSection(
                name="reversals",
                title="Restrictions reversed (new statement following the original)",
                rows=_grouped(reversals, lambda s: [s.kind]),
            ),
            ReportSection(
                name="notices_by_regime",
                title="Notices received by regime, with the median hours from receipt to action",
                rows=self._notices(session, since, until),
            ),
        ]
        return TransparencyReport(
            period_from=start,
            period_to=end,
            generated_at=utc_now(),
            policy_version=policy_version,
            restrictions=len(restrictions),
            sections=sections,
            complaints=COMPLAINTS,
        )

    def _notices(self, session: Session, since: datetime, until: datetime) -> list[ReportRow]:
        ids: dict[str, list[int]] = defaultdict(list)
        hours: dict[str, list[float]] = defaultdict(list)
        for notice in repo.notices_between(session, since, until):
            for regime in dict.fromkeys(str(r["id"]) for r in notice.regimes):
                ids[regime].append(notice.id)
                if notice.actioned_at is not None:
                    hours[regime].append((notice.actioned_at - notice.received_at).total_seconds() / 3600)
        return [
            ReportRow(
                key=regime,
                count=len(found),
                record_type=RecordType.NOTICE,
                records=found,
                median_hours_to_action=round(statistics.median(hours[regime]), 2) if hours[regime] else None,
            )
            for regime, found in sorted(ids.items())
        ]

    def csv(self, report: TransparencyReport) -> str:
        """One line per figure: section, key, count, median hours to action, record type, record ids."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["section", "key", "count", "median_hours_to_action", "record_type", "record_ids"])
        writer.writerow(["restrictions", "total", report.restrictions, "", "statement", ""])
        for section in report.sections:
            for row in section.rows:
                median = "" if row.median_hours_to_action is None else row.median_hours_to_action
                records = " ".join(str(i) for i in row.records)
                writer.writerow([section.name, row.key, row.count, median, row.record_type.value, records])
        return out.getvalue()


transparency_report = TransparencyReportService()
