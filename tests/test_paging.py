"""One paging style for every API list: pages cross a boundary with no duplicate and no gap, a
tampered cursor is 422 `invalid_cursor`, and the deprecated aliases (`before_id`, `after`, `offset`)
still page as before."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, create_engine, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.banks.service import banks
from moderation.config import Settings
from moderation.kit.paging import (
    ID_ASC,
    InvalidCursor,
    KeyPart,
    decode_cursor,
    encode_cursor,
    keyset_after,
    page_of,
)
from moderation.kit.time import frozen_clock
from tests.factories import generated_png, make_notice, post_check, random_pdq

Auth = Callable[[str], dict[str, str]]


def walk(client: TestClient, path: str, headers: dict[str, str], **params: Any) -> list[list[Any]]:
    """Every page of a list, following `next_cursor`."""
    pages: list[list[Any]] = []
    cursor = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = client.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "paging does not end"


def assert_tampered_cursors_refused(
    client: TestClient, path: str, headers: dict[str, str], cursor: str
) -> None:
    raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    tampered = [
        "garbage",
        cursor[:-2],
        encode_cursor(*raw, 1),  # one value too many
        encode_cursor(*(["x"] * len(raw))),  # wrong kinds
        encode_cursor(*([None] * len(raw))),
        "A" * 2000,
    ]
    for bad in tampered:
        response = client.get(path, params={"cursor": bad}, headers=headers)
        assert (response.status_code, response.json()["code"]) == (422, "invalid_cursor"), (path, bad)


def ids(pages: list[list[Any]]) -> list[Any]:
    return [item["id"] for page in pages for item in page]


def test_notice_queue_pages_through_equal_due_times(
    app_client: TestClient, auth: Auth, engine: Engine, settings: Settings
) -> None:
    received = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with frozen_clock(received):
        # Equal due times: the id breaks the tie across the page boundary.
        made = [make_notice(engine, settings, received_at=received) for _ in range(7)]
        admin = auth("admin")
        pages = walk(app_client, "/v1/notices", admin, limit=3)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert ids(pages) == made
    first = app_client.get("/v1/notices", params={"limit": 3}, headers=admin).json()
    assert_tampered_cursors_refused(app_client, "/v1/notices", admin, first["next_cursor"])


def test_audit_pages_by_cursor_and_by_the_deprecated_before_id(
    app_client: TestClient, auth: Auth, session: Session
) -> None:
    admin = auth("admin")
    for i in range(9):
        audit.record(session, actor="t", action="paging.test", subject_type="thing", subject_id=i)
    session.commit()
    pages = walk(app_client, "/v1/audit", admin, limit=4, action="paging.test")
    assert [len(p) for p in pages] == [4, 4, 1]
    newest_first = ids(pages)
    assert newest_first == sorted(newest_first, reverse=True) and len(set(newest_first)) == 9

    legacy: list[int] = []
    before_id = None
    while True:
        params = {"limit": 4, "action": "paging.test"} | ({"before_id": before_id} if before_id else {})
        body = app_client.get("/v1/audit", params=params, headers=admin).json()
        legacy += [e["id"] for e in body["items"]]
        before_id = body["next_before_id"]
        if before_id is None:
            break
    assert legacy == newest_first
    first = app_client.get("/v1/audit", params={"limit": 4}, headers=admin).json()
    assert_tampered_cursors_refused(app_client, "/v1/audit", admin, first["next_cursor"])


def test_bank_entries_page_by_cursor_and_by_the_deprecated_after(
    app_client: TestClient, auth: Auth, session: Session
) -> None:
    rng = random.Random(7)
    banks.create(session, name="paged", action="block", actor="t")
    banks.add_hashes(
        session, "paged", [("pdq", random_pdq(rng)) for _ in range(11)], source="upload", actor="t"
    )
    session.commit()
    admin = auth("admin")
    pages = walk(app_client, "/v1/banks/paged/entries", admin, limit=5)
    assert [len(p) for p in pages] == [5, 5, 1]
    by_cursor = ids(pages)
    assert by_cursor == sorted(by_cursor) and len(set(by_cursor)) == 11

    legacy: list[int] = []
    after = None
    while True:
        params = {"limit": 5} | ({"after": after} if after else {})
        body = app_client.get("/v1/banks/paged/entries", params=params, headers=admin).json()
        legacy += [e["id"] for e in body["items"]]
        after = body["next_after"]
        if after is None:
            break
    assert legacy == by_cursor
    first = app_client.get("/v1/banks/paged/entries", params={"limit": 5}, headers=admin).json()
    assert_tampered_cursors_refused(app_client, "/v1/banks/paged/entries", admin, first["next_cursor"])


def test_review_queue_and_statements_page_across_equal_risks(app_client: TestClient, auth: Auth) -> None:
    checker, admin = auth("checker"), auth("admin")
    for seed in range(7):
        metadata = {"source": "generated", "prompt": "a lighthouse", "content_id": "one-upload"}
        result = post_check(app_client, checker, generated_png(seed), metadata, content_type="image/png")
        assert result.json()["decision"] == "review", result.text
    pages = walk(app_client, "/v1/review", admin, limit=3, state="all")
    assert [len(p) for p in pages] == [3, 3, 1]
    queue = ids(pages)
    assert len(set(queue)) == 7
    # Equal risks: the id breaks the tie, oldest first.
    assert [item["risk"] for page in pages for item in page] == sorted(
        (item["risk"] for page in pages for item in page), reverse=True
    )
    assert queue == sorted(queue)
    by_offset = [
        i["id"]
        for offset in (0, 3, 6)
        for i in app_client.get(
            "/v1/review", params={"limit": 3, "state": "all", "offset": offset}, headers=admin
        ).json()["items"]
    ]
    assert by_offset == queue
    first = app_client.get("/v1/review", params={"limit": 3, "state": "all"}, headers=admin).json()
    assert_tampered_cursors_refused(app_client, "/v1/review", admin, first["next_cursor"])

    statement_pages = walk(app_client, "/v1/statements", checker, limit=3, content_id="one-upload")
    statements = ids(statement_pages)
    assert len(statements) == len(set(statements)) >= 7 and statements == sorted(statements)
    assert max(len(p) for p in statement_pages) == 3
    first = app_client.get(
        "/v1/statements", params={"limit": 3, "content_id": "one-upload"}, headers=checker
    ).json()
    bad = app_client.get(
        "/v1/statements",
        params={"limit": 3, "content_id": "one-upload", "cursor": first["next_cursor"][:-2]},
        headers=checker,
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_cursor")


# --- the helper itself ----------------------------------------------------------------------------

ROWS = Table(
    "rows",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("risk", Float, nullable=False),
    Column("due", String, nullable=True),
)


@pytest.fixture
def rows() -> Engine:
    engine = create_engine("sqlite://")
    ROWS.metadata.create_all(engine)
    values = [
        {"id": i, "risk": [0.5, 0.9, 0.5, 0.1][i % 4], "due": [None, "2026-01-02", "2026-01-01"][i % 3]}
        for i in range(1, 24)
    ]
    with engine.begin() as connection:
        connection.execute(insert(ROWS), values)
    return engine


@pytest.mark.parametrize(
    ("columns", "key", "order"),
    [
        ((ROWS.c.risk, ROWS.c.id), (KeyPart("float", descending=True), KeyPart("int")), "risk_desc"),
        ((ROWS.c.due, ROWS.c.id), (KeyPart("str", nullable=True), KeyPart("int")), "due_nulls_last"),
        ((ROWS.c.id,), (KeyPart("int", descending=True),), "id_desc"),
    ],
)
def test_keyset_walk_matches_the_full_order(rows: Engine, columns: Any, key: Any, order: str) -> None:
    orderings = {
        "risk_desc": (ROWS.c.risk.desc(), ROWS.c.id),
        "due_nulls_last": (ROWS.c.due.asc().nulls_last(), ROWS.c.id),
        "id_desc": (ROWS.c.id.desc(),),
    }
    with rows.connect() as connection:
        everything = list(connection.execute(select(ROWS).order_by(*orderings[order])))
        walked: list[Any] = []
        cursor = None
        while True:
            query = select(ROWS)
            if cursor:
                query = keyset_after(query, columns, key, decode_cursor(cursor, key))
            fetched = list(connection.execute(query.order_by(*orderings[order]).limit(5 + 1)))
            page = page_of(fetched, 5, lambda r: tuple(getattr(r, c.name) for c in columns))
            walked += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
    assert [r.id for r in walked] == [r.id for r in everything]


def test_a_cursor_decodes_only_to_its_lists_key() -> None:
    cursor = encode_cursor(datetime(2026, 1, 1, tzinfo=UTC), 5)
    time_key = (KeyPart("time", nullable=True), KeyPart("int"))
    assert decode_cursor(cursor, time_key) == (datetime(2026, 1, 1, tzinfo=UTC), 5)
    for key in (ID_ASC, (KeyPart("float"), KeyPart("int")), (KeyPart("time"), KeyPart("int", maximum=4))):
        with pytest.raises(InvalidCursor):
            decode_cursor(cursor, key)
    for bad in (encode_cursor(True), encode_cursor(-1), encode_cursor(2**63), encode_cursor(1.5), "%%%"):
        with pytest.raises(InvalidCursor):
            decode_cursor(bad, ID_ASC)
