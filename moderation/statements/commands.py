"""`moderation report transparency`: the DSA transparency report for a period, as CSV or JSON."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

import typer

from moderation.config import get_settings
from moderation.db import transaction
from moderation.exceptions import ModerationError
from moderation.policy.loader import get_policy
from moderation.statements.report import transparency_report

report_app = typer.Typer(help="Reports: the DSA transparency report.", no_args_is_help=True)


class ReportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{option} must be a date written YYYY-MM-DD", param_hint=option) from None


@report_app.command("transparency")
def transparency(
    start: Annotated[str, typer.Option("--from", help="First day (UTC), YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--to", help="Last day (UTC, included), YYYY-MM-DD.")],
    fmt: Annotated[ReportFormat, typer.Option("--format", help="csv or json.")] = ReportFormat.CSV,
) -> None:
    """Restrictions by kind, category, ground, source, automation and territory, notices by regime with
    the median time to action; every figure lists the ids of the records behind it."""
    first, last = _day(start, "--from"), _day(end, "--to")
    settings = get_settings()
    try:
        with transaction() as session:
            report = transparency_report.build(
                session, first, last, policy_version=get_policy(settings.policies_dir).version
            )
    except ModerationError as exc:
        typer.secho(f"{exc.code}: {exc.message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    if fmt is ReportFormat.JSON:
        typer.echo(report.model_dump_json(indent=2))
    else:
        typer.echo(transparency_report.csv(report), nl=False)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
