"""Running and inspecting Alembic migrations from code (CLI, start-up, readiness, tests)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from moderation.config import Settings
from moderation.db import make_engine
from moderation.exceptions import SchemaOutOfDate

ROOT = Path(__file__).resolve().parent.parent.parent


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(url), revision)


@functools.lru_cache(maxsize=1)
def head_revisions() -> frozenset[str]:
    """The revisions the code expects (read once per process)."""
    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


log = logging.getLogger("moderation")
_migration_log = logging.getLogger("alembic.runtime.migration")


def current_revisions(engine: Engine) -> set[str]:
    """The revisions the database is at. Quiet: readiness probes call this on every request."""
    level = _migration_log.level
    _migration_log.setLevel(logging.WARNING)
    try:
        with engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads())
    finally:
        _migration_log.setLevel(level)


def schema_is_current(engine: Engine) -> bool:
    return current_revisions(engine) == head_revisions()


@functools.lru_cache(maxsize=1)
def known_revisions() -> frozenset[str]:
    """Every revision this code ships (read once per process)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(revision.revision for revision in script.walk_revisions())


def schema_state(engine: Engine) -> str:
    """`current`; `ahead` when the database is at revisions this code does not ship (a newer
    release migrated it: expand-only migrations keep this code working, see docs/operations.md,
    "Upgrades"); `behind` otherwise (missing or older revisions: run `moderation db upgrade`)."""
    current = current_revisions(engine)
    if current == head_revisions():
        return "current"
    if current and not (current & known_revisions()):
        return "ahead"
    return "behind"


def current_revisions_for(url: str) -> str:

    engine = make_engine(url)
    try:
        return ", ".join(sorted(current_revisions(engine)))
    finally:
        engine.dispose()


def prepare_database(settings: Settings) -> None:
    """Migrate the embedded SQLite database on first start; refuse an out-of-date PostgreSQL schema
    (a schema ahead of this release, migrated by the next one during a rolling upgrade, is accepted)."""
    engine = make_engine(settings.resolved_database_url)
    try:
        state = schema_state(engine)
        if state == "current":
            return
        if state == "ahead":
            # A rolling upgrade: a newer release migrated (expand only) while this one serves.
            log.warning(
                "the database schema is ahead of this release; serving with the previous schema's reads"
            )
            return
        if settings.is_sqlite:
            log.info("migrating embedded SQLite database at %s", engine.url.database)
            upgrade(settings.resolved_database_url)
            return
        raise SchemaOutOfDate(
            "the database schema is not at the current migration; run `moderation db upgrade` first"
        )
    finally:
        engine.dispose()
