"""Concurrent writers never fork the chain (PostgreSQL advisory lock; SQLite single writer)."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, func, select

from moderation.audit.service import audit
from moderation.db import session_factory
from moderation.models.audit_event import AuditEvent


def test_concurrent_appends_form_one_chain(engine: Engine) -> None:
    writers, per_writer = 8, 15
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers)

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_writer):
                with session_factory(engine)() as session:
                    audit.record(session, actor=f"w{n}", action="race", subject_type="t", subject_id=i)
                    session.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with session_factory(engine)() as session:
        total = session.scalar(select(func.count()).select_from(AuditEvent))
        distinct_prev = session.scalar(select(func.count(func.distinct(AuditEvent.prev_hash))))
        result = audit.verify(session)
    assert total == writers * per_writer
    assert distinct_prev == total  # no two events claim the same predecessor: no fork
    assert result.ok, result
