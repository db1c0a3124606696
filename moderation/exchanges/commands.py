"""CLI commands of the exchanges feature: `moderation exchange add|list|status|set|fetch|overturn`."""

from __future__ import annotations

import json
import os
import socket
from typing import Annotated

import typer
from pydantic import ValidationError

from moderation.config import get_settings
from moderation.db import get_engine, transaction
from moderation.exceptions import ModerationError
from moderation.exchanges import schemas
from moderation.exchanges.feedback import exchange_feedback
from moderation.exchanges.fetching import fetcher
from moderation.exchanges.service import exchanges
from moderation.kit.cli import cli_actor, fail

exchange_app = typer.Typer(
    help="Hash exchanges: configure, inspect and fetch NCMEC, StopNCII, TCAP, ThreatExchange and file lists.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Attach this feature's commands to the top-level `moderation` CLI."""
    app.add_typer(exchange_app, name="exchange")


def _fail(exc: Exception) -> typer.Exit:
    if isinstance(exc, ModerationError):
        return fail(f"error [{exc.code}]: {exc.message}")
    return fail(f"error: {exc}")


@exchange_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The exchange's name (its credentials key).")],
    type_: Annotated[
        schemas.ExchangeType,
        typer.Option("--type", metavar="TYPE", help="ncmec | stopncii | tat | threatexchange | file"),
    ],
    bank: Annotated[str, typer.Option(metavar="BANK", help="Bank it fills (created if missing).")],
    signal_type: Annotated[
        list[str] | None,
        typer.Option(
            "--signal-type",
            metavar="TYPE",
            help="pdq, video_md5; ncmec also image_md5 (repeat; default: all).",
        ),
    ] = None,
    review_only: Annotated[
        bool, typer.Option("--review-only", help="Matches go to review (a review-action bank).")
    ] = False,
    feedback: Annotated[
        bool, typer.Option("--feedback", help="Send reviewers' verdicts back to the exchange.")
    ] = False,
    confirmations: Annotated[
        int, typer.Option(metavar="N", help="Hold entries for review until N block verdicts, then promote.")
    ] = 0,
    promote_to: Annotated[
        str | None, typer.Option(metavar="BANK", help="Bank confirmed entries move to.")
    ] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Configure without fetching yet.")] = False,
    environment: Annotated[
        str | None, typer.Option(metavar="ENV", help="NCMEC environment (Industry, NGO ...).")
    ] = None,
    esp_id: Annotated[
        list[int] | None, typer.Option("--esp-id", metavar="ID", help="NCMEC: only these members.")
    ] = None,
    privacy_group: Annotated[
        int | None, typer.Option(metavar="ID", help="ThreatExchange privacy group.")
    ] = None,
    file: Annotated[
        str | None, typer.Option(metavar="PATH", help="file: the signal file (absolute path).")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(metavar="URL", help="Another API base URL (tests, proxies).")
    ] = None,
) -> None:
    """Configure an exchange. Credentials are read from MODERATION_EXCHANGE_CREDENTIALS_FILE by NAME."""
    try:
        body = schemas.ExchangeCreate(
            name=name,
            type=type_,
            bank=bank,
            signal_types=signal_type or None,
            enabled=not disabled,
            review_only=review_only,
            feedback_enabled=feedback,
            confirmations_required=confirmations,
            promote_to=promote_to,
            environment=environment,
            only_esp_ids=esp_id or None,
            privacy_group=privacy_group,
            filename=file,
            base_url=base_url,
        )
    except ValidationError as exc:
        raise fail(f"error [validation_error]: {exc.errors()[0]['msg']}") from exc
    try:
        with transaction() as session:
            view = exchanges.add(session, body, actor=cli_actor())
    except ModerationError as exc:
        raise _fail(exc) from exc
    typer.echo(f"exchange {view.name} ({view.type.value}) fills bank {view.bank}")


@exchange_app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False) -> None:
    """List exchanges."""
    with transaction() as session:
        cursor: str | None = None
        while True:
            page = exchanges.list(session, cursor=cursor, limit=1000)
            for item in page.items:
                if as_json:
                    typer.echo(item.model_dump_json())
                else:
                    state = "enabled" if item.enabled else "disabled"
                    typer.echo(f"{item.name}\t{item.type.value}\t{item.bank}\t{state}")
            if page.next_cursor is None:
                break
            cursor = page.next_cursor


@exchange_app.command("status")
def status(
    name: Annotated[str, typer.Argument(help="The exchange's name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Last fetch, checkpoint, counts, last error and feedback of an exchange."""
    try:
        with transaction() as session:
            view = exchanges.status(session, name)
    except ModerationError as exc:
        raise _fail(exc) from exc
    if as_json:
        typer.echo(view.model_dump_json(indent=2))
        return
    c = view.counts
    state = "enabled" if view.enabled else "disabled"
    typer.echo(f"{view.name} ({view.type.value}) -> bank {view.bank} ({state})")
    typer.echo(
        f"last fetch: {view.last_fetch_at or 'never'}; fetching now: {'yes' if view.fetching else 'no'}"
    )
    typer.echo(f"checkpoint: {json.dumps(view.checkpoint)} (covers up to {view.progress_at or '-'})")
    typer.echo(
        f"records: {c.records}; seen {c.records_seen}, "
        f"entries added {c.entries_added}, removed {c.entries_removed}"
    )
    typer.echo(f"reviewed matches: {c.reviewed}; confirmations {c.confirmations}, overturns {c.overturns}")
    typer.echo(f"feedback: {json.dumps(view.feedback)}{' (on)' if view.feedback_enabled else ' (off)'}")
    typer.echo(f"last error: {view.last_error or '-'}")


@exchange_app.command("set")
def set_(
    name: Annotated[str, typer.Argument(help="The exchange's name.")],
    enabled: Annotated[bool | None, typer.Option("--enabled/--disabled", help="Fetch it or not.")] = None,
    feedback: Annotated[
        bool | None, typer.Option("--feedback/--no-feedback", help="Send feedback or not.")
    ] = None,
) -> None:
    """Switch an exchange's fetching or feedback on or off (audited)."""
    try:
        with transaction() as session:
            view = exchanges.update(
                session,
                name,
                schemas.ExchangeUpdate(enabled=enabled, feedback_enabled=feedback),
                actor=cli_actor(),
            )
    except ModerationError as exc:
        raise _fail(exc) from exc
    typer.echo(f"{view.name}: enabled={view.enabled} feedback={view.feedback_enabled}")


@exchange_app.command("fetch")
def fetch(
    name: Annotated[str, typer.Argument(help="The exchange's name.")],
    max_pages: Annotated[
        int | None, typer.Option(metavar="N", help="Stop after N pages (resume later).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress lines.")] = False,
) -> None:
    """Fetch an exchange now, from its checkpoint; prints progress per page. Exit 1 if the exchange failed."""
    settings = get_settings()
    engine = get_engine(settings)

    def progress(report: schemas.FetchReport) -> None:
        if not quiet:
            typer.echo(
                f"page {report.pages}: records {report.records} added {report.added} "
                f"updated {report.updated} removed {report.removed}",
                err=True,
            )

    try:
        report = fetcher.fetch(
            lambda: transaction(engine),
            name,
            settings=settings,
            worker=f"cli:{socket.gethostname()}:{os.getpid()}",
            actor=cli_actor(),
            max_pages=max_pages,
            progress=progress,
        )
    except ModerationError as exc:
        raise _fail(exc) from exc
    typer.echo(report.model_dump_json())
    if report.error:
        raise fail(f"error [exchange_unavailable]: {report.error}")


@exchange_app.command("overturn")
def overturn(
    name: Annotated[str, typer.Argument(help="The exchange's name.")],
    record_id: Annotated[int, typer.Argument(help="The record id (GET /v1/exchanges/NAME/records).", min=1)],
    reason: Annotated[str, typer.Option(metavar="TEXT", help="Why this is a false positive (audited).")],
) -> None:
    """Mark an exchange entry a false positive: disable it, count an overturn, send negative feedback
    where enabled."""
    try:
        with transaction() as session:
            record = exchange_feedback.overturn(session, name, record_id, reason=reason, actor=cli_actor())
    except ModerationError as exc:
        raise _fail(exc) from exc
    typer.echo(f"record {record.id} ({record.hash_type} {record.value}): entry {record.entry_id} disabled")
