"""Reporter notices per regime: a DSA notice's reporter gets the DSA wording (Art. 16(4) receipt,
Art. 16(5) decision with the redress: internal complaint, out-of-court settlement, court), a notice
under a regime without prescribed wording the default templates; HTML is autoescaped."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from moderation.config import PROJECT_ROOT, Settings
from moderation.policy.regimes import load_regimes
from tests.email.smtp_server import SMTPServer
from tests.redress.conftest import deliver_emails, mail_to

Auth = Callable[[str], dict[str, str]]
DSA_REPORTER = "dsa.reporter@example.org"
TOS_REPORTER = "tos.reporter@example.org"
REASON = "<b>lawful</b> criticism & satire"


def _file_and_reject(
    client: TestClient, auth: Auth, email: str, regimes: list[str], fields: dict[str, object]
) -> int:
    created = client.post(
        "/v1/notices",
        json={
            "regimes": regimes,
            "reporter": {"email": email},
            "content": {"content_ids": ["c-7"]},
            "fields": fields,
        },
        headers=auth("intake"),
    )
    assert created.status_code == 201, created.text
    notice_id = int(created.json()["id"])
    rejected = client.post(f"/v1/notices/{notice_id}/reject", json={"reason": REASON}, headers=auth("admin"))
    assert rejected.status_code == 200, rejected.text
    return notice_id


def test_dsa_reporter_gets_the_dsa_wording_and_another_regimes_reporter_the_default(
    app_client: TestClient, auth: Auth, engine: Engine, mail_settings: Settings, smtp_server: SMTPServer
) -> None:
    dsa = _file_and_reject(
        app_client,
        auth,
        DSA_REPORTER,
        ["eu-dsa-16"],
        {
            "explanation": "defamatory",
            "content_location": "https://example.org/p/1",
            "notifier_name": "N. Otifier",
            "notifier_email": DSA_REPORTER,
            "good_faith_statement": True,
        },
    )
    tos = _file_and_reject(
        app_client, auth, TOS_REPORTER, ["terms-of-service"], {"reason": "spam", "signature": "/s/ T"}
    )
    deliver_emails(engine, mail_settings)

    dsa_mail = {m.subject: m for m in mail_to(smtp_server, DSA_REPORTER)}
    received = dsa_mail[f"We received your notice (notice #{dsa})"]
    assert "Art. 16(4)" in received.text() and "Art. 16(4)" in received.html()
    decision = dsa_mail[f"We did not act on your notice (notice #{dsa})"]
    text = decision.text()
    assert "Art. 16(5)" in text and REASON in text
    assert "Internal complaint (DSA Art. 20)" in text
    assert "Out-of-court dispute settlement (DSA Art. 21)" in text
    assert "Court (DSA Art. 21(1))" in text
    assert mail_settings.out_of_court_url in text
    html = decision.html()
    assert "&lt;b&gt;lawful&lt;/b&gt; criticism &amp; satire" in html and "<b>lawful</b>" not in html
    assert "Internal complaint (DSA Art. 20)" in html

    tos_mail = {m.subject: m for m in mail_to(smtp_server, TOS_REPORTER)}
    default_received = tos_mail[f"We received your notice (notice #{tos})"]
    assert "Your notice has been received and will be assessed" in default_received.text()
    default_decision = tos_mail[f"We did not act on your notice (notice #{tos})"]
    assert "Digital Services Act" not in default_decision.text()
    assert "you may complain about this decision within 183 days" in default_decision.text()
    assert "&lt;b&gt;lawful" in default_decision.html()

    timeline = app_client.get(f"/v1/notices/{dsa}", headers=auth("admin")).json()["timeline"]
    templates = {e["details"]["template"] for e in timeline if e["action"] == "notice.reporter_notified"}
    assert templates == {"reporter/eu-dsa-16.txt"}


def test_every_regime_template_names_a_regime_and_has_text_and_html() -> None:
    folder = PROJECT_ROOT / "moderation" / "email" / "templates" / "reporter"
    ids = set(load_regimes(PROJECT_ROOT / "policies").ids())
    stems = {p.stem for p in folder.iterdir()}
    assert stems and stems <= ids, stems - ids
    for stem in stems:
        assert (folder / f"{stem}.txt").is_file() and (folder / f"{stem}.html").is_file(), stem


def test_a_regimes_redress_wording_reaches_the_reporter_and_the_upheld_appellant(
    app_client: TestClient, auth: Auth, engine: Engine, mail_settings: Settings, smtp_server: SMTPServer
) -> None:
    reporter = "grievance.reporter@example.org"
    submitter = auth("intake")
    created = app_client.post(
        "/v1/notices",
        json={
            "regimes": ["in-it-rules-3-2-a-grievance"],
            "reporter": {"email": reporter},
            "content": {"content_ids": ["c-8"]},
            "fields": {"content_location": "https://example.org/p/8", "reason": "defamation"},
        },
        headers=submitter,
    )
    assert created.status_code == 201, created.text
    notice_id = created.json()["id"]
    rejecter = auth("admin")
    assert (
        app_client.post(
            f"/v1/notices/{notice_id}/reject", json={"reason": "opinion"}, headers=rejecter
        ).status_code
        == 200
    )
    appeal = app_client.post(
        "/v1/appeals",
        json={
            "subject": {"type": "notice", "id": notice_id},
            "appellant": {"role": "reporter", "email": reporter},
            "statement": "it is defamatory",
        },
        headers=submitter,
    )
    assert appeal.status_code == 201, appeal.text
    upheld = app_client.post(
        f"/v1/appeals/{appeal.json()['id']}/decision",
        json={"outcome": "uphold", "reason": "opinion, not fact"},
        headers=auth("admin"),
    )
    assert upheld.status_code == 200, upheld.text
    deliver_emails(engine, mail_settings)
    mail = {m.subject: m for m in mail_to(smtp_server, reporter)}
    rejection = mail[f"We did not act on your notice (notice #{notice_id})"].text()
    assert "Grievance Appellate Committee (Rule 3A)" in rejection
    assert "you may complain about this decision within" not in rejection
    decision = mail[f"Your appeal #{appeal.json()['id']}: the decision stands"]
    assert "Grievance Appellate Committee (Rule 3A)" in decision.text()
    assert "Grievance Appellate Committee (Rule 3A)" in decision.html()
