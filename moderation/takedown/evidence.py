"""Preservation-period arithmetic for evidence holds (calendar months, clamped to the month's end)."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

from moderation.policy.regimes import Period


def add_months(value: datetime, months: int) -> datetime:
    """Same day-of-month `months` later, clamped to the month's last day (31 Aug + 6 months = 28/29 Feb)."""
    index = value.month - 1 + months
    year, month = value.year + index // 12, index % 12 + 1
    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)


def period_end(start: datetime, period: Period) -> datetime:
    """End of a preservation period that starts at `start` (removal)."""
    if period.unit == "days":
        return start + timedelta(days=period.length)
    if period.unit == "months":
        return add_months(start, period.length)
    return add_months(start, 12 * period.length)
