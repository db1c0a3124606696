"""CLI commands of the dashboard: user accounts."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from moderation.auth.service import users
from moderation.db import transaction
from moderation.exceptions import ModerationError
from moderation.kit.cli import cli_actor, fail

user_app = typer.Typer(help="Dashboard users: create, list, disable.", no_args_is_help=True)


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="Sign-in name.")],
    role: Annotated[str, typer.Option(help="reviewer | admin | auditor")] = "reviewer",
) -> None:
    """Create a dashboard user; the password is read from standard input (argon2id hash stored)."""

    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("Password: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        with transaction() as session:
            users.create(session, username=username, role=role, password=password, actor=cli_actor())
    except ModerationError as exc:
        raise fail(f"error [{exc.code}]: {exc.message}") from exc
    typer.echo(f"created user '{username}' with role {role}")


@user_app.command("list")
def user_list() -> None:
    """List dashboard users with their role and state."""

    with transaction() as session:
        for user in users.list(session):
            state = "disabled" if user.disabled_at else "active"
            typer.echo(f"{user.username:30} {user.role:9} {state}")


@user_app.command("disable")
def user_disable(username: Annotated[str, typer.Argument(help="User to disable.")]) -> None:
    """Disable a user; their sessions end at once."""

    try:
        with transaction() as session:
            users.set_disabled(session, username=username, disabled=True, actor=cli_actor())
    except ModerationError as exc:
        raise fail(f"error [{exc.code}]: {exc.message}") from exc
    typer.echo(f"disabled '{username}'")


def register(app: typer.Typer) -> None:
    """Attach `moderation user ...` to the top-level CLI."""
    app.add_typer(user_app, name="user")
