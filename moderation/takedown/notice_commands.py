"""`moderation notice create|list`: notices that arrived by post or email, and the queue, from the shell."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer

from moderation.db import transaction
from moderation.exceptions import ModerationError
from moderation.kit.cli import cli_actor
from moderation.takedown.clocks import iso_utc
from moderation.takedown.schemas import NoticeCreate
from moderation.takedown.service import takedown

notice_app = typer.Typer(
    help="Takedown notices: enter one received by post or email, list the queue.", no_args_is_help=True
)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _iso(value: datetime | None) -> str:

    return iso_utc(value) if value is not None else "-"


@notice_app.command("create")
def create(
    regime: Annotated[list[str], typer.Option("--regime", help="Regime id; repeat for several.")],
    received_at: Annotated[
        str, typer.Option("--received-at", help="First receipt, ISO 8601 with Z or offset.")
    ],
    content_id: Annotated[list[str], typer.Option("--content-id", help="Platform content id; repeatable.")],
    reporter_email: Annotated[str, typer.Option("--reporter-email", help="Reporter's email address.")],
    reporter_name: Annotated[str | None, typer.Option("--reporter-name", help="Reporter's name.")] = None,
    channel: Annotated[str, typer.Option("--channel", help="email | post | form | api")] = "email",
    field: Annotated[
        list[str] | None, typer.Option("--field", help="NAME=VALUE statement for every regime; repeatable.")
    ] = None,
    client_reference: Annotated[
        str | None, typer.Option("--client-reference", help="Idempotency key (e.g. the letter's reference).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Enter a notice received by post or email; prints its id and due time (the entry is audited)."""
    from pydantic import ValidationError

    fields: dict[str, Any] = {}
    for item in field or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise _fail(f"--field: '{item}' must be NAME=VALUE", 2)
        fields[name.strip()] = value
    try:
        body = NoticeCreate.model_validate(
            {
                "regimes": regime,
                "received_at": received_at,
                "channel": channel,
                "client_reference": client_reference,
                "reporter": {"email": reporter_email, "name": reporter_name},
                "content": {"content_ids": content_id},
                "fields": fields,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise _fail(f"error [validation_error]: {where}: {first['msg']}", 2) from exc
    try:
        with transaction() as session:
            notice, created = takedown.submit(session, body, actor=cli_actor())
            row = takedown.detail(session, notice.id)
    except ModerationError as exc:
        raise _fail(f"error [{exc.code}]: {exc.message}") from exc
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "id": row["id"],
                    "state": row["state"],
                    "due_at": row["due_at"] and _iso(row["due_at"]),
                    "missing_fields": row["missing_fields"],
                    "created": created,
                }
            )
        )
        return
    typer.echo(
        f"notice {row['id']} {'created' if created else 'already exists'}: state {row['state']}, "
        f"due {_iso(row['due_at'])}"
    )
    for regime_id, missing in row["missing_fields"].items():
        typer.echo(f"  {regime_id}: missing {', '.join(missing)}")


@notice_app.command("list")
def list_(
    overdue: Annotated[bool, typer.Option("--overdue", help="Only notices past their due time.")] = False,
    regime: Annotated[str | None, typer.Option("--regime", help="Only notices under this regime.")] = None,
    state: Annotated[
        str | None, typer.Option("--state", help="One state (default: every open state).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows to print.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Print the queue by due time with the time remaining (negative: overdue)."""

    try:
        with transaction() as session:
            page = takedown.queue(session, regime=regime, state=state, overdue=overdue, limit=limit)
    except ModerationError as exc:
        raise _fail(f"error [{exc.code}]: {exc.message}") from exc
    if not as_json:
        typer.echo(f"{'ID':>8} {'STATE':11} {'DUE (UTC)':21} {'REMAINING':>10} {'ASSIGNEE':16} REGIMES")
    for item in page.items:
        remaining = item["time_remaining_seconds"]
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        **item,
                        "received_at": _iso(item["received_at"]),
                        "due_at": item["due_at"] and _iso(item["due_at"]),
                    }
                )
            )
            continue
        left = "-" if remaining is None else f"{remaining / 3600:+.1f}h"
        typer.echo(
            f"{item['id']:>8} {item['state']:11} {_iso(item['due_at']):21} {left:>10} "
            f"{(item['assignee'] or '-'):16} {','.join(item['regimes'])}"
        )
