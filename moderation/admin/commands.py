"""CLI commands of the `admin` feature."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach this feature's commands to the top-level `moderation` CLI."""
