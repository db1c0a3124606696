"""API keys: shown once, stored hashed, 401 without or with a bad key, revocation at once."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from moderation.cli import app as cli
from moderation.config import Settings
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
