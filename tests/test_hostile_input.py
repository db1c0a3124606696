"""Hostile input over every /v1 and /admin route (issue 11, finding 7): NUL bytes, over-long strings,
huge integers, NaN and 1e400, lone surrogates, deep JSON, cursors past 2**63, odd multipart. Every
answer is a 4xx (or a success), never a 5xx, on SQLite and on PostgreSQL.

The routes are read from the application itself, so a new route is covered without editing this."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI, params
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.admin.conftest import form_token, sign_in

EXAMPLES = 12
NAN, HUGE_FLOAT = "__NAN__", "__1E400__"

HOSTILE_TEXT = [
    "\x00",
    "bank\x00name",
    "x" * 5000,
    "\ud800",
    "bank\n",
    "../../etc/passwd",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "",
    " ",
    "9" * 120,
    str(2**63),
    "-1",
    "1e400",
    "NaN",
    "\u202e\ufeff",
    "a" * 201,
]
HOSTILE_JSON: list[Any] = [
    *HOSTILE_TEXT,
    10**100,
    -(10**100),
    2**63,
    2**31,
    -1,
    0,
    NAN,
    HUGE_FLOAT,
    True,
    None,
    [],
    {},
    {"\x00": "\x00"},
    ["\x00", 10**30],
]
PATH_VALUES = ["1", "b1", "0", str(2**63), "9" * 120, "%00", "x" * 300, "%F0%9F%98%80", "%0A"]


def deep(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


json_values = st.one_of(
    st.sampled_from(HOSTILE_JSON),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.text(alphabet=st.characters(codec=None, categories=None), max_size=50),
    st.builds(deep, st.integers(min_value=30, max_value=300)),
)
text_values = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=50))


def encode_json(value: Any) -> bytes:
    """JSON text with literal NaN and 1e400 and \\ud800 escapes, as a hostile client would send it."""
    text = json.dumps(value, ensure_ascii=True)
    return text.replace(f'"{NAN}"', "NaN").replace(f'"{HUGE_FLOAT}"', "1e400").encode()


def form_bytes(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    query: tuple[str, ...]
    form: tuple[str, ...]
    files: tuple[str, ...]
    json_fields: tuple[str, ...] | None


def _routes(app: FastAPI) -> Iterator[Route]:
    def walk(routes: Any, prefix: str) -> Iterator[tuple[str, APIRoute]]:
        for route in routes:
            if isinstance(route, APIRoute):
                yield prefix + route.path, route
            elif hasattr(route, "original_router"):
                yield from walk(route.original_router.routes, prefix + (route.include_context.prefix or ""))

    for path, route in walk(app.routes, ""):
        if not path.startswith(("/v1/", "/admin")):
            continue
        dependant = route.dependant
        query = {p.alias for p in dependant.query_params}
        form, files, json_fields = set(), set(), None
        for sub in [dependant, *dependant.dependencies]:
            query |= {p.alias for p in sub.query_params}
        for body in route.dependant.body_params:
            info = body.field_info
            if isinstance(info, params.File):
                files.add(body.alias)
            elif isinstance(info, params.Form):
                form.add(body.alias)
            else:
                model = getattr(body.field_info, "annotation", None) or body.type_
                fields = getattr(model, "model_fields", None)
                json_fields = tuple(fields) if fields else (body.alias,)
        for method in sorted(route.methods - {"HEAD"}):
            yield Route(
                method, path, tuple(sorted(query)), tuple(sorted(form)), tuple(sorted(files)), json_fields
            )


@pytest.fixture
def hostile_client(
    app_client: TestClient, auth: Callable[[str], dict[str, str]], make_user: Callable[..., str]
) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    headers = auth("admin")
    app_client.post("/v1/banks", json={"name": "b1"}, headers=headers)
    sign_in(app_client, make_user("admin", "root"))
    token = form_token(app_client.get("/admin").text)
    yield app_client, headers, token


def test_no_route_answers_hostile_input_with_a_server_error(
    hostile_client: tuple[TestClient, dict[str, str], str],
) -> None:
    client, headers, csrf = hostile_client
    routes = list(_routes(client.app))  # type: ignore[arg-type]
    assert len([r for r in routes if r.method != "GET"]) >= 50, "every write route should be found"
    failures: set[str] = set()

    @seed(11)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        for route in routes:
            path = route.path
            while "{" in path:
                start, end = path.index("{"), path.index("}")
                path = path[:start] + data.draw(st.sampled_from(PATH_VALUES)) + path[end + 1 :]
            query = {
                name: form_bytes(data.draw(text_values)).decode("utf-8", "replace") for name in route.query
            }
            kwargs: dict[str, Any] = {"params": query, "headers": dict(headers)}
            if route.method != "GET":
                if route.json_fields is not None:
                    body = {name: data.draw(json_values) for name in route.json_fields}
                    kwargs["content"] = encode_json(body)
                    kwargs["headers"]["content-type"] = "application/json"
                elif route.form or route.files or route.path.startswith("/admin") or "check" in route.path:
                    fields = {name: form_bytes(data.draw(text_values)) for name in route.form}
                    fields.update(
                        {"csrf_token": csrf.encode(), "metadata": form_bytes(data.draw(text_values))}
                    )
                    names = set(route.files) | ({"file"} if route.path.startswith("/v1/check") else set())
                    files = {
                        name: (
                            data.draw(st.sampled_from(["a.csv", "x\x00.png", "é" * 300])),
                            data.draw(
                                st.sampled_from(
                                    [
                                        b",1\n",
                                        b"\x00" * 10,
                                        b"\x89PNG\r\n\x1a\n",
                                        "\ud800".encode("utf-8", "surrogatepass"),
                                    ]
                                )
                            ),
                            "application/octet-stream",
                        )
                        for name in names
                    }
                    # Fields go as raw multipart parts: bytes that are not UTF-8 reach the server as sent.
                    kwargs["files"] = {**{k: (None, v) for k, v in fields.items()}, **files}
            try:
                response = client.request(route.method, path, **kwargs)
            except Exception as exc:
                failures.add(f"{route.method} {route.path}: raised {type(exc).__name__}: {exc}"[:300])
                continue
            if response.status_code >= 500:
                failures.add(f"{route.method} {route.path}: {response.status_code} {response.text[:200]}")

    run()
    assert not failures, "\n".join(sorted(failures))


def _boundary_request(client: TestClient, headers: dict[str, str], boundary: str) -> int:
    disposition = 'Content-Disposition: form-data; name="file"; filename="a.csv"'
    body = f"--{boundary}\r\n{disposition}\r\n\r\n,1\r\n--{boundary}--\r\n"
    return client.post(
        "/v1/banks/b1/import",
        content=body.encode(),
        headers={**headers, "content-type": f"multipart/form-data; boundary={boundary}"},
    ).status_code


def test_long_multipart_boundary_and_bad_import_lines_are_4xx(
    hostile_client: tuple[TestClient, dict[str, str], str],
) -> None:
    client, headers, _ = hostile_client
    assert 400 <= _boundary_request(client, headers, "b" * 300) < 500
    for line in (b",1\n", b"\x00\n", b"pdq,\n", ("f" * 64 + ",1e400\n").encode()):
        response = client.post(
            "/v1/banks/b1/import", files={"file": ("list.csv", line, "text/csv")}, headers=headers
        )
        assert response.status_code < 500, (line, response.text)


def test_bank_names_are_matched_in_full(hostile_client: tuple[TestClient, dict[str, str], str]) -> None:
    client, headers, _ = hostile_client
    for name in ("bank\n", "bank\r\n", " bank", "bank\u2028"):
        response = client.post("/v1/banks", json={"name": name}, headers=headers)
        assert response.status_code == 422 and response.json()["code"] == "invalid_bank_name", name
    response = client.post("/v1/banks", json={"name": "bank\x00"}, headers=headers)
    assert response.status_code == 422 and response.json()["code"] == "invalid_json_value"


def test_unauthenticated_sign_in_with_nul_username_is_4xx(app_client: TestClient) -> None:
    token = form_token(app_client.get("/admin/login").text)
    for username in ("ro\x00ot", "\ud800", "x" * 150):
        response = app_client.post(
            "/admin/login",
            files={
                "username": (None, username.encode("utf-8", "surrogatepass")),
                "password": (None, b"p"),
                "csrf_token": (None, token.encode()),
            },
        )
        assert response.status_code in (401, 422), (username, response.status_code)


def _cursor(due: str | None, notice_id: int) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps([due, notice_id]).encode()).decode().rstrip("=")


HOSTILE_ONE: list[Any] = [
    "\x00",
    "a\x00b",
    "x" * 5000,
    "\ud800",
    10**100,
    NAN,
    HUGE_FLOAT,
    deep(120),
]


def _notice(**changes: Any) -> dict[str, Any]:
    from tests.takedown.conftest import notice_body

    body = notice_body()
    for dotted, value in changes.items():
        target = body
        *parents, leaf = dotted.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return body


JSON_CASES: list[tuple[str, str, Callable[[Any], Any]]] = [
    ("POST", "/v1/notices", lambda v: _notice(client_reference=v)),
    ("POST", "/v1/notices", lambda v: _notice(**{"reporter.name": v})),
    ("POST", "/v1/notices", lambda v: _notice(**{"reporter.email": v})),
    ("POST", "/v1/notices", lambda v: _notice(**{"fields.signature": v})),
    ("POST", "/v1/notices", lambda v: _notice(fields={str(v)[:300]: "x", **_notice()["fields"]})),
    ("POST", "/v1/notices", lambda v: _notice(**{"content.urls": [v]})),
    ("POST", "/v1/notices", lambda v: _notice(**{"content.content_ids": [v]})),
    ("POST", "/v1/notices/1/info", lambda v: {"fields": {"signature": v}}),
    ("POST", "/v1/notices/1/assign", lambda v: {"assignee": v}),
    ("POST", "/v1/notices/1/reject", lambda v: {"reason": v}),
    ("POST", "/v1/notices/1/pause", lambda v: {"reason": "awaiting_info", "note": v}),
    ("POST", "/v1/banks", lambda v: {"name": "b2", "description": v}),
    ("POST", "/v1/banks", lambda v: {"name": "b3", "thresholds": {"pdq": v}}),
    ("PATCH", "/v1/banks/b1", lambda v: {"description": v}),
    ("POST", "/v1/banks/b1/entries", lambda v: {"hashes": [{"type": "md5", "value": "0" * 32}], "note": v}),
    (
        "POST",
        "/v1/banks/b1/entries",
        lambda v: {"hashes": [{"type": "md5", "value": "1" * 32}], "metadata": {"k": v}},
    ),
    ("POST", "/v1/banks/b1/entries", lambda v: {"hashes": [{"type": "md5", "value": v}]}),
    ("POST", "/v1/match", lambda v: {"hashes": [{"type": "pdq", "value": v}]}),
]
QUERY_CASES: list[tuple[str, str]] = [
    ("/v1/notices", "assignee"),
    ("/v1/notices", "regime"),
    ("/v1/notices", "state"),
    ("/v1/audit", "actor"),
    ("/v1/audit", "subject_id"),
    ("/v1/banks/b1/entries", "value"),
]


@pytest.mark.parametrize("value", HOSTILE_ONE, ids=lambda v: repr(v)[:20])
def test_one_hostile_value_in_an_otherwise_valid_request_is_4xx(
    hostile_client: tuple[TestClient, dict[str, str], str], value: Any
) -> None:
    """A valid body with one hostile value reaches the database layer (a wholly hostile body stops at
    validation), which is where PostgreSQL used to answer 500."""
    from moderation.kit.time import set_clock
    from tests.takedown.conftest import T0

    set_clock(T0)
    client, headers, _ = hostile_client
    assert client.post("/v1/notices", json=_notice(), headers=headers).status_code == 201
    failures = []
    for method, path, build in JSON_CASES:
        response = client.request(
            method,
            path,
            content=encode_json(build(value)),
            headers={**headers, "content-type": "application/json"},
        )
        if response.status_code >= 500:
            failures.append(f"{method} {path}: {response.status_code}")
    text = value if isinstance(value, str) else json.dumps(value)[:200]
    for path, name in QUERY_CASES:
        response = client.get(
            path,
            params={name: text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")},
            headers=headers,
        )
        if response.status_code >= 500:
            failures.append(f"GET {path}?{name}: {response.status_code}")
    assert not failures, failures


def test_cursors_and_ids_past_the_column_range_are_4xx(
    hostile_client: tuple[TestClient, dict[str, str], str],
) -> None:
    client, headers, _ = hostile_client
    for cursor in (_cursor(None, 2**63), _cursor("2026-01-01T00:00:00+00:00", 10**30), _cursor(None, -1)):
        response = client.get("/v1/notices", params={"cursor": cursor}, headers=headers)
        assert response.status_code == 422 and response.json()["code"] == "invalid_cursor"
    for path in (
        "/v1/audit?before_id=9223372036854775808",
        "/v1/banks/b1/entries?after=99999999999999999999",
    ):
        assert 400 <= client.get(path, headers=headers).status_code < 500, path


def test_check_metadata_with_hostile_values_is_4xx(
    hostile_client: tuple[TestClient, dict[str, str], str],
) -> None:
    from tests.admin.conftest import generated_png

    client, headers, _ = hostile_client
    image = generated_png(4, size=96)
    for key in ("content_id", "uploader_id", "prompt", "generator_model", "seed"):
        for value in HOSTILE_ONE:
            metadata = encode_json({key: value})
            response = client.post(
                "/v1/check",
                files={"file": ("a.png", image, "image/png"), "metadata": (None, metadata)},
                headers=headers,
            )
            assert response.status_code < 500, (key, repr(value)[:30], response.text[:200])
