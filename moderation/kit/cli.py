"""Helpers every feature's CLI commands share: the audit actor of an operator and a failing exit."""

from __future__ import annotations

import getpass

import typer


def cli_actor() -> str:
    """Audit actor for commands run by an operator."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = "unknown"
    return f"cli:{user}"


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` in red on standard error; raise the returned Exit to end with `code`."""
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(code)
