"""CLI commands of the `worker` feature: `moderation worker [--once] [--job NAME] [--list]`."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from moderation.config import get_settings
from moderation.db import get_engine
from moderation.exceptions import ConfigurationError, PolicyError, SchemaOutOfDate
from moderation.kit.migrations import prepare_database
from moderation.kit.time import set_clock
from moderation.observability.logs import configure_logging
from moderation.worker.runner import load_jobs, run_forever, run_once


def worker(
    once: Annotated[bool, typer.Option("--once", help="Run every job one time, then exit.")] = False,
    job_names: Annotated[
        list[str] | None, typer.Option("--job", help="Only this job (repeatable); implies --once.")
    ] = None,
    list_jobs: Annotated[bool, typer.Option("--list", help="List the jobs and exit.")] = False,
) -> None:
    """Run the scheduled jobs (alert scan, email delivery, webhooks, evidence purge, digest).

    Without --once it runs until SIGTERM/SIGINT, each job every MODERATION_WORKER_INTERVAL_SECONDS.
    With --once it exits 1 if any job failed."""

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    if list_jobs:
        for job in load_jobs():
            typer.echo(f"{job.name:28} every {job.interval(settings):g}s  {job.description}")
        return
    if settings.fake_now is not None:
        set_clock(settings.fake_now)
    try:
        prepare_database(settings)
    except (SchemaOutOfDate, ConfigurationError, PolicyError) as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc
    engine = get_engine(settings)
    if not (once or job_names):
        run_forever(engine, settings)
        return
    # One line per job, printed below: the runner's own per-job log line would say it a second time.
    logging.getLogger("moderation.worker").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        outcomes = run_once(engine, settings, names=job_names)
    except KeyError as exc:
        typer.secho(
            f"error [unknown_job]: no job named {exc.args[0]} (see --list)", err=True, fg=typer.colors.RED
        )
        raise typer.Exit(2) from exc
    for outcome in outcomes:
        typer.echo(outcome.describe())
    if any(o.status == "failed" for o in outcomes):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Attach this feature's commands to the top-level `moderation` CLI."""
    app.command("worker")(worker)
