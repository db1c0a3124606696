"""CLI commands of the banks feature: `moderation bank create|list|add|import|export`."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from moderation.banks.formats import FileFormat
from moderation.banks.service import banks
from moderation.config import get_settings
from moderation.db import get_engine, transaction
from moderation.exceptions import ModerationError
from moderation.hashing.intake import ImageLimits, read_image_file
from moderation.hashing.video import (
    VideoHashOptions,
    VideoLimits,
    hash_video,
    parse_frame_lines,
    sniff_video_file,
    to_jsonl,
    to_vpdq_text,
)
from moderation.kit.cli import cli_actor, fail

bank_app = typer.Typer(
    help="Hash banks: create, list, add images, import and export hashes.", no_args_is_help=True
)

FORMAT_HELP = (
    "csv | jsonl | pdq-hex | te | te-csv (default: from the file name; .csv, .jsonl, anything else pdq-hex)"
)


def register(app: typer.Typer) -> None:
    """Attach this feature's commands to the top-level `moderation` CLI."""
    app.add_typer(bank_app, name="bank")


def _fail(exc: Exception) -> typer.Exit:

    if isinstance(exc, ModerationError):
        return fail(f"error [{exc.code}]: {exc.message}")
    return fail(f"error: {exc}")


def _thresholds(values: list[str]) -> dict[str, int]:
    parsed: dict[str, int] = {}
    for item in values:
        name, sep, number = item.partition("=")
        if not sep or not number.strip().isdigit():
            raise typer.BadParameter(f"expected TYPE=N (e.g. pdq=31), got {item!r}", param_hint="--threshold")
        parsed[name.strip().lower()] = int(number)
    return parsed


@bank_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Bank name (letters, digits, . _ -).")],
    action: Annotated[str, typer.Option(help="block | review | allow")] = "block",
    threshold: Annotated[
        list[str] | None,
        typer.Option("--threshold", help="TYPE=N, repeatable (default pdq=31, phash=10, dhash=10)"),
    ] = None,
    rotations: Annotated[
        bool, typer.Option("--rotations/--no-rotations", help="Match rotated/flipped copies.")
    ] = False,
    description: Annotated[str | None, typer.Option(help="Free text shown to operators.")] = None,
    video_query_pct: Annotated[
        float, typer.Option(help="vPDQ Q: % of a query video's frames that must match an entry.")
    ] = 80.0,
    video_compared_pct: Annotated[
        float, typer.Option(help="vPDQ C: % of an entry video's frames that must be matched.")
    ] = 0.0,
) -> None:
    """Create a bank."""

    try:
        with transaction() as session:
            bank = banks.create(
                session,
                name=name,
                action=action,
                thresholds=_thresholds(threshold or []),
                match_rotations=rotations,
                description=description,
                video_query_match_pct=video_query_pct,
                video_compared_match_pct=video_compared_pct,
                actor=cli_actor(),
            )
            summary = f"created bank '{bank.name}' ({bank.action}, thresholds {bank.thresholds}"
    except ModerationError as exc:
        raise _fail(exc) from exc
    typer.echo(summary + (", rotations)" if rotations else ")"))


@bank_app.command("list")
def list_banks(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List banks with their settings and entry counts."""

    with transaction() as session:
        for bank in banks.all(session):
            row = {
                "name": bank.name,
                "action": bank.action,
                "enabled": bank.enabled,
                "thresholds": bank.thresholds,
                "match_rotations": bank.match_rotations,
                "entries": banks.count_entries(session, bank),
            }
            if as_json:
                typer.echo(json.dumps(row))
            else:
                state = "enabled" if bank.enabled else "DISABLED"
                rot = " rotations" if bank.match_rotations else ""
                thresholds = ",".join(f"{k}={v}" for k, v in sorted(bank.thresholds.items()))
                entries = f"{row['entries']:>10} entries"
                typer.echo(f"{bank.name:30} {bank.action:7} {state:8} {entries}  {thresholds}{rot}")


@bank_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Bank name.")],
    files: Annotated[
        list[Path], typer.Argument(help="Image or video files (hashed; the files are not kept).")
    ],
    note: Annotated[str | None, typer.Option(help="Note stored with each entry.")] = None,
    source: Annotated[str, typer.Option(help="upload | takedown | review | import:<name>")] = "upload",
) -> None:
    """Add images (PDQ, companion hashes and robust variants) or videos (SHA-256, MD5 and vPDQ frame
    hashes) to a bank, told apart by content; one line per file."""

    settings = get_settings()
    limits = ImageLimits.from_settings(settings)
    failures = 0
    for path in files:
        try:
            if path.is_file() and sniff_video_file(path):
                # Decoding is slow: hash first, then open the short write transaction.
                video = hash_video(
                    path, VideoLimits.from_settings(settings), VideoHashOptions.from_settings(settings)
                )
                with transaction() as session:
                    entries = banks.add_video(
                        session, name, video, note=note, source=source, actor=cli_actor()
                    )
                    typer.echo(
                        f"{path}: entry {entries[0].id} video sha256 {video.sha256} "
                        f"({len(video.frames)} frames, {len(video.usable_frames)} usable)"
                    )
                continue
            data = read_image_file(path, limits)
            with transaction() as session:
                entries = banks.add_image(
                    session, name, data, note=note, source=source, actor=cli_actor(), limits=limits
                )
                top = entries[0]
                typer.echo(f"{path}: entry {top.id} pdq {top.value} (+{len(entries) - 1} rows)")
        except ModerationError as exc:
            failures += 1
            typer.secho(f"{path}: error [{exc.code}]: {exc.message}", err=True, fg=typer.colors.RED)
            if exc.code == "bank_not_found":
                break
        except OSError as exc:
            failures += 1
            typer.secho(
                f"{path}: error [unreadable_file]: {exc.strerror or exc}", err=True, fg=typer.colors.RED
            )
    if failures:
        raise typer.Exit(1)


def _read_with_progress(path: Path, show: bool) -> tuple[Iterator[str], tqdm]:
    bar = tqdm(
        total=path.stat().st_size,
        unit="B",
        unit_scale=True,
        desc=path.name,
        disable=not show,
        file=sys.stderr,
    )

    def lines() -> Iterator[str]:
        done = 0
        with path.open("r", encoding="utf-8", errors="replace", newline="") as handle:
            for number, line in enumerate(handle, start=1):
                done += len(line)
                if number % 50_000 == 0:
                    bar.update(done)
                    done = 0
                yield line
        bar.update(done)
        # On PostgreSQL the de-duplication and the insert run after the last line is read.
        bar.set_postfix_str("read; de-duplicating and writing")

    return lines(), bar


@bank_app.command("import")
def import_file(
    name: Annotated[str, typer.Argument(help="Bank name.")],
    file: Annotated[Path, typer.Argument(help="CSV (hash_type,value,metadata), JSONL or PDQ hex lines.")],
    format: Annotated[str | None, typer.Option("--format", help=FORMAT_HELP)] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Import nothing if any line is bad.")] = False,
    source: Annotated[str | None, typer.Option(help="Entry source (default import:<file name>).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
    keep_duplicates: Annotated[
        bool, typer.Option("--keep-duplicates", help="Import values the bank already holds again.")
    ] = False,
) -> None:
    """Import hashes from a file, streaming. Bad lines are reported with their numbers and skipped;
    values the bank already holds (or the file repeats) are counted as duplicates and skipped."""

    try:
        fmt = FileFormat(format) if format else FileFormat.for_path(file.name)
    except ValueError as exc:
        raise typer.BadParameter(FORMAT_HELP, param_hint="--format") from exc
    if not file.is_file():
        raise _fail(OSError(f"{file}: no such file"))
    lines, bar = _read_with_progress(file, progress and sys.stderr.isatty())
    try:
        with transaction() as session:
            report = banks.import_lines(
                session,
                name,
                lines,
                fmt=fmt,
                source=source or f"import:{file.name[:100]}",
                strict=strict,
                actor=cli_actor(),
                keep_duplicates=keep_duplicates,
            )
    except ModerationError as exc:
        for bad in exc.details.get("bad_lines", []):
            typer.secho(f"{file}:{bad['line']}: {bad['reason']}", err=True)
        raise _fail(exc) from exc
    finally:
        bar.close()
    for bad in report.bad_lines:
        typer.secho(f"{file}:{bad.line}: {bad.reason}", err=True)
    if report.skipped > len(report.bad_lines):
        typer.secho(f"... {report.skipped - len(report.bad_lines)} more bad lines", err=True)
    typer.echo(
        f"imported {report.imported} hashes into '{name}' from {report.lines} lines; {report.skipped} bad; "
        f"{report.duplicates} duplicates"
    )


@bank_app.command("export")
def export(
    name: Annotated[str, typer.Argument(help="Bank name.")],
    format: Annotated[str, typer.Option("--format", help="csv | jsonl | pdq-hex | te | te-csv")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default stdout).")
    ] = None,
) -> None:
    """Export a bank's hashes (plain rows; robust variants are derived and not exported)."""

    try:
        fmt = FileFormat(format)
    except ValueError as exc:
        raise typer.BadParameter("csv | jsonl | pdq-hex | te | te-csv", param_hint="--format") from exc
    try:
        with transaction() as session:
            banks.record_export(session, name, fmt, actor=cli_actor())
        handle = output.open("w", encoding="utf-8") if output else sys.stdout
        try:
            for line in banks.stream_export(get_engine(), name, fmt):
                handle.write(line)
        finally:
            if output:
                handle.close()
            else:
                handle.flush()
    except ModerationError as exc:
        raise _fail(exc) from exc


@bank_app.command("add-frames")
def add_frames(
    name: Annotated[str, typer.Argument(help="Bank name.")],
    file: Annotated[Path, typer.Argument(help="A video's frame hashes: vPDQ text or JSONL ('-': stdin).")],
    md5: Annotated[str | None, typer.Option(help="The video file's MD5, when known.")] = None,
    note: Annotated[str | None, typer.Option(help="Note stored with the entry.")] = None,
    source: Annotated[str, typer.Option(help="upload | takedown | review | import:<name>")] = "upload",
) -> None:
    """Add a video known only by its frame hashes (one vPDQ line or JSON object per frame)."""

    try:
        lines = (
            sys.stdin if str(file) == "-" else file.read_text(encoding="utf-8", errors="replace").splitlines()
        )
        frames = parse_frame_lines(lines)
        with transaction() as session:
            entries = banks.add_video_frames(
                session, name, frames, md5=md5, note=note, source=source, actor=cli_actor()
            )
            typer.echo(f"{file}: entry {entries[0].id} ({len(frames)} frames)")
    except ModerationError as exc:
        raise _fail(exc) from exc
    except OSError as exc:
        raise fail(f"error [unreadable_file]: {file}: {exc.strerror or exc}") from exc


@bank_app.command("export-frames")
def export_frames(
    name: Annotated[str, typer.Argument(help="Bank name.")],
    entry_id: Annotated[int, typer.Argument(help="The video entry.")],
    as_jsonl: Annotated[bool, typer.Option("--jsonl", help="JSONL instead of vPDQ text.")] = False,
) -> None:
    """Print a video entry's frame hashes as vPDQ text (`frame,pdq,quality,seconds`) or JSONL."""

    try:
        with transaction() as session:
            frames = banks.video_frames(session, entry_id, bank_name=name)
    except ModerationError as exc:
        raise _fail(exc) from exc
    typer.echo(to_jsonl(frames) if as_jsonl else to_vpdq_text(frames), nl=False)
