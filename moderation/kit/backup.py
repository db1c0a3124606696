"""Database backups: SQLite through its online backup API, PostgreSQL through `pg_dump`/`pg_restore`.

Everything the service keeps is in the database (evidence and review copies are encrypted rows);
the match index snapshots under MODERATION_DATA_DIR are rebuilt from it. The keys are not in it:
MODERATION_SECRET_KEY (or MODERATION_EVIDENCE_KEY) must be kept with the backup, or evidence stays
unreadable."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url

from moderation.exceptions import ModerationError


class BackupFailed(ModerationError):
    code = "backup_failed"
    status = 500


class RestoreRefused(ModerationError):
    code = "restore_refused"
    status = 409


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    method: str


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupFailed("an in-memory SQLite database cannot be backed up")
    return Path(database)


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as a libpq connection string for pg_dump/pg_restore (driver suffix dropped)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def backup(url: str, target: Path) -> BackupResult:
    """Write a consistent copy of the database at `url` to `target` while the service keeps running.

    SQLite: the backup API copies pages under a read transaction (a writer that commits meanwhile
    makes it restart the copy, so the file is one committed state). PostgreSQL: `pg_dump
    --format=custom` (one snapshot; restore with `pg_restore`)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        source = sqlite3.connect(sqlite_path(url))
        tmp = target.with_name(target.name + ".partial")
        tmp.unlink(missing_ok=True)
        destination = sqlite3.connect(tmp)
        try:
            with destination:
                source.backup(destination, pages=1024)
        finally:
            destination.close()
            source.close()
        tmp.replace(target)
        return BackupResult(target, target.stat().st_size, "sqlite-backup-api")
    if make_url(url).get_backend_name() == "postgresql":
        _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}", f"--dbname={libpq_url(url)}"])
        return BackupResult(target, target.stat().st_size, "pg_dump")
    raise BackupFailed(f"no backup method for {make_url(url).get_backend_name()}")


def restore_sqlite(backup_file: Path, url: str, *, force: bool = False) -> BackupResult:
    """Copy a SQLite backup into the (stopped) service's database file through the backup API.
    Refuses to overwrite a database that has data unless `force`."""
    backup_file = Path(backup_file)
    if not backup_file.is_file():
        raise RestoreRefused(f"no backup file at {backup_file}")
    target = sqlite_path(url)
    if target.exists() and target.stat().st_size > 0 and not force:
        raise RestoreRefused(f"{target} exists; stop the service and pass --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    destination = sqlite3.connect(target)
    try:
        with destination:
            source.backup(destination)
    finally:
        destination.close()
        source.close()
    return BackupResult(target, target.stat().st_size, "sqlite-backup-api")


def _run(command: list[str]) -> None:
    if shutil.which(command[0]) is None:
        raise BackupFailed(f"{command[0]} is not installed (it comes with the PostgreSQL client tools)")
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise BackupFailed(f"{command[0]} failed: {completed.stderr.strip()[:500]}")
