"""CLI commands of the `hashing` feature: `moderation hash FILE...`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from moderation.config import get_settings
from moderation.exceptions import ModerationError
from moderation.hashing.hashers import hash_image_bytes
from moderation.hashing.intake import ImageLimits, read_image_file


def register(app: typer.Typer) -> None:
    """Attach this feature's commands to the top-level `moderation` CLI."""
    app.command("hash")(hash_files)


def hash_files(
    files: Annotated[list[Path], typer.Argument(help="Image files to hash.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Print SHA-256, MD5, PDQ (+ quality), pHash and dHash of each file; exit 1 if any file failed."""

    limits = ImageLimits.from_settings(get_settings())
    failures = 0
    for path in files:
        row: dict[str, Any] = {"path": str(path)}
        try:
            row.update(hash_image_bytes(read_image_file(path, limits), limits).as_dict())
        except ModerationError as exc:
            failures += 1
            row.update(error=exc.code, message=exc.message)
        except OSError as exc:
            failures += 1
            row.update(error="unreadable_file", message=exc.strerror or str(exc))
        if as_json:
            typer.echo(json.dumps(row))
        elif "error" in row:
            typer.secho(f"{path}: error [{row['error']}] {row['message']}", err=True, fg=typer.colors.RED)
        else:
            typer.echo(
                f"{path}\tsha256={row['sha256']}\tmd5={row['md5']}\tpdq={row['pdq']}"
                f"\tpdq_quality={row['pdq_quality']}\tphash={row['phash']}\tdhash={row['dhash']}"
            )
    if failures:
        raise typer.Exit(1)
