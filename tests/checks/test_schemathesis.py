"""Schemathesis against the app's OpenAPI schema: every /v1 operation, bounded examples, never a 5xx."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

EXAMPLES_PER_OPERATION = 20


def test_no_operation_answers_with_a_server_error(
    app_client: TestClient, auth: Callable[[str], dict[str, str]]
) -> None:
    headers = auth("admin")
    schema = schemathesis.openapi.from_asgi("/openapi.json", app_client.app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/v1/"):
            continue
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            try:
                response = case.call(headers=headers)
            except Exception as exc:  # the in-process transport re-raises what would be a 500
                failures.append(
                    f"{case.method} {case.formatted_path}: raised {type(exc).__name__}: {exc}"[:300]
                )
                return
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
                )

        run()
    assert operations >= 6, "the schema should list every /v1 operation"
    assert not failures, "\n".join(sorted(set(failures))[:20])
