"""`moderation notice ...`: enter a notice that arrived by post or email, list the queue, and every action
the dashboard offers on a notice (state changes, assignment, pauses, near-duplicate copies)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from moderation.config import get_settings
from moderation.db import transaction
from moderation.exceptions import ModerationError
from moderation.kit.cli import cli_actor
from moderation.takedown.clocks import iso_utc
from moderation.takedown.schemas import NoticeCreate
from moderation.takedown.service import takedown
from moderation.takedown.states import APPEAL_ONLY, STATES, TRANSITIONS

notice_app = typer.Typer(
    help="Takedown notices: enter one received by post or email, list the queue, act on a notice.",
    no_args_is_help=True,
)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _iso(value: datetime | None) -> str:
    """UTC to the second: what a terminal table and a person need (the API keeps microseconds)."""
    return iso_utc(value.replace(microsecond=0)) if value is not None else "-"


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
            settings = get_settings()
            notice, created = takedown.submit(session, body, actor=cli_actor(), settings=settings)
            row = takedown.detail(session, notice.id, settings).model_dump(exclude={"created"})
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
    if state is not None and state not in STATES:
        raise _fail(f"error [invalid_state]: --state must be one of {', '.join(STATES)}", 2)
    try:
        with transaction() as session:
            page = takedown.queue(session, regime=regime, state=state, overdue=overdue, limit=limit)
    except ModerationError as exc:
        raise _fail(f"error [{exc.code}]: {exc.message}") from exc
    if not as_json:
        typer.echo(f"{'ID':>8} {'STATE':11} {'DUE (UTC)':21} {'REMAINING':>10} {'ASSIGNEE':16} REGIMES")
    for entry in page.items:
        item = entry.model_dump()
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


def changed(notice_id: int, change: Callable[[Session], Any], as_json: bool) -> None:
    """Run one change to a notice in its own transaction; print its new state (or the error, exit 1)."""
    try:
        with transaction() as session:
            change(session)
            notice = takedown.get(session, notice_id)
            state, assignee = notice.state, notice.assignee
    except ModerationError as exc:
        raise _fail(f"error [{exc.code}]: {exc.message}") from exc
    if as_json:
        typer.echo(json.dumps({"id": notice_id, "state": state, "assignee": assignee}))
    else:
        typer.echo(f"notice {notice_id}: {state}" + (f", assigned to {assignee}" if assignee else ""))


NoticeID = Annotated[int, typer.Argument(help="The notice id.", min=1)]
Reason = Annotated[str | None, typer.Option("--reason", help="Why (recorded in the audit log).")]
AsJSON = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _transition_command(name: str) -> None:
    transition = TRANSITIONS[name]
    sources = ", ".join(sorted(transition.sources))
    needs = " A --reason is required." if transition.needs_reason else ""

    def command(notice_id: NoticeID, reason: Reason = None, as_json: AsJSON = False) -> None:
        if transition.needs_reason and not (reason and reason.strip()):
            raise _fail(f"error [reason_required]: {name} needs --reason", 2)
        changed(
            notice_id,
            lambda session: takedown.transition(
                session, notice_id, name, actor=cli_actor(), reason=reason, settings=get_settings()
            ),
            as_json,
        )

    effect = " Removes the content: stay-down, copy sweep, evidence holds." if name == "action" else ""
    command.__doc__ = f"Move a notice from {sources} to {transition.target} (API: {name}).{effect}{needs}"
    notice_app.command(name.replace("_", "-"))(command)


for _name in TRANSITIONS:
    if _name not in APPEAL_ONLY:
        _transition_command(_name)


@notice_app.command("show")
def show(notice_id: NoticeID) -> None:
    """Print one notice as JSON: state, clocks, content, webhooks and timeline (never evidence bytes)."""
    try:
        with transaction() as session:
            row = takedown.detail(session, notice_id, get_settings()).model_dump(exclude={"created"})
    except ModerationError as exc:
        raise _fail(f"error [{exc.code}]: {exc.message}") from exc
    typer.echo(json.dumps(row, default=lambda v: _iso(v) if isinstance(v, datetime) else str(v), indent=2))


@notice_app.command("assign")
def assign(
    notice_id: NoticeID,
    assignee: Annotated[str | None, typer.Argument(help="Who takes it; omit to unassign.")] = None,
    as_json: AsJSON = False,
) -> None:
    """Assign a notice to a reviewer (no name: unassign)."""
    changed(
        notice_id, lambda session: takedown.assign(session, notice_id, assignee, actor=cli_actor()), as_json
    )


@notice_app.command("pause")
def pause(
    notice_id: NoticeID,
    reason: Annotated[str, typer.Option("--reason", help="A pause reason the regime allows.")],
    note: Annotated[str | None, typer.Option("--note", help="Free text for the audit log.")] = None,
    as_json: AsJSON = False,
) -> None:
    """Pause the notice's clocks that may pause for REASON."""
    changed(
        notice_id,
        lambda session: takedown.pause(
            session, notice_id, reason=reason, note=note, actor=cli_actor(), settings=get_settings()
        ),
        as_json,
    )


@notice_app.command("resume")
def resume(notice_id: NoticeID, as_json: AsJSON = False) -> None:
    """End every open pause of the notice."""
    changed(
        notice_id,
        lambda session: takedown.resume(session, notice_id, actor=cli_actor(), settings=get_settings()),
        as_json,
    )


@notice_app.command("remove-copy")
def remove_copy(
    notice_id: NoticeID,
    copy_id: Annotated[int, typer.Argument(help="The copy's content row id (see `notice show`).", min=1)],
    reason: Reason = None,
    as_json: AsJSON = False,
) -> None:
    """Remove a near-duplicate copy the sweep left in review."""
    changed(
        notice_id,
        lambda session: takedown.remove_copy(
            session, notice_id, copy_id, actor=cli_actor(), reason=reason, settings=get_settings()
        ),
        as_json,
    )


@notice_app.command("dismiss-copy")
def dismiss_copy(
    notice_id: NoticeID,
    copy_id: Annotated[int, typer.Argument(help="The copy's content row id (see `notice show`).", min=1)],
    reason: Annotated[str, typer.Option("--reason", help="Why it stays up (required).")],
    as_json: AsJSON = False,
) -> None:
    """Keep a near-duplicate copy up (not substantially the same content)."""
    changed(
        notice_id,
        lambda session: takedown.dismiss_copy(
            session, notice_id, copy_id, actor=cli_actor(), reason=reason, settings=get_settings()
        ),
        as_json,
    )
