"""API keys: shown once, stored hashed, 401 without or with a bad key, revocation at once."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from moderation.cli import app as cli
from moderation.config import Settings
from moderation.kit.time import utc_now
from moderation.models.api_key import APIKey


def test_cli_create_prints_key_once_and_stores_only_hash(settings: Settings, session: Session) -> None:
    outcome = CliRunner().invoke(cli, ["apikey", "create", "uploader", "--role", "checker"])
    assert outcome.exit_code == 0, outcome.output
    plain = outcome.stdout.strip().splitlines()[0]
    assert plain.startswith("mod_")
    row = session.scalars(select(APIKey).where(APIKey.name == "uploader")).one()
    assert row.role == "checker"
    assert plain not in (row.key_hash, row.prefix)
    listing = CliRunner().invoke(cli, ["apikey", "list"])
    assert "uploader" in listing.output and plain not in listing.output


def test_cli_rejects_unknown_role_and_duplicate_name(settings: Settings) -> None:
    runner = CliRunner()
    bad = runner.invoke(cli, ["apikey", "create", "x", "--role", "root"])
    assert bad.exit_code == 1 and "unknown role" in bad.output
    assert runner.invoke(cli, ["apikey", "create", "dup"]).exit_code == 0
    again = runner.invoke(cli, ["apikey", "create", "dup"])
    assert again.exit_code == 1 and "api_key_exists" in again.output


def test_revoked_key_stops_working_at_once(
    app_client: TestClient, make_key: Callable[..., str], settings: Settings
) -> None:
    key = make_key("admin", name="soon-revoked")
    headers = {"Authorization": f"Bearer {key}"}
    assert app_client.get("/v1/audit", headers=headers).status_code == 200
    outcome = CliRunner().invoke(cli, ["apikey", "revoke", "soon-revoked"])
    assert outcome.exit_code == 0, outcome.output
    response = app_client.get("/v1/audit", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "revoked_api_key"


def test_malformed_authorization_headers(app_client: TestClient) -> None:
    for value in ("", "Bearer", "Basic abc", "Bearer mod_nope", "bearer  "):
        response = app_client.get("/v1/audit", headers={"Authorization": value})
        assert response.status_code == 401, value
        assert response.json()["code"] in {"unauthenticated", "invalid_api_key"}


def test_key_revoked_elsewhere_is_refused_within_the_cache_bound(
    app_client: TestClient, make_key: Callable[..., str], engine: Engine, settings: Settings
) -> None:
    """Another process (a worker, the CLI on another host) revokes the key straight in the database:
    this process trusted the key from its cache, and refuses it once `api_key_cache_seconds` pass."""
    bound = settings.api_key_cache_seconds
    assert 0 < bound <= 5
    key = make_key("checker", name="revoked-elsewhere")
    headers = {"Authorization": f"Bearer {key}"}
    body = {"hashes": [{"type": "md5", "value": "0" * 32}]}
    assert app_client.post("/v1/match", json=body, headers=headers).status_code == 200
    with engine.begin() as connection:
        connection.execute(
            update(APIKey).where(APIKey.name == "revoked-elsewhere").values(revoked_at=utc_now())
        )
    revoked_at = time.monotonic()
    while True:
        response = app_client.post("/v1/match", json=body, headers=headers)
        if response.status_code == 401:
            break
        assert response.status_code == 200
        assert time.monotonic() - revoked_at < bound + 0.5, "still accepted past the cache bound"
        time.sleep(0.05)
    assert response.json()["code"] == "revoked_api_key"
    assert time.monotonic() - revoked_at < bound + 0.5
    # GET routes (authenticated by the role dependency, not the body guard) share the bound.
    assert app_client.get("/v1/match", headers=headers).status_code in {401, 405}


def test_key_cache_skips_the_database_and_forgets_on_revoke(
    make_key: Callable[..., str], engine: Engine
) -> None:
    from moderation.auth.service import PrincipalCache, api_keys

    key = make_key("checker", name="cached")
    authorization = f"Bearer {key}"
    with Session(engine) as session:
        principal = api_keys.authenticate(session, authorization, cache_seconds=2)
    assert api_keys.cached(authorization, 2) == principal
    assert api_keys.cached(authorization, 0) is None  # 0: always looked up
    with Session(engine) as session:
        api_keys.revoke(session, name="cached", actor="test")
        session.commit()
    assert api_keys.cached(authorization, 2) is None
    now = [100.0]
    cache = PrincipalCache(max_entries=2, clock=lambda: now[0])
    cache.put("a", principal)
    assert cache.get("a", 2) == principal
    now[0] += 2.0
    assert cache.get("a", 2) is None  # expired at the bound, not after it
    for name in ("a", "b", "c"):
        cache.put(name, principal)
    assert len(cache._entries) <= 2
