"""Upgrades: the previous release's read paths work against a database migrated to head (expand-only
migrations), and readiness tells a schema that is ahead (rolling upgrade) from one that is behind.

The previous release is this repository's code just before its newest migration was added, taken
with `git archive` into a temporary folder; the test skips when git history is not available."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from moderation.config import PROJECT_ROOT, Settings
from moderation.kit import migrations
from tests.factories import jpeg, post_check
from tests.takedown.conftest import COMPLETE_TID

Auth = Callable[[str], dict[str, str]]

OLD_READER = r"""
import json, sys
from fastapi.testclient import TestClient
import moderation.app as app_module
from moderation.config import Settings

# A process of the previous release that was already serving when the migration ran.
app_module.prepare_database = lambda settings: None
settings = Settings()
headers = {"Authorization": "Bearer " + sys.argv[1]}
out = {"module": app_module.__file__}
with TestClient(app_module.create_app(settings), raise_server_exceptions=False) as client:
    for path in json.loads(sys.argv[2]):
        response = client.get(path, headers=headers)
        out[path] = {"status": response.status_code, "body": response.json()}
print(json.dumps(out))
"""


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


def previous_release(target: Path) -> str:
    """Extract the code as it was before the newest migration into `target`; returns the commit."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    newest = sorted((PROJECT_ROOT / "migrations" / "versions").glob("*.py"))[-1]
    try:
        added = _git(
            "log", "--diff-filter=A", "--format=%H", "-1", "--", str(newest.relative_to(PROJECT_ROOT))
        )
        if not added:
            pytest.skip(f"{newest.name} is not committed yet")
        previous = _git("rev-parse", f"{added}^")
        archive = subprocess.run(
            [
                "git",
                "-C",
                str(PROJECT_ROOT),
                "archive",
                "--format=tar",
                previous,
                "moderation",
                "migrations",
                "policies",
                "alembic.ini",
            ],
            capture_output=True,
            check=True,
            timeout=120,
        ).stdout
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"git history not available: {exc.stderr}")
    target.mkdir(parents=True)
    tar_path = target / "release.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(target, filter="data")
    return previous


def _seed(client: TestClient, auth: Auth) -> tuple[dict[str, str], list[str]]:
    admin = auth("admin")
    assert client.post("/v1/banks", json={"name": "known"}, headers=admin).status_code == 201
    entry = client.post(
        "/v1/banks/known/entries", json={"hashes": [{"type": "sha256", "value": "cd" * 32}]}, headers=admin
    )
    assert entry.status_code == 201, entry.text
    check = post_check(client, auth("checker"), jpeg(5), {"content_id": "post-5"}).json()
    notice = client.post(
        "/v1/notices",
        json={
            "regimes": ["us-take-it-down"],
            "reporter": {"email": "p@example.org"},
            "content": {"content_ids": ["post-5"]},
            "fields": COMPLETE_TID,
        },
        headers={**auth("intake"), "X-Request-ID": "upgrade-test"},
    ).json()
    url = f"/v1/notices/{notice['id']}"
    assert client.post(f"{url}/validate", headers=admin).status_code == 200
    paths = [
        "/healthz",
        "/v1/banks",
        "/v1/banks/known",
        "/v1/banks/known/entries?limit=10",
        f"/v1/check/{check['check_id']}",
        "/v1/notices",
        url,
        "/v1/audit?limit=50",
        "/v1/review",
    ]
    return admin, paths


def test_previous_release_reads_a_database_migrated_to_head(
    app_client: TestClient, auth: Auth, settings: Settings, tmp_path: Path
) -> None:
    admin, paths = _seed(app_client, auth)
    new = {path: app_client.get(path, headers=admin) for path in paths}
    assert all(r.status_code == 200 for r in new.values()), {p: r.text for p, r in new.items()}

    release = tmp_path / "previous-release"
    previous_release(release)
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(release),
        "MODERATION_ENV": "test",
        "MODERATION_DATABASE_URL": settings.resolved_database_url,
        "MODERATION_DATA_DIR": str(tmp_path / "old-var"),
        "MODERATION_CLASSIFIER_ENABLED": "false",
    }
    token = admin["Authorization"].removeprefix("Bearer ")
    completed = subprocess.run(
        [sys.executable, "-c", OLD_READER, token, json.dumps(paths)],
        cwd=release,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    old = json.loads(completed.stdout.strip().splitlines()[-1])
    assert old["module"].startswith(str(release)), old["module"]  # the previous release's code ran
    for path in paths:
        assert old[path]["status"] == 200, (path, old[path])
    # The previous release sees the same rows the new one does.
    assert [n["id"] for n in old["/v1/notices"]["body"]["items"]] == [
        n["id"] for n in new["/v1/notices"].json()["items"]
    ]
    assert [e["id"] for e in old["/v1/audit?limit=50"]["body"]["items"]] == [
        e["id"] for e in new["/v1/audit?limit=50"].json()["items"]
    ]
    notice_path = paths[6]
    assert old[notice_path]["body"]["state"] == new[notice_path].json()["state"] == "validated"
    check_path = paths[4]
    assert old[check_path]["body"]["decision"] == new[check_path].json()["decision"]


def _stamp(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def test_readiness_accepts_a_schema_ahead_and_refuses_one_behind(
    app_client: TestClient, engine: Engine
) -> None:
    [head] = migrations.head_revisions()
    try:
        _stamp(engine, "9999_from_a_newer_release")
        ahead = app_client.get("/readyz")
        assert ahead.status_code == 200 and ahead.json()["checks"]["schema"]["state"] == "ahead"
        _stamp(engine, "0001_foundation")
        behind = app_client.get("/readyz")
        assert behind.status_code == 503 and behind.json()["checks"]["schema"]["state"] == "out_of_date"
    finally:
        _stamp(engine, head)
    assert app_client.get("/readyz").status_code == 200
