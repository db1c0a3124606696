"""A child-safety notice opens a report case on a reporter's request, with its URLs and preserved files."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from moderation.config import Settings
from tests.reporting.conftest import placeholder, run_submissions
from tests.reporting.fake_ncmec import FakeCyberTip
from tests.takedown.conftest import COMPLETE_TID

Auth = Callable[[str], dict[str, str]]


def _notice(client: TestClient, intake: dict[str, str], *, child_safety: bool) -> dict[str, Any]:
    created = client.post(
        "/v1/notices",
        json={
            "regimes": ["us-take-it-down"],
            "reporter": {"email": "person@example.org"},
            "content": {"urls": ["https://platform.example/p/77"]},
            "fields": COMPLETE_TID,
            "child_safety": child_safety,
        },
        headers=intake,
    )
    assert created.status_code in (200, 201), created.text
    return dict(created.json())


def test_a_child_safety_notice_opens_one_case_with_its_files_and_is_filed(
    client: TestClient,
    auth: Auth,
    engine: Engine,
    reporting_settings: Settings,
    cybertip: FakeCyberTip,
) -> None:
    intake, reporter = auth("intake"), auth("reporter")
    notice = _notice(client, intake, child_safety=True)
    [item] = notice["content"]
    data = placeholder(77)
    attached = client.post(
        f"/v1/notices/{notice['id']}/content/{item['id']}/image",
        files={"file": ("x.png", data, "image/png")},
        headers=intake,
    )
    assert attached.status_code in (200, 201), attached.text
    refused = client.post("/v1/reporting/cases", headers=auth("admin"), json={"notice_id": notice["id"]})
    assert refused.status_code == 403
    opened = client.post("/v1/reporting/cases", headers=reporter, json={"notice_id": notice["id"]})
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert case["source"] == "notice" and case["urls"] == ["https://platform.example/p/77"]
    assert [f["sha256"] for f in case["files"]] == [hashlib.sha256(data).hexdigest()]
    again = client.post("/v1/reporting/cases", headers=reporter, json={"notice_id": notice["id"]}).json()
    assert again["id"] == case["id"]  # one case per notice
    assert client.post(f"/v1/reporting/cases/{case['id']}/confirm", headers=reporter).status_code == 200
    assert run_submissions(engine, reporting_settings).filed == [case["id"]]
    [report] = cybertip.finished
    assert report.files[0].data == data
    assert b"<url>https://platform.example/p/77</url>" in report.xml


def test_a_notice_without_the_child_safety_mark_opens_no_case(client: TestClient, auth: Auth) -> None:
    notice = _notice(client, auth("intake"), child_safety=False)
    answer = client.post("/v1/reporting/cases", headers=auth("reporter"), json={"notice_id": notice["id"]})
    assert answer.status_code == 409 and answer.json()["code"] == "notice_not_child_safety"
    missing = client.post("/v1/reporting/cases", headers=auth("reporter"), json={"notice_id": 99999})
    assert missing.status_code == 404
