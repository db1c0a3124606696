"""CLI commands of the `takedown` feature."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

import typer

from moderation.config import get_settings
from moderation.exceptions import ModerationError, PolicyError
from moderation.kit.time import utc_now
from moderation.policy.regimes import RegimeSet, load_regimes
from moderation.takedown.clocks import (
    NaiveDatetime,
    Pause,
    compute_clocks,
    due_at,
    iso_utc,
    require_aware,
    restore_window,
    version_in_force,
)
from moderation.takedown.notice_commands import notice_app

# FROM/TO[:reason]: times end in Z or an offset's digits, so a trailing ":identifier" is the reason.
_PAUSE_REASON = re.compile(r"^(?P<span>.*):(?P<reason>[a-z][a-z0-9_]*)$")


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _parse_instant(value: str | None, option: str) -> datetime | None:
    """ISO 8601 with an offset or Z; naive times are refused rather than guessed."""

    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _fail(f"{option}: '{value}' is not an ISO 8601 date-time", 2) from exc
    try:
        return require_aware(parsed, option)
    except NaiveDatetime as exc:
        raise _fail(f"{option}: '{value}' has no UTC offset; add Z or an offset such as +05:30", 2) from exc


def _parse_pause(value: str) -> Pause:
    """`FROM/TO[:reason]`; an empty TO is a pause that has not ended yet."""

    match = _PAUSE_REASON.match(value)
    span, reason = (match["span"], match["reason"]) if match else (value, None)
    if "/" not in span:
        raise _fail(f"--pause: '{value}' must be FROM/TO[:reason] (ISO 8601 times with Z or an offset)", 2)
    start_text, end_text = span.split("/", 1)
    start = _parse_instant(start_text, "--pause FROM")
    end = _parse_instant(end_text, "--pause TO") if end_text else None
    assert start is not None
    if end is not None and end < start:
        raise _fail(f"--pause: '{value}' ends before it starts", 2)
    return Pause(start, end, reason)


def clocks(
    regime_id: Annotated[str | None, typer.Argument(metavar="REGIME", help="Regime id (see --list).")] = None,
    received_at: Annotated[
        str | None, typer.Option("--received-at", help="First receipt, ISO 8601 with Z or an offset.")
    ] = None,
    completed_at: Annotated[
        str | None,
        typer.Option(
            "--completed-at",
            help="When the request became complete (last required field). Default: --received-at.",
        ),
    ] = None,
    served_at: Annotated[
        str | None,
        typer.Option("--served-at", help="Order's receipt at the contact point. Default: --received-at."),
    ] = None,
    acknowledged_at: Annotated[
        str | None,
        typer.Option(
            "--acknowledged-at",
            help="When receipt was confirmed to the reporter (starts 'acknowledged' clocks).",
        ),
    ] = None,
    pause: Annotated[
        list[str] | None,
        typer.Option(
            "--pause",
            metavar="FROM/TO[:reason]",
            help="A pause of the pausable clocks (repeatable); no reason pauses every pausable clock.",
        ),
    ] = None,
    counter_notice_at: Annotated[
        str | None,
        typer.Option("--counter-notice-at", help="Also print the restore window after a counter-notice."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    list_regimes: Annotated[
        bool, typer.Option("--list", help="List regime ids and their current version.")
    ] = False,
) -> None:
    """Print every clock of REGIME and its due time in UTC, so a policy can be checked by hand."""

    try:
        # Only the regimes: checking a clock should not depend on the other policy parts.
        regimes: RegimeSet = load_regimes(get_settings().policies_dir)
    except PolicyError as exc:
        raise _fail(f"policy error: {exc}") from exc

    if list_regimes:
        _print_list(regimes, as_json)
        return
    if regime_id is None:
        raise _fail("give a REGIME (or --list to see them)", 2)
    try:
        regime = regimes.get(regime_id)
    except ModerationError as exc:
        raise _fail(f"error [{exc.code}]: {exc.message}") from exc
    if received_at is None:
        raise _fail("--received-at is required", 2)
    received = _parse_instant(received_at, "--received-at")
    assert received is not None
    completed = _parse_instant(completed_at, "--completed-at") or received
    served = _parse_instant(served_at, "--served-at")
    acknowledged = _parse_instant(acknowledged_at, "--acknowledged-at")
    pauses = [_parse_pause(value) for value in pause or []]
    counter_notice = _parse_instant(counter_notice_at, "--counter-notice-at")

    try:
        version = version_in_force(regime, received)
        computed = compute_clocks(
            regime,
            received,
            completed_at=completed,
            served_at=served,
            pauses=pauses,
            acknowledged_at=acknowledged,
        )
        window = restore_window(version, counter_notice) if counter_notice is not None else None
    except ModerationError as exc:
        raise _fail(f"error [{exc.code}]: {exc.message}") from exc
    earliest = due_at(computed)

    def iso(value: datetime | None) -> str | None:
        return iso_utc(value) if value is not None else None

    if as_json:
        body: dict[str, Any] = {
            "regime": regime.id,
            "version": version.version,
            "received_at": iso(received),
            "clocks": [
                {
                    "id": c.id,
                    "kind": c.kind,
                    "step": c.step,
                    "trigger": c.trigger,
                    "starts_at": iso(c.starts_at),
                    "due_at": iso(c.due_at),
                    "reason": c.reason,
                    "pause_semantics": c.spec.pause_semantics,
                    "paused_seconds": c.paused_for.total_seconds(),
                }
                for c in computed
            ],
            "pauses": [{"from": iso(p.start), "to": iso(p.end), "reason": p.reason} for p in pauses],
            "due_at": iso(earliest),
        }
        if window is not None:
            body["restore_window"] = {"earliest": iso(window[0]), "latest": iso(window[1])}
        typer.echo(json.dumps(body))
        return

    zone = regime.zone
    typer.echo(f"regime    {regime.id}: {regime.title}")
    typer.echo(f"version   {version.version} (in force at receipt)")
    typer.echo(f"received  {iso(received)}")
    if completed_at is None and any(c.trigger == "completed" for c in computed):
        typer.echo("          (request taken as complete on receipt; pass --completed-at otherwise)")
    for p in pauses:
        typer.echo(f"paused    {iso(p.start)} to {iso(p.end) or '(open)'} ({p.reason or 'any reason'})")
    header = f"{'CLOCK':22} {'KIND':10} {'STEP':16} {'TRIGGER':12} {'LENGTH':22} {'DUE (UTC)':22}"
    typer.echo(f"{header} LOCAL ({zone.key})")
    for c in computed:
        local = c.due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if c.due_at else "-"
        typer.echo(
            f"{c.id:22} {c.kind:10} {c.step:16} {c.trigger:12} {c.spec.describe_length()[:22]:22} "
            f"{iso(c.due_at) or '-':22} {local}"
        )
        if c.paused_for:
            minutes = int(c.paused_for.total_seconds() // 60)
            paused = f"paused {minutes // 60} h {minutes % 60:02d} min"
            typer.echo(f"{'':22} {paused}; on resume: {c.spec.pause_semantics}")
        if c.due_at is None and c.reason and c.spec.length is not None:
            typer.echo(f"{'':22} {c.reason}")
    typer.echo(f"due_at    {iso(earliest) or 'none (no clock with a fixed length)'}")
    if window is not None:
        typer.echo(f"restore   between {iso(window[0])} and {iso(window[1])}")


def _print_list(regimes: Any, as_json: bool) -> None:

    now = utc_now()
    rows = []
    for regime in regimes:
        current = regime.version_at(now)
        upcoming = [v for v in regime.versions if v.starts_at(regime.zone) > now]
        rows.append(
            {
                "id": regime.id,
                "title": regime.title,
                "version": current.version if current else None,
                "next_version": upcoming[0].version if upcoming else None,
                "next_from": iso_utc(upcoming[0].starts_at(regime.zone)) if upcoming else None,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for row in rows:
        version = row["version"] or "not in force"
        upcoming_note = (
            f" (next: {row['next_version']} from {row['next_from']})" if row["next_version"] else ""
        )
        typer.echo(f"{row['id']:28} {version:14} {row['title']}{upcoming_note}")


def register(app: typer.Typer) -> None:
    """Attach this feature's commands to the top-level `moderation` CLI."""
    app.command("clocks")(clocks)

    app.add_typer(notice_app, name="notice")
