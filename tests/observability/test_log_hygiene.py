"""A full run of real processes (service, CLI, worker) at DEBUG level, then a scan of every log line:
no API key, password, secret, image bytes, reporter contact detail or prompt may appear, every line is
one JSON object, and the request ids sent in `X-Request-ID` are there (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from moderation.config import PROJECT_ROOT, Settings
from tests.email.smtp_server import SMTPServer
from tests.factories import generated_png, jpeg
from tests.processes import base_env, start_service, start_worker, wait_ready
from tests.takedown.conftest import COMPLETE_TID
from tests.takedown.receiver import webhook_receiver

PASSWORD = "Hygiene-Passw0rd-Zebra-4417"
SECRET_KEY = "hygiene-secret-key-0123456789-QWERTY"
WEBHOOK_SECRET = "hygiene-webhook-secret-ASDFGH-98765"
REPORTER = {
    "name": "Rosalind Quayle-Unique",
    "email": "rosalind.quayle@example.org",
    "contact": "+44 20 7946 0311, 12 Fenchurch Walk",
    "phone": "+1-555-0199-4242",
}
PROMPT = "a lighthouse at dusk, prompt-marker-ZX81-secret"


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moderation", *args],
        env=env,
        cwd=PROJECT_ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def _fragments(data: bytes) -> list[str]:
    """Shapes image bytes could take in a log: base64, hex, and the raw bytes as text."""
    middle = data[len(data) // 2 : len(data) // 2 + 48]
    return [
        base64.b64encode(middle).decode()[8:56],
        middle.hex()[:48],
        base64.b64encode(data[:30]).decode()[:40],
    ]


def test_logs_of_a_full_run_hold_no_secrets_or_personal_data(
    settings: Settings, tmp_path: Path, make_key: Callable[..., str]
) -> None:
    smtp = SMTPServer().start()
    with webhook_receiver() as receiver:
        env = base_env(
            settings.resolved_database_url,
            tmp_path / "var",
            MODERATION_LOG_LEVEL="DEBUG",
            MODERATION_SECRET_KEY=SECRET_KEY,
            MODERATION_ACTION_WEBHOOK_SECRET=WEBHOOK_SECRET,
            MODERATION_ACTION_WEBHOOK_URL=receiver.url,
            MODERATION_SMTP_HOST="127.0.0.1",
            MODERATION_SMTP_PORT=str(smtp.port),
            MODERATION_ALERT_TO="oncall@example.test",
        )
        keys = {role: make_key(role) for role in ("admin", "checker", "intake")}
        created = _cli(env, "apikey", "create", "hygiene-extra", "--role", "checker")
        keys["cli"] = created.stdout.strip()
        user = _cli(env, "user", "create", "hygiene-admin", "--role", "admin", stdin=PASSWORD + "\n")
        service = start_service("service", env, tmp_path / "logs")
        outputs = [created.stderr, user.stdout, user.stderr]
        image, evidence = jpeg(77), generated_png(78)
        try:
            wait_ready(service)
            url = service.url

            def call(method: str, path: str, role: str, request_id: str, **kwargs: object) -> httpx.Response:
                headers = {"Authorization": f"Bearer {keys[role]}", "X-Request-ID": request_id}
                return httpx.request(method, url + path, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]

            checked = call(
                "POST",
                "/v1/check",
                "checker",
                "hyg-check-1",
                files={"file": ("x.jpg", image, "image/jpeg")},
                data={
                    "metadata": json.dumps({"content_id": "post-77", "prompt": PROMPT, "source": "generated"})
                },
            )
            assert checked.status_code == 200, checked.text
            batch = call(
                "POST",
                "/v1/check/batch",
                "cli",
                "hyg-batch-1",
                files=[
                    ("file", ("a.jpg", image, "image/jpeg")),
                    ("file", ("b.jpg", b"\xff\xd8broken", "image/jpeg")),
                ],
                data={"metadata": json.dumps([{"prompt": PROMPT}, None])},
            )
            assert batch.status_code == 200, batch.text
            notice = call(
                "POST",
                "/v1/notices",
                "intake",
                "hyg-notice-1",
                json={
                    "regimes": ["us-take-it-down"],
                    "reporter": REPORTER,
                    "content": {
                        "content_ids": ["post-77"],
                        "image_base64": base64.b64encode(evidence).decode(),
                    },
                    "fields": COMPLETE_TID,
                },
            )
            assert notice.status_code == 201, notice.text
            path = f"/v1/notices/{notice.json()['id']}"
            assert call("POST", f"{path}/validate", "admin", "hyg-validate-1").status_code == 200
            assert (
                call("POST", f"{path}/action", "admin", "hyg-action-1", json={"reason": "ok"}).status_code
                == 200
            )
            full = call("GET", path, "admin", "hyg-notice-1")  # an intake key gets a receipt only
            [item] = [e for e in full.json()["evidence"] if e["encrypted_bytes"]]
            read = call(
                "GET", f"{path}/evidence/{item['id']}", "admin", "hyg-read-1", params={"reason": "case"}
            )
            assert read.content == evidence
            # Refused requests: an unknown key, a wrong password, then the right one on the dashboard.
            fake = "mod_abcdefgh_" + "Z" * 43
            refused = httpx.get(f"{url}/v1/banks", headers={"Authorization": f"Bearer {fake}"})
            assert refused.status_code == 401
            with httpx.Client(base_url=url) as browser:
                for password in ("wrong-" + PASSWORD, PASSWORD):
                    page = browser.get("/admin/login")
                    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
                    assert token
                    browser.post(
                        "/admin/login",
                        data={
                            "username": "hygiene-admin",
                            "password": password,
                            "csrf_token": token.group(1),
                        },
                    )
                overview = browser.get("/admin")
                assert overview.status_code == 200 and "login" not in str(overview.url), overview.url
            worker = start_worker("worker", env, tmp_path / "logs", "--once")
            assert worker.process.wait(timeout=120) == 0, worker.log()[-3000:]
            assert receiver.requests, "the action webhook was not delivered"
        finally:
            service.stop()
            smtp.stop()

    logs = service.log() + worker.log()
    lines = [line for line in logs.splitlines() if line.strip()]
    assert len(lines) > 20
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    request_ids = {p.get("request_id") for p in parsed}
    assert {"hyg-check-1", "hyg-notice-1", "hyg-action-1"} <= request_ids
    # The webhook delivery ran under the id of the request that actioned the notice.
    assert any(
        p.get("request_id") == "hyg-action-1" and p["logger"].startswith("moderation.") for p in parsed
    )

    everything = logs + service.output() + worker.output() + "".join(outputs)
    forbidden = {
        **{f"api key ({role})": key for role, key in keys.items()},
        "unknown api key": fake,
        "password": PASSWORD,
        "secret key": SECRET_KEY,
        "webhook secret": WEBHOOK_SECRET,
        "prompt": PROMPT,
        "prompt marker": "ZX81",
        **{f"reporter {field}": value for field, value in REPORTER.items()},
        **{f"image bytes {i}": frag for i, frag in enumerate(_fragments(image) + _fragments(evidence))},
    }
    leaks = [label for label, value in forbidden.items() if value in everything]
    assert not leaks, f"found in the logs: {leaks}"
