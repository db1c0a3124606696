"""HTTP client of the CyberTipline reporting web service (ISPWS): status, submit, upload, fileinfo,
finish, retract. Every answer is checked twice: the HTTP status and the response code."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from moderation.config import Settings
from moderation.exceptions import ConfigurationError
from moderation.reporting.documents import MalformedResponse, Response, parse_response
from moderation.reporting.errors import CyberTipError

HOSTS = {
    "production": "https://report.cybertip.org/ispws",
    "test": "https://exttest.cybertip.org/ispws",
}


@dataclass(frozen=True)
class Endpoint:
    environment: str
    base_url: str
    username: str
    password: str
    timeout: float


def endpoint(settings: Settings) -> Endpoint:
    """Where reports go: the test environment unless MODERATION_NCMEC_ENVIRONMENT=production.
    MODERATION_NCMEC_BASE_URL replaces the host (a local fake), never in production."""
    if not settings.ncmec_username or not settings.ncmec_password:
        raise ConfigurationError("MODERATION_NCMEC_USERNAME and MODERATION_NCMEC_PASSWORD are not set")
    environment = settings.ncmec_environment
    base_url = HOSTS[environment]
    if settings.ncmec_base_url:
        if settings.env == "production" or environment == "production":
            raise ConfigurationError("MODERATION_NCMEC_BASE_URL is refused with the production environment")
        base_url = settings.ncmec_base_url.rstrip("/")
    return Endpoint(
        environment=environment,
        base_url=base_url,
        username=settings.ncmec_username,
        password=settings.ncmec_password,
        timeout=settings.ncmec_timeout_seconds,
    )


class CyberTipClient:
    """One client per submission run. Transport errors propagate as httpx.HTTPError: the caller treats
    the call's outcome as unknown."""

    def __init__(self, target: Endpoint, transport: httpx.BaseTransport | None = None) -> None:
        self.target = target
        self._http = httpx.Client(
            base_url=target.base_url,
            auth=(target.username, target.password),
            timeout=target.timeout,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def _answer(self, response: httpx.Response) -> Response:
        try:
            parsed = parse_response(response.content)
        except MalformedResponse as exc:
            raise CyberTipError(None, str(exc), response.status_code) from exc
        if response.status_code != 200 or parsed.code != 0:
            raise CyberTipError(parsed.code, parsed.description, response.status_code)
        return parsed

    def status(self) -> Response:
        return self._answer(self._http.get("/status"))

    def submit(self, report: bytes) -> int:
        answer = self._answer(
            self._http.post("/submit", content=report, headers={"Content-Type": "text/xml; charset=utf-8"})
        )
        if answer.report_id is None:
            raise CyberTipError(None, "submit answered without a reportId", 200)
        return answer.report_id

    def upload(self, report_id: int, filename: str, data: bytes) -> Response:
        answer = self._answer(
            self._http.post("/upload", data={"id": str(report_id)}, files={"file": (filename, data)})
        )
        if answer.file_id is None:
            raise CyberTipError(None, "upload answered without a fileId", 200)
        return answer

    def file_info(self, details: bytes) -> Response:
        return self._answer(
            self._http.post("/fileinfo", content=details, headers={"Content-Type": "text/xml; charset=utf-8"})
        )

    def finish(self, report_id: int) -> Response:
        return self._answer(self._http.post("/finish", data={"id": str(report_id)}))

    def retract(self, report_id: int) -> Response:
        return self._answer(self._http.post("/retract", data={"id": str(report_id)}))
