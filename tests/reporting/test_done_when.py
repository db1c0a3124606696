"""Issue 22 "Done when": a child-safety bank match opens one case; confirming it files exactly one
report with schema-valid XML (fileViewedByEsp true only for files a person opened), also when the
worker dies between upload and finish; the one-year hold blocks purge; a second match of the same file
links to the first report; only the reporting role opens a case."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.db import session_factory
from moderation.kit.time import set_clock, utc_now
from moderation.models.audit_event import AuditEvent
from moderation.models.bank import Bank
from moderation.models.bank_entry import BankEntry
from moderation.models.report_case import ReportCase
from moderation.models.report_file import ReportFile
from moderation.reporting.client import CyberTipClient
from moderation.reporting.schema import validate
from moderation.reporting.service import reporting
from tests.reporting.conftest import after_lease, placeholder, real_client, run_submissions, upload
from tests.reporting.fake_ncmec import FakeCyberTip

Auth = Callable[[str], dict[str, str]]


def _open_case(
    client: TestClient, auth: Auth, csam_bank: Callable[[bytes], int], seed: int, **meta: Any
) -> int:
    data = placeholder(seed)
    csam_bank(data)
    body = upload(
        client, auth("checker"), data, content_id=f"post-{seed}", uploader_id=f"user-{seed}", **meta
    )
    assert body["decision"] == "block"
    cases = client.get("/v1/reporting/cases", headers=auth("reporter")).json()["items"]
    ours = [c for c in cases if c["source_id"] == str(body["check_id"])]
    assert len(ours) == 1
    return int(ours[0]["id"])


def test_a_child_safety_bank_match_opens_one_case_and_other_banks_none(
    client: TestClient, auth: Auth, csam_bank: Callable[[bytes], int], engine: Engine
) -> None:
    from tests.factories import bank_image

    other = placeholder(7)
    bank_image(engine, "spam-bank", other, action="block")
    assert upload(client, auth("checker"), other, content_id="spam")["decision"] == "block"
    assert client.get("/v1/reporting/cases", headers=auth("reporter")).json()["items"] == []

    case_id = _open_case(client, auth, csam_bank, 1)
    case = client.get(f"/v1/reporting/cases/{case_id}", headers=auth("reporter")).json()
    assert case["state"] == "open" and case["source"] == "check"
    assert case["account"]["esp_identifier"] == "user-1"
    assert len(case["files"]) == 1 and case["files"][0]["held"] and case["files"][0]["viewed_at"] is None
    assert case["files"][0]["sha256"] == hashlib.sha256(placeholder(1)).hexdigest()
    assert case["ncmec_report_id"] is None  # never filed automatically
    assert len(client.get("/v1/reporting/cases", headers=auth("reporter")).json()["items"]) == 1


def test_only_the_reporting_role_opens_a_case(
    client: TestClient, auth: Auth, csam_bank: Callable[[bytes], int]
) -> None:
    case_id = _open_case(client, auth, csam_bank, 2)
    for role in ("admin", "checker", "intake"):
        headers = auth(role)
        assert client.get("/v1/reporting/cases", headers=headers).status_code == 403
        refused = client.get(f"/v1/reporting/cases/{case_id}", headers=headers)
        assert refused.status_code == 403, role
        assert client.get(f"/v1/reporting/cases/{case_id}/files/1", headers=headers).status_code == 403
        assert client.post(f"/v1/reporting/cases/{case_id}/confirm", headers=headers).status_code == 403
    assert refused.json()["code"] == "forbidden" and "reporter" in refused.json()["message"]
    assert client.get(f"/v1/reporting/cases/{case_id}").status_code == 401
    assert client.get(f"/v1/reporting/cases/{case_id}", headers=auth("reporter")).status_code == 200
    assert client.get("/v1/reporting/cases/999999", headers=auth("reporter")).json()["code"] == (
        "report_case_not_found"
    )


def _fileinfo(fake: FakeCyberTip, report_id: int) -> ET.Element:
    report = fake.reports[report_id]
    assert len(report.files) == 1 and len(report.files[0].details) == 1
    details = report.files[0].details[0]
    return validate(details)


def test_confirming_files_exactly_one_report_with_viewed_flags_from_the_case(
    client: TestClient,
    auth: Auth,
    csam_bank: Callable[[bytes], int],
    engine: Engine,
    reporting_settings: Settings,
    cybertip: FakeCyberTip,
    session: Session,
) -> None:
    reporter = auth("reporter")
    viewed_case = _open_case(client, auth, csam_bank, 3)
    unviewed_case = _open_case(client, auth, csam_bank, 4)
    file_id = client.get(f"/v1/reporting/cases/{viewed_case}", headers=reporter).json()["files"][0]["id"]
    shown = client.get(f"/v1/reporting/cases/{viewed_case}/files/{file_id}", headers=reporter)
    assert shown.status_code == 200 and shown.content == placeholder(3)
    assert shown.headers["cache-control"] == "no-store"
    account = {
        "screen_name": "uploader3",
        "emails": ["uploader3@example.test"],
        "ip_events": [{"ip_address": "192.0.2.10", "event_name": "Login"}],
    }
    assert client.put(
        f"/v1/reporting/cases/{viewed_case}/account", headers=auth("intake"), json=account
    ).json() == {
        "id": viewed_case,
        "state": "open",
    }
    for case_id in (viewed_case, unviewed_case):
        confirmed = client.post(f"/v1/reporting/cases/{case_id}/confirm", headers=reporter)
        assert confirmed.status_code == 200 and confirmed.json()["state"] == "confirmed"
    assert cybertip.reports == {}  # confirming files nothing by itself: the worker does

    run = run_submissions(engine, reporting_settings)
    assert sorted(run.filed) == sorted([viewed_case, unviewed_case])
    assert run_submissions(engine, reporting_settings).claimed == 0  # filed once, never again
    assert len(cybertip.reports) == 2 and len(cybertip.finished) == 2

    first = client.get(f"/v1/reporting/cases/{viewed_case}", headers=reporter).json()
    second = client.get(f"/v1/reporting/cases/{unviewed_case}", headers=reporter).json()
    assert first["state"] == "filed" and first["environment"] == "test"
    report = cybertip.reports[first["ncmec_report_id"]]
    root = validate(report.xml)
    assert root.findtext("incidentSummary/incidentType") == (
        "Child Pornography (possession, manufacture, and distribution)"
    )
    assert root.findtext("reporter/reportingPerson/email") == "trust-safety@platform.example"
    assert root.findtext("personOrUserReported/espIdentifier") == "user-3"
    assert root.findtext("personOrUserReported/screenName") == "uploader3"
    assert root.findtext("personOrUserReported/ipCaptureEvent/ipAddress") == "192.0.2.10"
    assert report.files[0].data == placeholder(3)
    assert report.files[0].md5 == hashlib.md5(placeholder(3)).hexdigest()  # noqa: S324

    viewed = _fileinfo(cybertip, first["ncmec_report_id"])
    unviewed = _fileinfo(cybertip, second["ncmec_report_id"])
    assert viewed.findtext("fileViewedByEsp") == "true"
    assert unviewed.findtext("fileViewedByEsp") == "false"
    assert viewed.findtext("exifViewedByEsp") == unviewed.findtext("exifViewedByEsp") == "false"
    hashes = {h.get("hashType"): h.text for h in viewed.findall("originalFileHash")}
    assert hashes["MD5"] == hashlib.md5(placeholder(3)).hexdigest()  # noqa: S324
    assert hashes["SHA256"] == hashlib.sha256(placeholder(3)).hexdigest()

    actions = [
        e.action
        for e in session.scalars(
            select(AuditEvent).where(
                AuditEvent.subject_type == "report_case", AuditEvent.subject_id == str(viewed_case)
            )
        )
    ]
    for expected in (
        "reporting.case_opened",
        "reporting.file_viewed",
        "reporting.account_set",
        "reporting.case_confirmed",
        "reporting.report_submitted",
        "reporting.file_uploaded",
        "reporting.file_details_sent",
        "reporting.report_filed",
    ):
        assert expected in actions


class _Killed(BaseException):
    """The worker process dying: not an Exception, so nothing in the submission catches it."""


class _DiesBeforeFinish(CyberTipClient):
    def finish(self, report_id: int) -> Any:
        raise _Killed


class _DiesAfterUpload(CyberTipClient):
    """The upload reached NCMEC, but the process died before storing its answer."""

    def upload(self, report_id: int, filename: str, data: bytes) -> Any:
        super().upload(report_id, filename, data)
        raise _Killed


class _DiesAfterFinish(CyberTipClient):
    """NCMEC filed the report, but the process died before recording it."""

    def finish(self, report_id: int) -> Any:
        super().finish(report_id)
        raise _Killed


@pytest.mark.parametrize("death", [_DiesBeforeFinish, _DiesAfterUpload, _DiesAfterFinish])
def test_a_worker_killed_between_upload_and_finish_still_files_exactly_one_report(
    death: type[CyberTipClient],
    client: TestClient,
    auth: Auth,
    csam_bank: Callable[[bytes], int],
    engine: Engine,
    reporting_settings: Settings,
    cybertip: FakeCyberTip,
) -> None:
    from moderation.reporting.client import endpoint

    case_id = _open_case(client, auth, csam_bank, 5)
    assert client.post(f"/v1/reporting/cases/{case_id}/confirm", headers=auth("reporter")).status_code == 200
    with pytest.raises(_Killed):
        run_submissions(engine, reporting_settings, client_factory=lambda s: death(endpoint(s)))
    assert len(cybertip.reports) == 1
    assert len(cybertip.finished) == (1 if death is _DiesAfterFinish else 0)
    # A second worker leaves the case alone while the dead one's lease lasts ...
    assert run_submissions(engine, reporting_settings).claimed == 0
    after_lease(reporting_settings)
    run = run_submissions(engine, reporting_settings)
    assert run.filed == [case_id]
    assert len(cybertip.finished) == 1, "exactly one report is ever finished"
    filed = cybertip.finished[0]
    assert len(filed.files) == 1 and len(filed.files[0].details) == 1
    unfinished = [r for r in cybertip.reports.values() if not r.finished]
    assert all(r.retracted for r in unfinished)  # an interrupted upload's report is retracted, not left
    case = client.get(f"/v1/reporting/cases/{case_id}", headers=auth("reporter")).json()
    assert case["state"] == "filed" and case["ncmec_report_id"] == filed.report_id


def test_a_failure_between_upload_and_finish_is_retried_and_shown_with_its_code(
    client: TestClient,
    auth: Auth,
    csam_bank: Callable[[bytes], int],
    engine: Engine,
    reporting_settings: Settings,
    cybertip: FakeCyberTip,
) -> None:
    case_id = _open_case(client, auth, csam_bank, 6)
    client.post(f"/v1/reporting/cases/{case_id}/confirm", headers=auth("reporter"))
    cybertip.fail("/finish", 1000, "Server Error", status=500)
    run = run_submissions(engine, reporting_settings)
    assert run.retrying == [case_id]
    shown = client.get(f"/v1/reporting/cases/{case_id}", headers=auth("reporter")).json()
    assert shown["state"] == "confirmed" and shown["last_error_code"] == 1000
    set_clock(utc_now() + timedelta(seconds=reporting_settings.ncmec_retry_seconds + 1))
    assert run_submissions(engine, reporting_settings).filed == [case_id]
    assert len(cybertip.reports) == 1 and len(cybertip.finished) == 1
    assert len(cybertip.finished[0].files) == 1  # the upload was not repeated


def test_a_refusal_fails_the_case_with_the_response_code_and_a_reconfirmation_files_it(
    client: TestClient,
    auth: Auth,
    csam_bank: Callable[[bytes], int],
    engine: Engine,
    reporting_settings: Settings,
    cybertip: FakeCyberTip,
) -> None:
    case_id = _open_case(client, auth, csam_bank, 8)
    client.post(f"/v1/reporting/cases/{case_id}/confirm", headers=auth("reporter"))
    cybertip.fail("/upload", 4200, "Malformed file")
    assert run_submissions(engine, reporting_settings).failed == [case_id]
    shown = client.get(f"/v1/reporting/cases/{case_id}", headers=auth("reporter")).json()
    assert shown["state"] == "failed" and shown["last_error_code"] == 4200
    assert "Malformed file" in shown["last_error"]
    assert all(r.retracted for r in cybertip.reports.values())  # nothing half-filed left behind
    assert client.post(f"/v1/reporting/cases/{case_id}/confirm", headers=auth("reporter")).status_code == 200
    assert run_submissions(engine, reporting_settings).filed == [case_id]
    assert len(cybertip.finished) == 1


def test_an_expired_unfinished_report_is_replaced_not_duplicated(
    client: TestClient,
    auth: Auth,
    csam_bank: Callable[[bytes], int],
    engine: Engine,
    reporting_settings: Settings,
    cybertip: FakeCyberTip,
) -> None:
    from moderation.reporting.client import endpoint

    case_id = _open_case(client, auth, csam_bank, 9)
    client.post(f"/v1/reporting/cases/{case_id}/confirm", headers=auth("reporter"))
    with pytest.raises(_Killed):
        run_submissions(engine, reporting_settings, client_factory=lambda s: _DiesBeforeFinish(endpoint(s)))
    (stale,) = cybertip.reports
    cybertip.forget(stale)  # NCMEC deleted it: the finish after the restart answers 5001
    after_lease(reporting_settings)
    assert run_submissions(engine, reporting_settings).retrying == [case_id]
    set_clock(utc_now() + timedelta(seconds=reporting_settings.ncmec_retry_seconds + 1))
    assert run_submissions(engine, reporting_settings).filed == [case_id]
    assert len(cybertip.finished) == 1


def _file_case(
    client: TestClient,
    auth: Auth,
    csam_bank: Callable[[bytes], int],
    engine: Engine,
    settings: Settings,
    seed: int,
) -> int:
    case_id = _open_case(client, auth, csam_bank, seed)
    client.post(f"/v1/reporting/cases/{case_id}/confirm", headers=auth("reporter"))
    assert run_submissions(engine, settings).filed == [case_id]
    return case_id


def _held(engine: Engine, case_id: int) -> bool:
    with session_factory(engine)() as s:
        return s.scalars(select(ReportFile).where(ReportFile.case_id == case_id)).one().ciphertext is not None


def _purge(engine: Engine) -> int:
    with session_factory(engine)() as s:
        purged = reporting.purge(s, actor="test")
        s.commit()
    return purged


def test_filing_holds_the_evidence_for_a_year_and_blocks_purge(
    client: TestClient,
    auth: Auth,
    csam_bank: Callable[[bytes], int],
    engine: Engine,
    reporting_settings: Settings,
) -> None:
    case_id = _file_case(client, auth, csam_bank, engine, reporting_settings, 10)
    case = client.get(f"/v1/reporting/cases/{case_id}", headers=auth("reporter")).json()
    filed_at = utc_now()
    assert case["preserve_until"] is not None
    set_clock(filed_at + timedelta(days=364))
    assert _purge(engine) == 0 and _held(engine, case_id)
    set_clock(filed_at + timedelta(days=366))
    assert _purge(engine) == 1 and not _held(engine, case_id)


def test_a_legal_hold_extends_preservation_and_a_destruction_request_is_carried_out(
    client: TestClient,
    auth: Auth,
    csam_bank: Callable[[bytes], int],
    engine: Engine,
    reporting_settings: Settings,
) -> None:
    reporter = auth("reporter")
    kept = _file_case(client, auth, csam_bank, engine, reporting_settings, 11)
    destroyed = _file_case(client, auth, csam_bank, engine, reporting_settings, 12)
    now = utc_now()
    hold = {"until": (now + timedelta(days=800)).isoformat(), "note": "grand jury subpoena 24-117"}
    assert (
        client.post(f"/v1/reporting/cases/{kept}/legal-hold", headers=reporter, json=hold).status_code == 200
    )
    request = {"agency": "Example County Sheriff", "reference": "LE-2026-0042"}
    answer = client.post(
        f"/v1/reporting/cases/{destroyed}/destruction-request", headers=reporter, json=request
    )
    assert answer.status_code == 200 and answer.json()["destruction_requested"] is True
    assert _purge(engine) == 1  # the destruction request, preservation notwithstanding
    assert _held(engine, kept) and not _held(engine, destroyed)
    gone = client.get(f"/v1/reporting/cases/{destroyed}", headers=reporter).json()
    assert gone["destroyed_at"] is not None and gone["account"] == {
        "esp_identifier": None,
        "screen_name": None,
        "display_names": [],
        "emails": [],
        "profile_urls": [],
        "ip_events": [],
        "additional_info": None,
    }
    set_clock(now + timedelta(days=400))
    assert _purge(engine) == 0 and _held(engine, kept)  # past the year, within the legal hold
    set_clock(now + timedelta(days=801))
    assert _purge(engine) == 1 and not _held(engine, kept)


def test_a_second_match_of_a_reported_file_links_to_the_first_report_and_stays_down(
    client: TestClient,
    auth: Auth,
    csam_bank: Callable[[bytes], int],
    engine: Engine,
    reporting_settings: Settings,
    session: Session,
) -> None:
    case_id = _file_case(client, auth, csam_bank, engine, reporting_settings, 13)
    again = upload(client, auth("checker"), placeholder(13), content_id="repost", uploader_id="user-99")
    assert again["decision"] == "block"
    cases = client.get("/v1/reporting/cases", headers=auth("reporter")).json()["items"]
    assert [c["id"] for c in cases] == [case_id]
    case = client.get(f"/v1/reporting/cases/{case_id}", headers=auth("reporter")).json()
    assert [(link["check_id"], link["content_id"], link["uploader_id"]) for link in case["links"]] == [
        (again["check_id"], "repost", "user-99")
    ]
    linked = session.scalars(select(AuditEvent).where(AuditEvent.action == "reporting.match_linked")).one()
    assert linked.details["ncmec_report_id"] == case["ncmec_report_id"]
    # The reported file is in the stay-down bank under its hashes.
    stay_down = session.scalars(select(Bank).where(Bank.name == "stay-down")).one()
    values = {e.value for e in session.scalars(select(BankEntry).where(BankEntry.bank_id == stay_down.id))}
    assert hashlib.sha256(placeholder(13)).hexdigest() in values
    # The same repost again is not linked twice.
    upload(client, auth("checker"), placeholder(13), content_id="repost", uploader_id="user-99")
    case = client.get(f"/v1/reporting/cases/{case_id}", headers=auth("reporter")).json()
    assert len(case["links"]) == 1


def test_the_test_environment_is_the_default_and_production_needs_an_explicit_setting(
    reporting_settings: Settings,
) -> None:
    from moderation.exceptions import ConfigurationError
    from moderation.reporting.client import HOSTS, endpoint

    bare = reporting_settings.model_copy(update={"ncmec_base_url": None})
    assert endpoint(bare).base_url == HOSTS["test"] == "https://exttest.cybertip.org/ispws"
    production = bare.model_copy(update={"ncmec_environment": "production"})
    assert endpoint(production).base_url == "https://report.cybertip.org/ispws"
    with pytest.raises(ConfigurationError):
        endpoint(reporting_settings.model_copy(update={"ncmec_environment": "production"}))
    with pytest.raises(ConfigurationError):
        endpoint(bare.model_copy(update={"ncmec_password": None}))


def test_the_fake_answers_status_and_refuses_bad_credentials(reporting_settings: Settings) -> None:
    from moderation.reporting.client import endpoint
    from moderation.reporting.errors import CyberTipError

    good = real_client(reporting_settings)
    assert good.status().code == 0
    bad = CyberTipClient(endpoint(reporting_settings.model_copy(update={"ncmec_password": "wrong"})))
    with pytest.raises(CyberTipError) as refused:
        bad.status()
    assert refused.value.http_status == 401 and refused.value.code == 2000 and refused.value.permanent
    good.close()
    bad.close()
    assert isinstance(httpx.HTTPError, type)


def test_a_case_row_is_never_duplicated_for_one_check(
    client: TestClient, auth: Auth, csam_bank: Callable[[bytes], int], session: Session
) -> None:
    _open_case(client, auth, csam_bank, 14)
    # The identical request again is answered from the check cache: no second case, no link.
    upload(client, auth("checker"), placeholder(14), content_id="post-14", uploader_id="user-14")
    assert len(session.scalars(select(ReportCase)).all()) == 1


def test_the_worker_jobs_file_and_purge(
    client: TestClient,
    auth: Auth,
    csam_bank: Callable[[bytes], int],
    engine: Engine,
    reporting_settings: Settings,
    cybertip: FakeCyberTip,
) -> None:
    from moderation.jobs import JobContext
    from moderation.reporting.tasks import purge_files_job, submit_reports_job
    from moderation.worker.runner import load_jobs

    names = [job.name for job in load_jobs()]
    assert "reporting.submit_reports" in names and "reporting.purge_files" in names
    case_id = _open_case(client, auth, csam_bank, 15)
    client.post(f"/v1/reporting/cases/{case_id}/confirm", headers=auth("reporter"))
    ctx = JobContext(
        name="reporting.submit_reports", engine=engine, settings=reporting_settings, worker_id="w"
    )
    assert submit_reports_job(ctx) == {"claimed": 1, "filed": [case_id], "failed": [], "retrying": []}
    assert len(cybertip.finished) == 1
    bare = reporting_settings.model_copy(update={"ncmec_username": None})
    off = JobContext(name="reporting.submit_reports", engine=engine, settings=bare, worker_id="w")
    assert "skipped" in submit_reports_job(off)
    purge = JobContext(
        name="reporting.purge_files", engine=engine, settings=reporting_settings, worker_id="w"
    )
    assert purge_files_job(purge) == {"purged": 0}


def test_a_report_that_would_break_the_schema_is_never_sent(
    client: TestClient,
    auth: Auth,
    csam_bank: Callable[[bytes], int],
    engine: Engine,
    reporting_settings: Settings,
    cybertip: FakeCyberTip,
) -> None:
    reporter = auth("reporter")
    case_id = _open_case(client, auth, csam_bank, 16)
    with session_factory(engine)() as s:
        case = s.get(ReportCase, case_id)
        assert case is not None
        case.urls = ["https://platform.example/has space"]  # what PATCH would refuse, stored anyway
        s.commit()
    refused = client.post(f"/v1/reporting/cases/{case_id}/confirm", headers=reporter)
    assert refused.status_code == 422 and refused.json()["code"] == "report_invalid"
    with session_factory(engine)() as s:
        case = s.get(ReportCase, case_id)
        assert case is not None
        case.urls = []
        s.commit()
    assert client.post(f"/v1/reporting/cases/{case_id}/confirm", headers=reporter).status_code == 200
    with session_factory(engine)() as s:
        case = s.get(ReportCase, case_id)
        assert case is not None
        case.incident_type = "Spam"  # changed behind the confirmation's back
        s.commit()
    assert run_submissions(engine, reporting_settings).failed == [case_id]
    assert cybertip.reports == {}
    shown = client.get(f"/v1/reporting/cases/{case_id}", headers=reporter).json()
    assert shown["state"] == "failed" and "pinned schema" in shown["last_error"]
