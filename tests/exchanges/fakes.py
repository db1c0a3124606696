"""Local fake exchange APIs for the tests: NCMEC (XML), StopNCII, Tech Against Terrorism (TCAP) and
ThreatExchange (Graph API), answering in the shapes python-threatexchange's clients parse (paging,
checkpoints, withdrawals, errors, rate limits, an outage). One threaded HTTP server serves all four under
/ncmec, /stopncii, /tat and /te; tests mutate each fake's records between fetches and script failures."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

NCMEC_USER, NCMEC_PASSWORD = "esp-user", "esp-pass"
STOPNCII_FETCH_KEY, STOPNCII_SUBSCRIPTION_KEY, STOPNCII_FEEDBACK_KEY = "fetch-key", "sub-key", "feedback-key"
TAT_USER, TAT_PASSWORD, TAT_TOKEN = "tat-user", "tat-pass", "jwt-token-1"
TE_TOKEN = "12345678|abcdefghijklmnopqrstuvwxyz"
TE_PRIVACY_GROUP = 303
_DATE = "%Y-%m-%dT%H:%M:%SZ"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    headers: dict[str, str]


@dataclass
class Failure:
    """Answer `status` to the next `times` requests whose path starts with `prefix` (and method)."""

    prefix: str
    status: int
    times: int
    method: str = "GET"
    # Let this many matching requests through first (an outage in the middle of a fetch).
    after: int = 0


@dataclass
class FakeState:
    ncmec: list[dict[str, Any]] = field(default_factory=list)
    stopncii: list[dict[str, Any]] = field(default_factory=list)
    tat: list[dict[str, Any]] = field(default_factory=list)
    te: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 2
    failures: list[Failure] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    # A request whose path starts with this prefix and whose page offset equals `hang_offset` waits on
    # `release` (a worker can be killed while it waits); `hanging` is set when it arrives.
    hang_prefix: str | None = None
    hang_offset: int = -1
    hanging: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class FakeExchanges:
    """The fake exchanges on one local port; `base(kind)` is the base URL to configure."""

    def __init__(self) -> None:
        self.state = FakeState()
        state = self.state

        class Handler(_Handler):
            fake = state

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeExchanges:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.state.release.set()
        self.server.shutdown()
        self.server.server_close()

    def base(self, kind: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{kind}"

    def received(self, method: str, prefix: str) -> list[Request]:
        return [r for r in self.state.requests if r.method == method and r.path.startswith(prefix)]


def _ts(value: int) -> str:
    return datetime.fromtimestamp(value, UTC).strftime(_DATE)


def _parse_ts(text: str) -> int:
    return int(datetime.strptime(text, _DATE).replace(tzinfo=UTC).timestamp())


class _Handler(BaseHTTPRequestHandler):
    fake: FakeState

    def log_message(self, format: str, *args: Any) -> None:
        return

    # --- plumbing ---------------------------------------------------------------------------------

    def _request(self) -> Request:
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            self.command,
            parsed.path,
            urllib.parse.parse_qs(parsed.query),
            body,
            {k.lower(): v for k, v in self.headers.items()},
        )
        self.fake.requests.append(request)
        return request

    def _send(
        self, status: int, body: bytes | str | dict[str, Any], content_type: str = "application/json"
    ) -> None:
        if isinstance(body, dict):
            body = json.dumps(body)
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _scripted_failure(self, request: Request) -> bool:
        for failure in self.fake.failures:
            if (
                failure.times > 0
                and failure.method == request.method
                and request.path.startswith(failure.prefix)
            ):
                if failure.after > 0:
                    failure.after -= 1
                    continue
                failure.times -= 1
                self._send(failure.status, {"error": "scripted failure"})
                return True
        return False

    def _hang(self, request: Request, offset: int) -> None:
        if (
            self.fake.hang_prefix
            and request.path.startswith(self.fake.hang_prefix)
            and offset == self.fake.hang_offset
        ):
            self.fake.hanging.set()
            self.fake.release.wait(timeout=60)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        request = self._request()
        if self._scripted_failure(request):
            return
        kind = request.path.split("/")[1]
        handler = getattr(self, f"_{kind}", None)
        if handler is None:
            self._send(404, {"error": "no such fake"})
            return
        handler(request)

    # --- NCMEC hash sharing (XML; Basic auth; from/to windows; `next` paging) ---------------------

    def _ncmec(self, request: Request) -> None:
        import base64

        expected = "Basic " + base64.b64encode(f"{NCMEC_USER}:{NCMEC_PASSWORD}".encode()).decode()
        if request.headers.get("authorization") != expected:
            self._send(401, "<error>unauthorized</error>", "application/xml")
            return
        path = request.path.removeprefix("/ncmec")
        if request.method == "GET" and path == "/v2/entries":
            self._ncmec_entries(request)
        elif request.method == "GET" and path.startswith("/v2/feedback/") and path.endswith("/reasons"):
            self._send(
                200,
                '<feedbackReasons xmlns="https://hashsharing.ncmec.org/hashsharing/v2"><availableFeedbackReasons>'
                '<reason guid="guid-not-csam" name="Not CSAM"/></availableFeedbackReasons></feedbackReasons>',
                "application/xml",
            )
        elif request.method == "PUT" and path.startswith("/v2/entries/") and path.endswith("/feedback"):
            self._send(200, "<ok/>", "application/xml")
        else:
            self._send(404, "<error>not found</error>", "application/xml")

    def _ncmec_entries(self, request: Request) -> None:
        q = {k: v[0] for k, v in request.query.items()}
        start, end = _parse_ts(q["from"]), _parse_ts(q["to"])
        offset = int(q.get("start", "0"))
        self._hang(request, offset)
        window = sorted(
            (e for e in self.fake.ncmec if start <= e["ts"] < end),
            key=lambda e: (e["ts"], e["member"], e["id"]),
        )
        page = window[offset : offset + self.fake.page_size]
        parts = []
        for kind in ("image", "video"):
            rows = [e for e in page if e.get("type", "image") == kind]
            if not rows:
                continue
            body = "".join(_ncmec_entry(e, kind) for e in rows)
            newest = _ts(max(e["ts"] for e in rows))
            parts.append(f'<{kind}s count="{len(rows)}" maxTimestamp="{newest}">{body}</{kind}s>')
        after = offset + len(page)
        paging = ""
        if after < len(window):
            query = urllib.parse.urlencode(
                {
                    "from": q["from"],
                    "to": q["to"],
                    "start": after,
                    "size": self.fake.page_size,
                    "max": len(window),
                }
            )
            paging = f"<paging><next>/v2/entries?{escape(query)}</next></paging>"
        self._send(
            200,
            f'<queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2">{"".join(parts)}{paging}</queryResult>',
            "application/xml",
        )

    # --- StopNCII (JSON; function + subscription keys; startTimestamp; nextPageToken) -------------

    def _stopncii(self, request: Request) -> None:
        if request.headers.get("ocp-apim-subscription-key") != STOPNCII_SUBSCRIPTION_KEY:
            self._send(401, {"error": "bad subscription key"})
            return
        path = request.path.removeprefix("/stopncii")
        if path == "/FetchHashes" and request.method == "GET":
            if request.headers.get("x-functions-key") != STOPNCII_FETCH_KEY:
                self._send(401, {"error": "bad function key"})
                return
            q = {k: v[0] for k, v in request.query.items()}
            start = int(q.get("startTimestamp", "0"))
            offset = int(q.get("nextPageToken") or 0)
            self._hang(request, offset)
            changed = sorted(
                (r for r in self.fake.stopncii if r["lastModtimestamp"] > start),
                key=lambda r: r["lastModtimestamp"],
            )
            page = changed[offset : offset + self.fake.page_size]
            more = offset + len(page) < len(changed)
            self._send(
                200,
                {
                    "count": len(page),
                    "nextPageToken": str(offset + len(page)) if more else None,
                    "nextSetTimestamp": page[-1]["lastModtimestamp"] if page else start,
                    "hasMoreRecords": more,
                    "hashRecords": page,
                },
            )
        elif path == "/SubmitFeedback" and request.method == "POST":
            if request.headers.get("x-functions-key") != STOPNCII_FEEDBACK_KEY:
                self._send(401, {"error": "bad function key"})
                return
            self._send(200, {})
        else:
            self._send(404, {"error": "not found"})

    # --- Tech Against Terrorism TCAP (token auth; `after` checkpoint; offset paging) --------------

    def _tat(self, request: Request) -> None:
        path = request.path.removeprefix("/tat")
        if path == "/token-auth/tcap/" and request.method == "POST":
            form = urllib.parse.parse_qs(request.body.decode())
            if form.get("username") == [TAT_USER] and form.get("password") == [TAT_PASSWORD]:
                self._send(200, {"token": TAT_TOKEN, "user": {"username": TAT_USER}})
            else:
                self._send(401, {"error": "bad credentials"})
            return
        if path != "/api/hash-list/v2/all" or request.method != "GET":
            self._send(404, {"error": "not found"})
            return
        if request.headers.get("authorization") != f"Bearer {TAT_TOKEN}":
            self._send(401, {"error": "bad token"})
            return
        q = request.query
        offset = int(q.get("offset", ["0"])[0])
        self._hang(request, offset)
        after = q.get("after", [""])[0]
        mark = (float(after.partition(",")[0]), int(after.partition(",")[2])) if after else (-1.0, -1)
        rows = sorted(
            (r for r in self.fake.tat if (r["updated_on"], r["id"]) > mark),
            key=lambda r: (r["updated_on"], r["id"]),
        )
        page = rows[offset : offset + self.fake.page_size]
        more = offset + len(page) < len(rows)
        base = f"http://{self.headers['host']}/tat/api/hash-list/v2/all"
        self._send(
            200,
            {
                "count": len(rows),
                # The real API answers with a full URL; the client appends it after '?' (the offset
                # still parses there).
                "next": f"{base}?limit={self.fake.page_size}&offset={offset + len(page)}" if more else None,
                "previous": None,
                "checkpoint": f"{page[-1]['updated_on']},{page[-1]['id']}" if page else after,
                "results": page,
            },
        )

    # --- ThreatExchange Graph API (/threat_updates with cursor paging; reactions) -----------------

    def _te(self, request: Request) -> None:
        q = {k: v[0] for k, v in request.query.items()}
        if q.get("access_token") != TE_TOKEN:
            self._send(400, {"error": {"message": "Invalid OAuth access token", "code": 190}})
            return
        parts = request.path.removeprefix("/te").strip("/").split("/")
        if request.method == "GET" and len(parts) == 2 and parts[1] == "threat_updates":
            if int(parts[0]) != TE_PRIVACY_GROUP:
                self._send(400, {"error": {"message": "no such privacy group", "code": 100}})
                return
            start = int(q["start_time"]) if q.get("start_time") else 0
            offset = int(q.get("after", "0"))
            self._hang(request, offset)
            rows = sorted(
                (r for r in self.fake.te if r["last_updated"] >= start),
                key=lambda r: (r["last_updated"], r["id"]),
            )
            page = rows[offset : offset + self.fake.page_size]
            body: dict[str, Any] = {"data": page}
            if offset + len(page) < len(rows):
                more = dict(q, after=str(offset + len(page)))
                body["paging"] = {
                    "cursors": {"after": str(offset + len(page))},
                    "next": f"http://{self.headers['host']}{request.path}?{urllib.parse.urlencode(more)}",
                }
            self._send(200, body)
        elif request.method == "POST" and len(parts) == 1 and parts[0].isdigit():
            self._send(200, {"success": True})
        else:
            self._send(404, {"error": {"message": "unknown path"}})


def _ncmec_entry(entry: dict[str, Any], kind: str) -> str:
    member = f'<member id="{entry["member"]}">ESP {entry["member"]}</member>'
    if entry.get("deleted"):
        tag = "deleted" + kind.capitalize()
        return f"<{tag}><id>{entry['id']}</id>{member}<timestamp>{_ts(entry['ts'])}</timestamp></{tag}>"
    prints = "".join(f"<{k}>{v}</{k}>" for k, v in entry.get("fingerprints", {}).items())
    classification = (
        f"<classification>{entry['classification']}</classification>" if entry.get("classification") else ""
    )
    return (
        f"<{kind}><id>{entry['id']}</id>{member}<timestamp>{_ts(entry['ts'])}</timestamp>"
        f"{classification}<fingerprints>{prints}</fingerprints></{kind}>"
    )


# --- record builders ------------------------------------------------------------------------------


def stopncii_record(value: str, ts: int, *, status: str = "Active", kind: str = "ImagePDQ") -> dict[str, Any]:
    return {
        "lastModtimestamp": ts,
        "signalType": kind,
        "hashValue": value,
        "hashStatus": status,
        "caseNumbers": {f"case-{ts}": status},
        "CSPFeedbacks": [{"feedbackValue": "Blocked", "tags": ["ncii"], "source": "OtherCSP"}],
    }


def tat_record(
    value: str,
    ident: int,
    updated_on: float,
    *,
    deleted: bool = False,
    algorithm: str = "PDQ",
    file_type: str = "jpg",
) -> dict[str, Any]:
    return {
        "hash_digest": value,
        "algorithm": algorithm,
        "ideology": "far-right",
        "file_type": file_type,
        "deleted": deleted,
        "updated_on": updated_on,
        "created_on": "2026-11-01T00:00:00Z",
        "id": ident,
    }


def te_record(
    ident: int,
    value: str,
    updated: int,
    *,
    delete: bool = False,
    status: str = "MALICIOUS",
    descriptor: int = 9001,
    kind: str = "HASH_PDQ",
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": str(ident),
        "indicator": value,
        "type": kind,
        "last_updated": updated,
        "should_delete": delete,
    }
    if not delete:
        record["descriptors"] = {
            "data": [
                {
                    "id": str(descriptor),
                    "owner": {"id": "4444"},
                    "status": status,
                    "tags": ["terrorism"],
                    "reactions": [],
                }
            ]
        }
    return record


def iter_values(records: list[dict[str, Any]], key: str) -> Iterator[str]:
    for record in records:
        yield record[key]
