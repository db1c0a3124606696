"""`moderation serve --workers 2`: both uvicorn processes count into the shared metrics folder, so any
one of them answers `/metrics` with the total of both (prometheus-client multi-process mode)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from moderation.config import Settings
from tests.factories import jpeg
from tests.observability.conftest import parse
from tests.processes import base_env, start_service, wait_ready

pytestmark = pytest.mark.slow
CHECKS = 12


def test_two_uvicorn_workers_report_one_total(
    settings: Settings, tmp_path: Path, make_key: Callable[..., str]
) -> None:
    key = make_key("checker")
    data_dir = tmp_path / "var"
    service = start_service(
        "two-workers", base_env(settings.resolved_database_url, data_dir), tmp_path / "logs", workers=2
    )
    try:
        wait_ready(service)
        for seed in range(CHECKS):
            # A new connection each time, so the kernel spreads them over both processes.
            response = httpx.post(
                f"{service.url}/v1/check",
                headers={"Authorization": f"Bearer {key}", "Connection": "close"},
                files={"file": ("x.jpg", jpeg(seed, size=(160, 120)), "image/jpeg")},
                timeout=60,
            )
            assert response.status_code == 200, response.text
        shared = data_dir / "metrics"
        writers = {path.stem.rsplit("_", 1)[-1] for path in shared.glob("counter_*.db")}
        assert len(writers) >= 2, f"one process answered every request: {writers}"
        for _ in range(6):
            samples = parse(httpx.get(f"{service.url}/metrics", headers={"Connection": "close"}).text)
            total = sum(v for (name, _), v in samples.items() if name == "moderation_checks_total")
            assert total == CHECKS
    finally:
        service.stop()
