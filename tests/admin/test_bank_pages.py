"""Bank pages over HTTP: list, create, entries with paging and search, add by hash or image,
disable/enable, import with a report, audited export; admins only act, reviewers are kept out."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.banks.service import banks
from tests.admin.conftest import form_token, generated_png

PDQ_A = "f" * 64
PDQ_B = "0" * 63 + "1"


def test_create_add_search_disable(signed_in: Callable[[str], TestClient], session: Session) -> None:
    client = signed_in("admin")
    token = form_token(client.get("/admin/banks").text)
    created = client.post("/admin/banks", data={"csrf_token": token, "name": "known-bad", "action": "block"})
    assert created.status_code == 200 and "Bank known-bad" in created.text
    added = client.post(
        "/admin/banks/known-bad/hashes", data={"csrf_token": token, "hash_type": "pdq", "value": PDQ_A}
    )
    assert added.status_code == 200 and PDQ_A in added.text
    bad = client.post(
        "/admin/banks/known-bad/hashes", data={"csrf_token": token, "hash_type": "pdq", "value": "xyz"}
    )
    assert bad.status_code == 422
    found = client.get("/admin/banks", params={"hash_type": "pdq", "value": PDQ_A})
    assert 'id="search-results"' in found.text and "known-bad" in found.text.split('id="search-results"')[1]
    entry_id = banks.list_entries(session, "known-bad").items[0].id
    session.rollback()
    disabled = client.post(f"/admin/banks/known-bad/entries/{entry_id}/disable", data={"csrf_token": token})
    assert disabled.status_code == 200 and "disabled" in disabled.text
    assert audit.page(session, action="bank.entry_disable")[0].subject_id == str(entry_id)
    duplicate = client.post("/admin/banks", data={"csrf_token": token, "name": "known-bad"})
    assert duplicate.status_code == 409 and "already exists" in duplicate.text


def test_add_by_image_and_page_through_entries(
    signed_in: Callable[[str], TestClient], make_bank: Callable[..., str]
) -> None:
    make_bank("imgs")
    client = signed_in("admin")
    token = form_token(client.get("/admin/banks/imgs").text)
    response = client.post(
        "/admin/banks/imgs/image",
        data={"csrf_token": token, "note": "test pattern"},
        files={"image": ("x.png", generated_png(3), "image/png")},
    )
    assert response.status_code == 200 and "test pattern" in response.text
    broken = client.post(
        "/admin/banks/imgs/image",
        data={"csrf_token": token},
        files={"image": ("x.png", b"not an image", "image/png")},
    )
    assert broken.status_code in (415, 422) and "flash error" in broken.text
    lines = "\n".join(f"{i:064x}" for i in range(1, 121))
    client.post(
        "/admin/banks/imgs/import",
        data={"csrf_token": token},
        files={"file": ("list.txt", lines.encode(), "text/plain")},
    )
    first = client.get("/admin/banks/imgs")
    assert "Next entries" in first.text
    cursor = first.text.split("cursor=")[1].split('"')[0]
    second = client.get(f"/admin/banks/imgs?cursor={cursor}")
    assert second.status_code == 200 and f"{120:064x}" not in first.text
    seen: list[str] = []
    page = first
    while True:
        seen += re.findall(r'class="hash">([0-9a-f]{64})<', page.text)
        if "cursor=" not in page.text:
            break
        page = client.get("/admin/banks/imgs?cursor=" + page.text.split("cursor=")[1].split('"')[0])
    assert len(seen) == len(set(seen)) and {f"{i:064x}" for i in range(1, 121)} <= set(seen)


def test_import_reports_bad_lines_and_export_is_audited(
    signed_in: Callable[[str], TestClient], make_bank: Callable[..., str], session: Session
) -> None:
    make_bank("imported")
    client = signed_in("admin")
    token = form_token(client.get("/admin/banks/imported").text)
    body = f"{PDQ_A}\nnot-a-hash\n{PDQ_B}\n".encode()
    report = client.post(
        "/admin/banks/imported/import",
        data={"csrf_token": token},
        files={"file": ("list.txt", body, "text/plain")},
    )
    assert report.status_code == 200 and 'id="import-report"' in report.text
    assert "<b>2</b> hashes imported" in report.text and "line 2" in report.text
    strict = client.post(
        "/admin/banks/imported/import",
        data={"csrf_token": token, "strict": "true"},
        files={"file": ("list.txt", body, "text/plain")},
    )
    assert strict.status_code == 422 and "nothing was imported" in strict.text
    exported = client.post("/admin/banks/imported/export", data={"csrf_token": token, "format": "pdq-hex"})
    assert exported.status_code == 200 and exported.text.split() == [PDQ_A, PDQ_B]
    assert "attachment" in exported.headers["content-disposition"]
    assert audit.page(session, action="bank.export")[0].subject_id == "imported"


def test_reviewer_is_kept_out_and_auditor_only_reads(
    signed_in: Callable[[str], TestClient], make_bank: Callable[..., str]
) -> None:
    make_bank("ro")
    reviewer = signed_in("reviewer")
    assert reviewer.get("/admin/banks").status_code == 403
    assert reviewer.get("/admin/banks/ro").status_code == 403
    assert 'href="/admin/banks"' not in reviewer.get("/admin").text
    auditor = signed_in("auditor")
    page = auditor.get("/admin/banks/ro")
    assert page.status_code == 200 and 'action="/admin/banks/ro/import"' not in page.text
    token = form_token(auditor.get("/admin").text)
    for path in (
        "/admin/banks",
        "/admin/banks/ro/hashes",
        "/admin/banks/ro/import",
        "/admin/banks/ro/export",
    ):
        assert (
            auditor.post(path, data={"csrf_token": token, "name": "x", "value": PDQ_A}).status_code == 403
        ), path
    assert auditor.post("/admin/banks/ro/entries/1/disable", data={"csrf_token": token}).status_code == 403
    admin = signed_in("admin")
    assert admin.post("/admin/banks/ro/hashes", data={"hash_type": "pdq", "value": PDQ_A}).status_code == 403
    assert admin.get("/admin/banks/nope").status_code == 404
