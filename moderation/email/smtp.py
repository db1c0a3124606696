"""SMTP transport: one connection per message, STARTTLS and login when configured."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from moderation.config import Settings
from moderation.email.service import Outgoing, message_id_header

# What counts as "the server did not take it": protocol errors and network errors.
DeliveryError = (smtplib.SMTPException, OSError)


class NoRecipients(smtplib.SMTPException):
    """Neither the message nor MODERATION_ALERT_TO names anyone to send it to."""


def server_unreachable(exc: BaseException) -> bool:
    """True when the failure is the connection itself (later messages would fail the same way),
    false when the server refused this one message."""
    if isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPServerDisconnected):
        return True
    return not isinstance(exc, smtplib.SMTPException)


def build_message(outgoing: Outgoing, settings: Settings) -> EmailMessage:
    """A multipart/alternative message (text and HTML) with a Message-ID fixed per outbox row."""
    message = EmailMessage()
    message["Subject"] = outgoing.subject
    message["From"] = settings.alert_from
    message["To"] = ", ".join(outgoing.recipients)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id_header(outgoing.key, outgoing.id, settings.alert_from)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Moderation-Outbox"] = f"{outgoing.id} attempt {outgoing.attempt_number}"
    message.set_content(outgoing.text_body)
    message.add_alternative(outgoing.html_body, subtype="html")
    return message


def send(outgoing: Outgoing, settings: Settings) -> dict[str, Any]:
    """Hand the message to the SMTP server. Returns the recipients it refused (others accepted);
    raises a `DeliveryError` when the server did not accept the message at all."""
    if not outgoing.recipients:
        raise NoRecipients("no recipients: set MODERATION_ALERT_TO or MODERATION_ALERT_ROUTES")
    client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds)
    try:
        client.ehlo()
        if settings.smtp_starttls:
            client.starttls()
            client.ehlo()
        if settings.smtp_username:
            client.login(settings.smtp_username, settings.smtp_password or "")
        refused = client.send_message(build_message(outgoing, settings))
    finally:
        try:
            client.quit()
        except DeliveryError:
            client.close()
    return dict(refused)
