"""All SQL of the reporting feature: report cases, their files and the links of later matches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moderation.models.report_case import CaseState, ReportCase
from moderation.models.report_file import ReportFile
from moderation.models.report_link import ReportLink


class ReportingRepository:
    def add_case(self, session: Session, case: ReportCase) -> ReportCase | None:
        """Insert in a savepoint; None when a case for the same source exists already."""
        try:
            with session.begin_nested():
                session.add(case)
                session.flush()
        except IntegrityError:
            return None
        return case

    def add_file(self, session: Session, file: ReportFile) -> ReportFile:
        session.add(file)
        session.flush()
        return file

    def add_link(self, session: Session, link: ReportLink) -> ReportLink | None:
        try:
            with session.begin_nested():
                session.add(link)
                session.flush()
        except IntegrityError:
            return None
        return link

    def get_case(self, session: Session, case_id: int) -> ReportCase | None:
        return session.get(ReportCase, case_id)

    def case_by_source(self, session: Session, source: str, source_id: str) -> ReportCase | None:
        return session.scalars(
            select(ReportCase).where(ReportCase.source == source, ReportCase.source_id == source_id)
        ).first()

    def link_by_source(self, session: Session, source: str, source_id: str) -> ReportLink | None:
        return session.scalars(
            select(ReportLink).where(ReportLink.source == source, ReportLink.source_id == source_id)
        ).first()

    def list_cases(
        self, session: Session, *, state: str | None, after_id: int | None, limit: int
    ) -> list[ReportCase]:
        query = select(ReportCase).order_by(ReportCase.id.desc()).limit(limit)
        if state is not None:
            query = query.where(ReportCase.state == state)
        if after_id is not None:
            query = query.where(ReportCase.id < after_id)
        return list(session.scalars(query).all())

    def files(self, session: Session, case_id: int) -> list[ReportFile]:
        return list(
            session.scalars(
                select(ReportFile).where(ReportFile.case_id == case_id).order_by(ReportFile.id)
            ).all()
        )

    def get_file(self, session: Session, case_id: int, file_id: int) -> ReportFile | None:
        return session.scalars(
            select(ReportFile).where(ReportFile.id == file_id, ReportFile.case_id == case_id)
        ).first()

    def links(self, session: Session, case_id: int) -> list[ReportLink]:
        return list(
            session.scalars(
                select(ReportLink).where(ReportLink.case_id == case_id).order_by(ReportLink.id)
            ).all()
        )

    def earliest_case_with_file(self, session: Session, *, sha256: str, md5: str | None) -> ReportCase | None:
        """The first case (not dismissed) holding a file with these bytes."""
        match = ReportFile.sha256 == sha256
        if md5:
            match = or_(match, ReportFile.md5 == md5)
        return session.scalars(
            select(ReportCase)
            .join(ReportFile, ReportFile.case_id == ReportCase.id)
            .where(match, ReportCase.state != CaseState.DISMISSED)
            .order_by(ReportCase.id)
            .limit(1)
        ).first()

    def due_submissions(self, session: Session, *, now: datetime, limit: int) -> list[int]:
        """Confirmed cases no live worker holds (never claimed, or the lease ran out)."""
        return list(
            session.scalars(
                select(ReportCase.id)
                .where(
                    ReportCase.state == CaseState.CONFIRMED,
                    or_(ReportCase.lease_until.is_(None), ReportCase.lease_until < now),
                )
                .order_by(ReportCase.id)
                .limit(limit)
            ).all()
        )

    def claim(
        self, session: Session, case_id: int, *, now: datetime, lease_until: datetime, worker: str
    ) -> bool:
        """Conditional UPDATE: False when another worker holds the case or it is no longer confirmed."""
        result = session.execute(
            update(ReportCase)
            .where(
                ReportCase.id == case_id,
                ReportCase.state == CaseState.CONFIRMED,
                or_(ReportCase.lease_until.is_(None), ReportCase.lease_until < now),
            )
            .values(lease_until=lease_until, claimed_by=worker, attempts=ReportCase.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    def purgeable_files(
        self, session: Session, *, now: datetime, limit: int
    ) -> list[tuple[ReportFile, ReportCase]]:
        """Files still holding bytes whose case no longer needs them: filed cases past their preservation
        (and any legal hold), dismissed cases, and cases with a law-enforcement destruction request."""
        rows = session.execute(
            select(ReportFile, ReportCase)
            .join(ReportCase, ReportCase.id == ReportFile.case_id)
            .where(
                ReportFile.ciphertext.is_not(None),
                or_(
                    ReportCase.destruction_request.is_not(None),
                    ReportCase.state == CaseState.DISMISSED,
                    (ReportCase.state == CaseState.FILED)
                    & (ReportCase.preserve_until < now)
                    & or_(ReportCase.legal_hold_until.is_(None), ReportCase.legal_hold_until < now),
                ),
            )
            .order_by(ReportFile.id)
            .limit(limit)
        ).all()
        return [(f, c) for f, c in rows]

    def cases_to_destroy(self, session: Session, *, limit: int) -> list[ReportCase]:
        return list(
            session.scalars(
                select(ReportCase)
                .where(ReportCase.destruction_request.is_not(None), ReportCase.destroyed_at.is_(None))
                .order_by(ReportCase.id)
                .limit(limit)
            ).all()
        )

    def set_values(self, session: Session, row: Any, **values: Any) -> None:
        for key, value in values.items():
            setattr(row, key, value)
        session.flush()


reporting_repository = ReportingRepository()
