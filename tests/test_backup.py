"""Restore drill: back up a running service's database, restore it into a fresh database, then the
audit chain verifies, evidence decrypts, the match index rebuilds and checks get the same decisions
(SQLite through the backup API; PostgreSQL through pg_dump/pg_restore, as docs/operations.md says)."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, text
from typer.testing import CliRunner

from moderation.cli import app as cli
from moderation.config import Settings, get_settings
from moderation.kit.backup import libpq_url
from moderation.matching.service import matcher
from tests.factories import encode, generated_png, jpeg, picture, post_check
from tests.takedown.conftest import b64, notice_body

Auth = Callable[[str], dict[str, str]]


def _decisions(
    client: TestClient, headers: dict[str, str], images: list[bytes]
) -> list[tuple[str, list[str]]]:
    matcher.refresh()
    out = []
    for data in images:
        body = post_check(client, headers, data).json()
        out.append((body["decision"], sorted(r.get("bank") or r["rule"] for r in body["reasons"])))
    return out


def _seed(client: TestClient, auth: Auth) -> dict[str, Any]:
    admin = auth("admin")
    assert (
        client.post("/v1/banks", json={"name": "known", "action": "block"}, headers=admin).status_code == 201
    )
    banked = client.post(
        "/v1/banks/known/entries/image", files={"file": ("k.jpg", jpeg(61), "image/jpeg")}, headers=admin
    )
    assert banked.status_code == 201, banked.text
    evidence_image = generated_png(62)
    notice = client.post(
        "/v1/notices",
        json=notice_body(content={"content_ids": ["c-62"], "image_base64": b64(evidence_image)}),
        headers=auth("intake"),
    )
    assert notice.status_code == 201, notice.text
    images = [jpeg(61), encode(picture(61).resize((500, 375)), quality=75), jpeg(63)]
    return {"images": images, "notice": notice.json(), "evidence": evidence_image}


def _restore_postgres(source_url: str, dump: Path) -> str:
    target = make_url(source_url).set(database=f"{make_url(source_url).database}_restore")
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    url = target.render_as_string(hide_password=False)
    # The documented command (docs/operations.md): pg_restore into an empty database.
    subprocess.run(
        ["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={libpq_url(url)}", str(dump)], check=True
    )
    return url


def test_restore_drill(
    app_client: TestClient, auth: Auth, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = _seed(app_client, auth)
    checker, admin = auth("checker"), auth("admin")
    before = _decisions(app_client, checker, seeded["images"])
    assert [d for d, _ in before] == ["block", "block", "allow"]
    entries_before = matcher.status()["entries"]

    runner = CliRunner()
    dump = tmp_path / "backup" / "moderation.backup"
    # Online: the service above is still running while the backup is taken.
    result = runner.invoke(cli, ["db", "backup", str(dump)])
    assert result.exit_code == 0, result.output
    assert dump.stat().st_size > 0

    fresh_dir = tmp_path / "restored"
    if settings.is_sqlite:
        restored_url = f"sqlite:///{fresh_dir / 'moderation.db'}"
        monkeypatch.setenv("MODERATION_DATABASE_URL", restored_url)
        monkeypatch.setenv("MODERATION_DATA_DIR", str(fresh_dir))
        get_settings.cache_clear()
        result = runner.invoke(cli, ["db", "restore", str(dump)])
        assert result.exit_code == 0, result.output
        # A second restore over data is refused without --force.
        again = runner.invoke(cli, ["db", "restore", str(dump)])
        assert again.exit_code == 1 and "restore_refused" in again.output
    else:
        restored_url = _restore_postgres(settings.resolved_database_url, dump)
        monkeypatch.setenv("MODERATION_DATABASE_URL", restored_url)
        monkeypatch.setenv("MODERATION_DATA_DIR", str(fresh_dir))
        get_settings.cache_clear()

    verified = runner.invoke(cli, ["audit", "verify"])
    assert verified.exit_code == 0 and "audit log intact" in verified.output, verified.output
    current = runner.invoke(cli, ["db", "current"])
    assert current.exit_code == 0, current.output

    restored = settings.model_copy(update={"database_url": restored_url, "data_dir": fresh_dir})
    from moderation.app import create_app

    # The restored service rebuilds its match index from the database (no snapshot in the new data dir);
    # the keys were restored with the rows, so the same API keys work.
    with TestClient(create_app(restored), raise_server_exceptions=False) as client:
        assert matcher.status()["entries"] == entries_before > 0
        assert matcher.status()["loaded_from"] == "database"
        assert _decisions(client, checker, seeded["images"]) == before
        notice = seeded["notice"]
        # The intake key that filed it got a receipt; the case file (evidence included) is the admin's.
        [evidence] = client.get(f"/v1/notices/{notice['id']}", headers=admin).json()["evidence"]
        read = client.get(
            f"/v1/notices/{notice['id']}/evidence/{evidence['id']}",
            params={"reason": "restore drill"},
            headers=admin,
        )
        assert read.status_code == 200 and read.content == seeded["evidence"]
        assert read.headers["x-evidence-sha256"] == hashlib.sha256(seeded["evidence"]).hexdigest()
    assert runner.invoke(cli, ["audit", "verify"]).exit_code == 0
