"""A real SMTP server on loopback for tests (aiosmtpd), recording what it receives; it can stall in DATA."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    envelope_to: list[str]
    message: Message

    @property
    def subject(self) -> str:
        """The subject as a reader sees it (a long header is folded over lines on the wire)."""
        return str(self.message["Subject"]).replace("\r\n", "").replace("\n", "")

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def text(self) -> str:
        parts = [p for p in self.message.walk() if p.get_content_type() == "text/plain"]
        return parts[0].get_payload(decode=True).decode()  # type: ignore[union-attr]

    def html(self) -> str:
        parts = [p for p in self.message.walk() if p.get_content_type() == "text/html"]
        return parts[0].get_payload(decode=True).decode()  # type: ignore[union-attr]


@dataclass
class Recorder:
    """The aiosmtpd handler: keeps every message; with `stall_seconds` set, it records the message
    and then sleeps before answering, so the client sits waiting in DATA (the kill test)."""

    received: list[Received] = field(default_factory=list)
    stall_seconds: float = 0.0
    stalled: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import asyncio

        self.received.append(Received(list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        if self.stall_seconds:
            self.stalled.set()
            await asyncio.sleep(self.stall_seconds)
        return "250 OK"


class SMTPServer:
    """Start/stop an aiosmtpd Controller on 127.0.0.1; the port stays the same across restarts."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.recorder = Recorder()
        self._controller: Controller | None = None

    def start(self) -> SMTPServer:
        self._controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def received(self) -> list[Received]:
        return self.recorder.received

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received
