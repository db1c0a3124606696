"""A local fake of the CyberTipline reporting web service (ISPWS) for tests: status, submit, upload,
fileinfo, finish and retract over loopback HTTP with Basic auth, the API's response XML and codes,
and scripted failures. Never the network; the files it receives are test placeholders."""

from __future__ import annotations

import base64
import hashlib
import itertools
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

USERNAME = "esp-test"
PASSWORD = "esp-test-password"


@dataclass
class FakeFile:
    file_id: str
    data: bytes
    md5: str
    details: list[bytes] = field(default_factory=list)


@dataclass
class FakeReport:
    report_id: int
    xml: bytes
    files: list[FakeFile] = field(default_factory=list)
    finished: bool = False
    retracted: bool = False


@dataclass
class FakeCyberTip:
    url: str = ""
    reports: dict[int, FakeReport] = field(default_factory=dict)
    # Scripted answers: path -> [(http status, response code, description)], used once each, in order.
    failures: dict[str, list[tuple[int, int, str]]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(9_000_001))

    @property
    def finished(self) -> list[FakeReport]:
        return [r for r in self.reports.values() if r.finished]

    def fail(self, path: str, code: int, description: str, status: int = 200) -> None:
        self.failures.setdefault(path, []).append((status, code, description))

    def forget(self, report_id: int) -> None:
        """What NCMEC does to an unfinished report an hour after its last change."""
        del self.reports[report_id]


def _response(code: int, description: str, root: str = "reportResponse", **extra: str) -> bytes:
    node = ET.Element(root)
    ET.SubElement(node, "responseCode").text = str(code)
    ET.SubElement(node, "responseDescription").text = description
    for tag, value in extra.items():
        if tag == "files":
            files = ET.SubElement(node, "files")
            for file_id in value.split(","):
                if file_id:
                    ET.SubElement(files, "fileId").text = file_id
        else:
            ET.SubElement(node, tag).text = value
    return ET.tostring(node, encoding="utf-8", xml_declaration=True)


def _form(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    if content_type.startswith("application/x-www-form-urlencoded"):
        return {k: (None, v[0].encode()) for k, v in parse_qs(body.decode()).items()}
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    out: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        out[str(name)] = (part.get_filename(), payload)
    return out


@contextmanager
def fake_cybertip() -> Iterator[FakeCyberTip]:
    fake = FakeCyberTip()
    expected = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _route(self, method: str) -> None:
            path = self.path.split("?")[0].removeprefix("/ispws")
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with fake.lock:
                fake.calls.append(path)
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="ESP Web Services"')
                    payload = _response(2000, "Authentication Required")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                scripted = fake.failures.get(path)
                if scripted:
                    status, code, description = scripted.pop(0)
                    self._send(status, _response(code, description))
                    return
                status, payload = self._answer(method, path, body)
                self._send(status, payload)

        def _answer(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
            if method == "GET" and path == "/status":
                return 200, _response(0, "Remote User : esp-test, Remote Ip : 127.0.0.1")
            if method != "POST":
                return 405, _response(4000, "Invalid Request")
            if path == "/submit":
                if not self.headers.get("Content-Type", "").startswith("text/xml"):
                    return 200, _response(4000, "Invalid Request")
                try:
                    root = ET.fromstring(body)  # noqa: S314 - the test client's own documents
                except ET.ParseError as exc:
                    return 200, _response(4110, f"Malformed XML: {exc}")
                if root.tag != "report" or root.find("incidentSummary/incidentType") is None:
                    return 200, _response(4100, "Validation Failed")
                report_id = next(fake._ids)
                fake.reports[report_id] = FakeReport(report_id, body)
                return 200, _response(0, "Success", reportId=str(report_id))
            if path == "/fileinfo":
                try:
                    root = ET.fromstring(body)  # noqa: S314 - the test client's own documents
                except ET.ParseError as exc:
                    return 200, _response(4110, f"Malformed XML: {exc}")
                report = fake.reports.get(int(root.findtext("reportId") or 0))
                if report is None:
                    return 200, _response(5001, "No such report")
                if report.finished:
                    return 200, _response(5102, "Report already finished")
                matching = [f for f in report.files if f.file_id == root.findtext("fileId")]
                if not matching:
                    return 200, _response(5002, "No such file")
                matching[0].details.append(body)
                return 200, _response(0, "Success")
            form = _form(self.headers.get("Content-Type", ""), body)
            try:
                report_id = int(form["id"][1])
            except (KeyError, ValueError):
                return 200, _response(4000, "Invalid Request")
            report = fake.reports.get(report_id)
            if report is None:
                return 200, _response(5001, "No such report")
            if report.retracted:
                return 200, _response(5101, "Report already retracted")
            if report.finished:
                return 200, _response(5102, "Report already finished")
            if path == "/upload":
                if "file" not in form:
                    return 200, _response(4200, "Malformed file")
                data = form["file"][1]
                digest = hashlib.md5(data).hexdigest()  # noqa: S324 - what the API answers with
                file = FakeFile(
                    hashlib.sha256(data + str(len(report.files)).encode()).hexdigest()[:32], data, digest
                )
                report.files.append(file)
                return 200, _response(0, "Success", reportId=str(report_id), fileId=file.file_id, hash=digest)
            if path == "/finish":
                report.finished = True
                return 200, _response(
                    0,
                    "Success",
                    root="reportDoneResponse",
                    reportId=str(report_id),
                    files=",".join(f.file_id for f in report.files),
                )
            if path == "/retract":
                report.retracted = True
                return 200, _response(0, "Success")
            return 404, _response(4000, "Invalid Request")

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/ispws"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
