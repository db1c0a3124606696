"""docs/operations.md: every shell block marked `<!-- tested: sqlite -->` (and, with PostgreSQL,
`<!-- tested: postgres -->`) runs as written against a live service, in order, and succeeds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from moderation.config import PROJECT_ROOT, Settings
from moderation.kit.backup import libpq_url
from tests.factories import jpeg, post_check
from tests.processes import Node, base_env, start_service, wait_ready

GUIDE = PROJECT_ROOT / "docs" / "operations.md"
BLOCK = re.compile(r"<!-- tested: (\w+) -->\s*```sh\n(.*?)```", re.DOTALL)
TOKEN = "operations-doc-metrics-token-42"


def blocks(kind: str) -> list[str]:
    found = [body for marker, body in BLOCK.findall(GUIDE.read_text()) if marker == kind]
    return ["\n".join(line.strip() for line in body.splitlines()) for body in found]


def _run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    """`moderation` on the PATH (this checkout), plus the variables the guide uses."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "moderation"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m moderation "$@"\n')
    launcher.chmod(0o755)
    for name in ("backup", "restore"):
        (tmp_path / name).mkdir()
    return {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "BACKUP_DIR": str(tmp_path / "backup"),
        "RESTORE_DIR": str(tmp_path / "restore"),
        "MODERATION_METRICS_TOKEN": TOKEN,
    }


@pytest.fixture
def live(
    settings: Settings, tmp_path: Path, app_client: object, auth: Callable[[str], dict[str, str]]
) -> Iterator[Node]:
    """A service process on the test database with some data (a check, so the audit log is not empty)."""
    from fastapi.testclient import TestClient

    assert isinstance(app_client, TestClient)
    post_check(app_client, auth("checker"), jpeg(3))
    env = base_env(settings.resolved_database_url, tmp_path / "var", MODERATION_METRICS_TOKEN=TOKEN)
    node = start_service("doc-service", env, tmp_path / "logs")
    try:
        wait_ready(node)
        yield node
    finally:
        node.stop()


def test_the_guide_has_tested_blocks() -> None:
    assert len(blocks("sqlite")) >= 4 and len(blocks("postgres")) >= 1


def test_sqlite_blocks_run_as_written(
    settings: Settings, live: Node, shell_env: dict[str, str], tmp_path: Path
) -> None:
    if not settings.is_sqlite:
        pytest.skip("the SQLite blocks run on the SQLite test database")
    env = base_env(settings.resolved_database_url, tmp_path / "var", **shell_env, MODERATION_URL=live.url)
    # The operator's shell: the data directory names the database (no MODERATION_DATABASE_URL).
    env.pop("MODERATION_DATABASE_URL")
    env["MODERATION_DATA_DIR"] = str(Path(settings.resolved_database_url.split("///", 1)[1]).parent)
    for script in blocks("sqlite"):
        result = _run(script, env)
        assert result.returncode == 0, f"{script}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    assert (tmp_path / "restore" / "moderation.db").stat().st_size > 0


def test_postgres_blocks_run_as_written(
    settings: Settings, live: Node, shell_env: dict[str, str], tmp_path: Path
) -> None:
    if settings.is_sqlite:
        pytest.skip("needs MODERATION_TEST_DATABASE_URL (PostgreSQL)")
    url = make_url(settings.resolved_database_url)
    restore = url.set(database=f"{url.database}_doc_restore")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{restore.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{restore.database}"'))
    admin.dispose()
    env = base_env(
        settings.resolved_database_url,
        tmp_path / "var",
        **shell_env,
        MODERATION_URL=live.url,
        PGURL=libpq_url(settings.resolved_database_url),
        RESTORE_PGURL=libpq_url(restore.render_as_string(hide_password=False)),
    )
    for script in blocks("postgres"):
        result = _run(script, env)
        assert result.returncode == 0, f"{script}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        assert "audit log intact" in result.stdout
