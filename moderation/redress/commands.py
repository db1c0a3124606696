"""`moderation appeal ...` and `moderation counter-notice ...`: the appeal queue, one appeal with its
timeline, an operator's decision on an appeal, the counter-notices and a claimant's court action."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer

from moderation.config import get_settings
from moderation.db import transaction
from moderation.exceptions import ModerationError
from moderation.kit.cli import cli_actor, fail
from moderation.kit.time import utc_now
from moderation.models.appeal import Appeal
from moderation.models.counter_notice import CounterNotice
from moderation.redress.counter_notices import counter_notices
from moderation.redress.schemas import AppealOut, CounterNoticeOut, Outcome
from moderation.redress.service import appeals
from moderation.takedown.clocks import iso_utc

appeal_app = typer.Typer(
    help="Appeals (complaints): the queue, one appeal, and a decision by a person.", no_args_is_help=True
)
counter_notice_app = typer.Typer(
    help="DMCA counter-notices: list them and record a claimant's court action.", no_args_is_help=True
)

AsJSON = Annotated[bool, typer.Option("--json", help="Print JSON (one object per line for lists).")]
Limit = Annotated[int, typer.Option("--limit", help="Rows to print.", min=1, max=500)]


def _iso(value: datetime | None) -> str:
    return iso_utc(value.replace(microsecond=0)) if value is not None else "-"


def _dump(value: Any) -> str:
    return json.dumps(value, default=lambda v: _iso(v) if isinstance(v, datetime) else str(v))


def _appeal(row: Appeal) -> dict[str, Any]:
    values = {k: getattr(row, k) for k in AppealOut.model_fields if k not in ("overdue", "created")}
    values["overdue"] = row.state == "open" and row.due_at <= utc_now()
    return AppealOut.model_validate(values).model_dump(exclude={"created"})


def _counter_notice(row: CounterNotice) -> dict[str, Any]:
    values = {k: getattr(row, k) for k in CounterNoticeOut.model_fields if k != "created"}
    return CounterNoticeOut.model_validate(values).model_dump(exclude={"created"})


@appeal_app.command("list")
def list_appeals(
    state: Annotated[
        str | None, typer.Option("--state", help="open | upheld | overturned (default: every state).")
    ] = None,
    limit: Limit = 50,
    as_json: AsJSON = False,
) -> None:
    """Print appeals by due time, earliest first (the dashboard's queue)."""
    if state is not None and state not in ("open", "upheld", "overturned"):
        raise fail("error [invalid_state]: --state must be open, upheld or overturned", 2)
    try:
        with transaction() as session:
            rows, _ = appeals.page(session, state=state, limit=limit)
            items = [_appeal(r) for r in rows]
    except ModerationError as exc:
        raise fail(f"error [{exc.code}]: {exc.message}") from exc
    if not as_json:
        typer.echo(f"{'ID':>6} {'STATE':10} {'KIND':17} {'DUE (UTC)':21} {'SUBJECT':14} APPELLANT")
    for item in items:
        if as_json:
            typer.echo(_dump(item))
            continue
        subject = f"check {item['check_id']}" if item["check_id"] else f"notice {item['notice_id']}"
        due = _iso(item["due_at"]) + (" !" if item["overdue"] else "")
        typer.echo(
            f"{item['id']:>6} {item['state']:10} {item['kind']:17} {due:21} {subject:14} "
            f"{item['appellant_role']}"
        )


AppealID = Annotated[int, typer.Argument(help="The appeal id.", min=1, max=2**31 - 1)]


@appeal_app.command("show")
def show_appeal(appeal_id: AppealID) -> None:
    """Print one appeal as JSON with its timeline (the window and clock it was given are in
    `appeal.filed`)."""
    try:
        with transaction() as session:
            item = _appeal(appeals.get(session, appeal_id))
            item["timeline"] = appeals.timeline(session, appeal_id)
    except ModerationError as exc:
        raise fail(f"error [{exc.code}]: {exc.message}") from exc
    typer.echo(json.dumps(item, default=lambda v: _iso(v) if isinstance(v, datetime) else str(v), indent=2))


@appeal_app.command("decide")
def decide_appeal(
    appeal_id: AppealID,
    outcome: Annotated[Outcome, typer.Argument(help="uphold | overturn.")],
    reason: Annotated[str, typer.Option("--reason", help="The reasons given to the appellant.")],
    as_json: AsJSON = False,
) -> None:
    """Uphold or overturn an appeal with reasons. The decision is recorded as `cli:<user>`, who must not
    be the original decision-maker; an overturn reverses the decision end to end, like the dashboard."""
    who = cli_actor()
    try:
        with transaction() as session:
            row = appeals.decide(
                session, appeal_id, outcome, reason=reason, actor=who, settings=get_settings()
            )
            item = _appeal(row)
    except ModerationError as exc:
        raise fail(f"error [{exc.code}]: {exc.message}") from exc
    if as_json:
        typer.echo(_dump(item))
    else:
        typer.echo(f"appeal {appeal_id}: {item['state']} by {item['decided_by']}")


@counter_notice_app.command("list")
def list_counter_notices(
    state: Annotated[
        str | None, typer.Option("--state", help="waiting | restored | court_action (default: all).")
    ] = None,
    limit: Limit = 50,
    as_json: AsJSON = False,
) -> None:
    """Print counter-notices, oldest first, with their restore window."""
    if state is not None and state not in ("waiting", "restored", "court_action"):
        raise fail("error [invalid_state]: --state must be waiting, restored or court_action", 2)
    try:
        with transaction() as session:
            rows, _ = counter_notices.page(session, state=state, limit=limit)
            items = [_counter_notice(r) for r in rows]
    except ModerationError as exc:
        raise fail(f"error [{exc.code}]: {exc.message}") from exc
    if not as_json:
        typer.echo(f"{'ID':>6} {'NOTICE':>7} {'STATE':12} {'RESTORE FROM (UTC)':21} {'RESTORE BY (UTC)':21}")
    for item in items:
        if as_json:
            typer.echo(_dump(item))
            continue
        typer.echo(
            f"{item['id']:>6} {item['notice_id']:>7} {item['state']:12} {_iso(item['restore_from']):21} "
            f"{_iso(item['restore_by']):21}"
        )


@counter_notice_app.command("court-action")
def court_action(
    counter_id: Annotated[int, typer.Argument(help="The counter-notice id.", min=1, max=2**31 - 1)],
    note: Annotated[str, typer.Option("--note", help="Court, case number, date filed.")],
    as_json: AsJSON = False,
) -> None:
    """Record that the claimant reported a court action: the content is not restored."""
    if not note.strip():
        raise fail("error [validation_error]: --note must not be empty", 2)
    try:
        with transaction() as session:
            row = counter_notices.court_action(
                session, counter_id, note=note, actor=cli_actor(), settings=get_settings()
            )
            item = _counter_notice(row)
    except ModerationError as exc:
        raise fail(f"error [{exc.code}]: {exc.message}") from exc
    if as_json:
        typer.echo(_dump(item))
    else:
        typer.echo(f"counter-notice {counter_id}: {item['state']}")


def register(app: typer.Typer) -> None:
    app.add_typer(appeal_app, name="appeal")
    app.add_typer(counter_notice_app, name="counter-notice")
