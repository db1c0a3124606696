"""docs/prometheus-alerts.yml, docs/grafana-dashboard.json and docs/operations.md use exactly the
metric names GET /metrics exports: no name the service does not export, and every family the service
exports is on the dashboard and in the operations guide."""

from __future__ import annotations

import json
import re

import yaml
from fastapi.testclient import TestClient

from moderation.config import PROJECT_ROOT
from tests.observability.conftest import families

DOCS = PROJECT_ROOT / "docs"
NAME = re.compile(r"\bmoderation_[a-z0-9_]+")
SUFFIXES = ("_total", "_bucket", "_sum", "_count")


def _family(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _exported(client: TestClient) -> set[str]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {name for name in families(response.text) if name.startswith("moderation_")}


def _alert_expressions() -> list[str]:
    rules = yaml.safe_load((DOCS / "prometheus-alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def _dashboard_expressions() -> list[str]:
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_alert_rules_and_dashboard_use_only_exported_names(app_client: TestClient) -> None:
    exported = _exported(app_client)
    assert len(exported) >= 20
    for source, expressions in (
        ("alert rules", _alert_expressions()),
        ("dashboard", _dashboard_expressions()),
    ):
        used = {_family(n) for e in expressions for n in NAME.findall(e)}
        assert used, source
        unknown = used - exported
        assert not unknown, f"{source} use names /metrics does not export: {sorted(unknown)}"


def test_every_exported_family_is_on_the_dashboard_and_in_the_guide(app_client: TestClient) -> None:
    exported = _exported(app_client)
    on_dashboard = {_family(n) for e in _dashboard_expressions() for n in NAME.findall(e)}
    assert exported <= on_dashboard, f"not on the dashboard: {sorted(exported - on_dashboard)}"
    guide = (DOCS / "operations.md").read_text()
    in_guide = {_family(n) for n in NAME.findall(guide)}
    assert exported <= in_guide, f"not in docs/operations.md: {sorted(exported - in_guide)}"
    assert in_guide <= exported, f"docs/operations.md names unknown metrics: {sorted(in_guide - exported)}"


def test_the_key_alerts_exist() -> None:
    expressions = " ".join(_alert_expressions())
    for family in (
        "moderation_notices_overdue",
        "moderation_outbox_oldest_undelivered_age_seconds",
        "moderation_job_last_success_timestamp_seconds",
        "moderation_audit_checkpoint_age_seconds",
        "moderation_match_index_lag_seconds",
    ):
        assert family in expressions, family
