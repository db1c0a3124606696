"""The `moderation` command line. Each feature adds its commands in its own `commands.py`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from moderation.admin import commands as admin_commands
from moderation.audit.checkpoints import Checkpoint, InvalidCheckpoint
from moderation.audit.service import audit
from moderation.auth.service import api_keys
from moderation.banks import commands as banks_commands
from moderation.checks import commands as checks_commands
from moderation.classifier import commands as classifier_commands
from moderation.config import get_settings
from moderation.db import make_engine, transaction
from moderation.exceptions import ConfigurationError, ModerationError, PolicyError, SchemaOutOfDate
from moderation.exchanges import commands as exchanges_commands
from moderation.hashing import commands as hashing_commands
from moderation.kit import migrations
from moderation.kit.backup import backup, restore_sqlite
from moderation.kit.cli import cli_actor, fail
from moderation.kit.migrations import prepare_database
from moderation.kit.time import utc_now
from moderation.observability.logs import configure_logging
from moderation.redress import commands as redress_commands
from moderation.redress import notice_commands as redress_notice_commands
from moderation.serving import serve_balanced
from moderation.statements import commands as statements_commands
from moderation.takedown import commands as takedown_commands
from moderation.worker import commands as worker_commands

app = typer.Typer(
    help="moderation: pre-publish checks, hash banks, takedown clocks and a tamper-evident audit log.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database: migrate, inspect, back up and restore.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys: create, list and revoke.", no_args_is_help=True)
audit_app = typer.Typer(help="Audit log: verify the chain, export checkpoints.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(apikey_app, name="apikey")
app.add_typer(audit_app, name="audit")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(help="Worker processes; 0 (the default) starts one per CPU core.", min=0)
    ] = 0,
    balance: Annotated[
        bool,
        typer.Option(
            help="With several workers, hand each connection to the next worker in turn (a listener in "
            "the supervisor) instead of uvicorn's shared socket, where a few keep-alive clients can all "
            "land on one worker."
        ),
    ] = True,
    with_worker: Annotated[
        bool, typer.Option("--with-worker", help="Also run the job scheduler in this process.")
    ] = False,
) -> None:
    """Run the HTTP service (migrates the embedded SQLite database on first start)."""
    import os
    import shutil

    import uvicorn

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        prepare_database(settings)
    except (SchemaOutOfDate, ConfigurationError, PolicyError) as exc:
        raise fail(str(exc)) from exc
    workers = workers or os.cpu_count() or 1
    if with_worker:
        os.environ["MODERATION_RUN_WORKER_IN_PROCESS"] = "1"
        get_settings.cache_clear()  # the app factory reads settings again, now with the worker on
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several uvicorn processes: they share their metrics through files (prometheus-client's
        # multi-process mode), in a folder emptied at each start.
        shared = (settings.data_dir / "metrics").resolve()
        shutil.rmtree(shared, ignore_errors=True)
        shared.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
    if workers > 1 and balance:
        if serve_balanced(host=host, port=port, workers=workers, log_level=settings.log_level.lower()):
            raise typer.Exit(1)
        return
    uvicorn.run(
        "moderation.app:create_served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        log_config=None,
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "heads") -> None:
    """Apply database migrations up to the latest (or REVISION)."""

    url = get_settings().resolved_database_url
    migrations.upgrade(url, revision)
    typer.echo(f"database at {migrations.current_revisions_for(url) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database and whether it is current."""

    engine = make_engine(get_settings().resolved_database_url)
    current = migrations.current_revisions(engine)
    ok = current == migrations.head_revisions()
    typer.echo(
        f"current: {', '.join(sorted(current)) or 'none'}; "
        f"expected: {', '.join(sorted(migrations.head_revisions()))}"
    )
    if not ok:
        raise fail("schema is out of date: run `moderation db upgrade`")


@db_app.command("backup")
def db_backup(
    path: Annotated[Path, typer.Argument(help="File to write (replaced if it exists).")],
) -> None:
    """Back up the database while the service runs (SQLite: backup API; PostgreSQL: pg_dump -Fc)."""
    try:
        result = backup(get_settings().resolved_database_url, path)
    except ModerationError as exc:
        raise fail(f"error [{exc.code}]: {exc.message}") from exc
    typer.echo(f"backed up to {result.path} ({result.size} bytes, {result.method})")


@db_app.command("restore")
def db_restore(
    path: Annotated[Path, typer.Argument(help="A file written by `moderation db backup` (SQLite).")],
    force: Annotated[bool, typer.Option("--force", help="Replace a database that has data.")] = False,
) -> None:
    """Restore a SQLite backup into MODERATION_DATA_DIR (service stopped). PostgreSQL: use pg_restore."""
    settings = get_settings()
    if not settings.is_sqlite:
        raise fail("PostgreSQL: restore with pg_restore (see docs/operations.md, Backup and restore)")
    try:
        result = restore_sqlite(path, settings.resolved_database_url, force=force)
    except ModerationError as exc:
        raise fail(f"error [{exc.code}]: {exc.message}") from exc
    typer.echo(f"restored {path} into {result.path}; run `moderation audit verify` next")


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Argument(help="A unique name for the key (the audit actor).")],
    role: Annotated[str, typer.Option(help="checker | intake | admin")] = "checker",
) -> None:
    """Create an API key and print it once (only its hash is stored)."""

    try:
        with transaction() as session:
            key, plain = api_keys.create(session, name=name, role=role, actor=cli_actor())
    except ModerationError as exc:
        raise fail(f"error [{exc.code}]: {exc.message}") from exc
    typer.echo(plain)
    typer.secho(f"created key '{key.name}' with role {key.role}; it will not be shown again", err=True)


@apikey_app.command("revoke")
def apikey_revoke(name: Annotated[str, typer.Argument(help="Name of the key to revoke.")]) -> None:
    """Revoke an API key; it stops working at once."""

    try:
        with transaction() as session:
            api_keys.revoke(session, name=name, actor=cli_actor())
    except ModerationError as exc:
        raise fail(f"error [{exc.code}]: {exc.message}") from exc
    typer.echo(f"revoked '{name}'")


@apikey_app.command("list")
def apikey_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List API keys (names, roles, prefixes, state; never the keys)."""

    with transaction() as session:
        for key in api_keys.list(session):
            row = {
                "name": key.name,
                "role": key.role,
                "prefix": key.prefix,
                "created_at": key.created_at.isoformat(),
                "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
            }
            typer.echo(
                json.dumps(row)
                if as_json
                else f"{key.name:30} {key.role:8} mod_{key.prefix}_…  {'REVOKED' if key.revoked_at else 'ok'}"
            )


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="A checkpoint file exported earlier: the log must still hold its event unchanged."),
    ] = None,
) -> None:
    """Walk the audit chain and its MACs; exit 0 when intact, 1 naming the first broken event."""
    expected = None
    if checkpoint is not None:
        try:
            expected = Checkpoint.parse(checkpoint.read_text(), get_settings().audit_mac_key)
        except (OSError, InvalidCheckpoint) as exc:
            raise fail(f"cannot use checkpoint {checkpoint}: {exc}", code=2) from None
    with transaction() as session:
        result = audit.verify(session, checkpoint=expected)
    if result.ok:
        against = f", checkpoint event {expected.id} present and unchanged" if expected else ""
        typer.echo(f"audit log intact: {result.events} events, head {result.head_hash or '-'}{against}")
        return
    raise fail(
        f"audit log BROKEN at event {result.first_broken_id}: {result.reason} "
        f"({result.events} events verified before it)"
    )


@audit_app.command("checkpoint")
def audit_checkpoint(
    out: Annotated[
        Path | None, typer.Option(help="Write the checkpoint to this file (default: print it).")
    ] = None,
) -> None:
    """Export a signed checkpoint of the chain head now (the worker's `audit.export_checkpoint` does
    it on a schedule); keep it where the database's users cannot write."""
    with transaction() as session:
        head = audit.head(session)
        if head is None:
            raise fail("the audit log is empty: nothing to checkpoint")
        signed = Checkpoint.sign(
            get_settings().audit_mac_key, id=head.id, hash=head.hash, mac=head.mac, exported_at=utc_now()
        )
    if out is None:
        typer.echo(signed.to_json())
        return
    out.write_text(signed.to_json() + "\n")
    typer.echo(f"checkpoint of event {signed.id} written to {out}")


def _register_features() -> None:

    for module in (
        hashing_commands,
        banks_commands,
        exchanges_commands,
        checks_commands,
        classifier_commands,
        takedown_commands,
        redress_notice_commands,
        redress_commands,
        statements_commands,
        worker_commands,
        admin_commands,
    ):
        module.register(app)


_register_features()


def readable_help(command: Any) -> Any:
    """The command tree with help that reads like a Unix tool's: Typer 0.29 prints a type tag for each
    option (`<bool>`, `<str>`) and `{files}...` for a required argument. Flags get no value name,
    options and arguments an upper-case one (`--state STATE`, `FILES...`)."""
    for param in getattr(command, "params", []):
        if getattr(param, "is_flag", False):
            param.metavar = ""
        elif param.metavar is None and param.name:
            name = param.name.upper()
            param.metavar = name
            if getattr(param, "param_type_name", "") == "argument":
                shown = f"{name}..." if param.nargs != 1 else name
                shown = shown if param.required else f"[{shown}]"
                param._usage_display_name = lambda shown=shown: shown
                param._rich_display_name = lambda shown=shown: shown
                param.display_type_rich = lambda ctx: None
    original_help_option = command.get_help_option

    def help_option(ctx: Any) -> Any:
        option = original_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = help_option
    for sub in getattr(command, "commands", {}).values():
        readable_help(sub)
    return command


def main() -> None:
    try:
        readable_help(typer.main.get_command(app))()
    except KeyboardInterrupt:
        sys.exit(130)
