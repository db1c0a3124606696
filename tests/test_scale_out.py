"""Scale-out on PostgreSQL: two service processes (own data directories and ports) and two workers on
one database. A hash added through one service is matched through the other within 5 s; a notice
filed on one is alerted exactly once; stopping a service and a worker loses nothing acknowledged.
Also prints the figures docs/operations.md states (connections and index memory per process)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, make_url, select, text

from moderation.auth.service import api_keys
from moderation.db import make_engine, session_factory
from moderation.email.service import message_id_header
from moderation.kit import migrations
from moderation.kit.time import utc_now
from moderation.models.email_message import EmailMessage
from tests.conftest import PG_URL
from tests.email.smtp_server import SMTPServer
from tests.factories import jpeg
from tests.processes import Node, base_env, start_service, start_worker, wait_ready
from tests.takedown.conftest import COMPLETE_TID

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(not PG_URL, reason="needs MODERATION_TEST_DATABASE_URL (PostgreSQL)"),
]
ALERT_FROM = "alerts@moderation.test"


@pytest.fixture
def scale_url() -> Iterator[str]:
    """A database of its own (`<test database>_scale`), migrated from scratch."""
    assert PG_URL
    url = make_url(PG_URL).set(database=f"{make_url(PG_URL).database}_scale")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()
    rendered = url.render_as_string(hide_password=False)
    migrations.upgrade(rendered)
    yield rendered


def _key(engine: Engine, role: str) -> str:
    with session_factory(engine)() as session:
        _, plain = api_keys.create(session, name=f"scale-{role}", role=role, actor="test")
        session.commit()
    return plain


def _with_app_name(url: str, name: str) -> str:
    return make_url(url).update_query_dict({"application_name": name}).render_as_string(hide_password=False)


def _check(node: Node, key: str, data: bytes, content_id: str | None = None) -> httpx.Response:
    form = {"metadata": json.dumps({"content_id": content_id})} if content_id else {}
    return httpx.post(
        f"{node.url}/v1/check",
        headers={"Authorization": f"Bearer {key}"},
        files={"file": ("x.jpg", data, "image/jpeg")},
        data=form,
        timeout=30,
    )


def _file_notice(node: Node, key: str, content_id: str) -> int:
    response = httpx.post(
        f"{node.url}/v1/notices",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "regimes": ["us-take-it-down"],
            "reporter": {"email": "scale.reporter@example.org"},
            "content": {"content_ids": [content_id]},
            "fields": COMPLETE_TID,
        },
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _alert_rows(engine: Engine, notice_id: int) -> list[EmailMessage]:
    with session_factory(engine)() as session:
        return list(
            session.scalars(select(EmailMessage).where(EmailMessage.key.like(f"alert:{notice_id}:%")))
        )


def _wait_alerted(
    engine: Engine, smtp: SMTPServer, notice_id: int, timeout: float = 60
) -> list[EmailMessage]:
    """Until every alert email of the notice is sent and received, then a few more worker rounds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _alert_rows(engine, notice_id)
        expected = {message_id_header(r.key, r.id, ALERT_FROM) for r in rows}
        received = {m.message_id for m in smtp.received}
        if rows and all(r.state == "sent" for r in rows) and expected <= received:
            time.sleep(3)  # several more runs of both workers: nothing may be sent again
            return _alert_rows(engine, notice_id)
        time.sleep(0.3)
    raise AssertionError(f"notice {notice_id} not alerted in {timeout}s: {[(r.key, r.state) for r in rows]}")


def _assert_exactly_once(smtp: SMTPServer, rows: list[EmailMessage]) -> None:
    counts = Counter(m.message_id for m in smtp.received)
    for row in rows:
        assert counts[message_id_header(row.key, row.id, ALERT_FROM)] == 1, row.key


def test_two_services_and_two_workers_on_one_postgresql(scale_url: str, tmp_path: Path) -> None:
    engine = make_engine(scale_url)
    admin, checker, intake = (_key(engine, role) for role in ("admin", "checker", "intake"))
    smtp = SMTPServer().start()
    logs = tmp_path / "logs"
    common = {
        "MODERATION_SMTP_HOST": "127.0.0.1",
        "MODERATION_SMTP_PORT": str(smtp.port),
        "MODERATION_ALERT_FROM": ALERT_FROM,
        "MODERATION_ALERT_TO": "oncall@example.test",
    }
    # The workers' clock runs three days ahead, so every threshold of a new notice's 48-hour clock
    # (and its breach) is due at their first scan: one alert, the breach, is sent for the clock.
    ahead = (utc_now() + timedelta(days=3)).isoformat()
    worker_env = {**common, "MODERATION_WORKER_INTERVAL_SECONDS": "1", "MODERATION_FAKE_NOW": ahead}
    nodes: list[Node] = []
    try:
        a = start_service(
            "service-a", base_env(_with_app_name(scale_url, "svc-a"), tmp_path / "a", **common), logs
        )
        b = start_service(
            "service-b", base_env(_with_app_name(scale_url, "svc-b"), tmp_path / "b", **common), logs
        )
        nodes += [a, b]
        for name in ("worker-1", "worker-2"):
            env = base_env(_with_app_name(scale_url, name), tmp_path / name, **worker_env)
            nodes.append(start_worker(name, env, logs))
        w1 = nodes[2]
        wait_ready(a)
        wait_ready(b)

        # 1. A hash added through A is matched through B within 5 seconds.
        image = jpeg(91)
        assert _check(b, checker, image).json()["decision"] == "allow"
        bank = httpx.post(
            f"{a.url}/v1/banks",
            json={"name": "known", "action": "block"},
            headers={"Authorization": f"Bearer {admin}"},
            timeout=30,
        )
        assert bank.status_code == 201, bank.text
        added = httpx.post(
            f"{a.url}/v1/banks/known/entries",
            json={"hashes": [{"type": "sha256", "value": hashlib.sha256(image).hexdigest()}]},
            headers={"Authorization": f"Bearer {admin}"},
            timeout=30,
        )
        assert added.status_code == 201, added.text
        started = time.monotonic()
        while _check(b, checker, image).json()["decision"] != "block":
            assert time.monotonic() - started < 5, "service B did not see the bank change within 5 s"
            time.sleep(0.05)
        seen_after = time.monotonic() - started
        print(f"scale-out: hash added on A blocked on B after {seen_after:.2f}s")

        # 2. A notice filed on A is alerted exactly once, with two workers scanning and delivering.
        first = _file_notice(a, intake, "post-a")
        rows = _wait_alerted(engine, smtp, first)
        assert [r.key.rsplit(":", 1)[1] for r in rows] == ["breach"]  # the most severe threshold only
        _assert_exactly_once(smtp, rows)

        # 3. Stop service A and worker 1 while checks are being answered by A: every check A
        # acknowledged is readable through B, and a notice filed on A just before is alerted by worker 2.
        acknowledged: list[int] = []
        stop_sending = threading.Event()

        def traffic() -> None:
            seed = 1000
            while not stop_sending.is_set():
                seed += 1
                try:
                    response = _check(a, checker, jpeg(seed, size=(160, 120)))
                except httpx.TransportError:
                    return
                if response.status_code == 200:
                    acknowledged.append(int(response.json()["check_id"]))

        sender = threading.Thread(target=traffic)
        sender.start()
        last = _file_notice(a, intake, "post-last")
        deadline = time.monotonic() + 20
        while len(acknowledged) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        # uvicorn finishes the requests in flight, then re-raises SIGTERM (exit -15); the worker exits 0.
        assert a.stop() in (0, -15) and w1.stop() == 0
        assert "Application shutdown complete" in a.log()
        stop_sending.set()
        sender.join(timeout=30)
        assert acknowledged, "service A answered no checks before it stopped"
        for check_id in acknowledged:
            response = httpx.get(
                f"{b.url}/v1/check/{check_id}", headers={"Authorization": f"Bearer {checker}"}
            )
            assert response.status_code == 200, (check_id, response.text)
        notice = httpx.get(f"{b.url}/v1/notices/{last}", headers={"Authorization": f"Bearer {admin}"})
        assert notice.status_code == 200 and notice.json()["id"] == last
        _assert_exactly_once(smtp, _wait_alerted(engine, smtp, last))
        print(f"scale-out: {len(acknowledged)} checks acknowledged by A before it stopped, all read on B")

        # Measured: connections per process, and the match index memory of a service process.
        with engine.connect() as connection:
            per_process = dict(
                connection.execute(
                    text(
                        "SELECT application_name, count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND application_name <> '' "
                        "GROUP BY application_name ORDER BY 1"
                    )
                ).all()
            )
        ready = httpx.get(f"{b.url}/readyz").json()["checks"]["match_index"]
        print(
            f"scale-out: connections per process {per_process}; index {ready['entries']} entries, "
            f"{ready['memory_bytes']} bytes"
        )
        assert per_process.get("svc-b", 0) <= 30  # pool_size 10 + max_overflow 20

        # Each job run takes its lock: the workers' logs show runs skipped because the other held it.
        assert "another worker holds its lock" in "".join(n.log() for n in nodes[2:])
        for node in nodes:
            for line in node.log().splitlines():
                if line.startswith("{"):
                    assert json.loads(line)["logger"]  # one JSON object per line
            for secret in (admin, checker, intake, "scale.reporter@example.org"):
                assert secret not in node.log(), f"{secret[:8]}… in the log of {node.name}"
    finally:
        for node in nodes:
            node.stop()
        smtp.stop()
        engine.dispose()
