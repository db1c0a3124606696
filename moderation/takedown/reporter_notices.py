"""Notices to the reporter (DSA Art. 16(4)-(5)): an acknowledgement on intake and one notice per
decision (actioned, rejected, information requested) with its reasons and the redress available.
A regime whose wording is prescribed has its own templates (`reporter/<regime id>.txt|html`); the
others use the default `reporter.txt|html`.

Each goes to the email outbox when the reporter gave an address and, with
MODERATION_REPORTER_WEBHOOK_EVENTS, to the webhook outbox as a `reporter.*` event; both under the
key `reporter:<notice>:<event>`, so retries, restarts and a second worker never send one twice."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from moderation.config import Settings
from moderation.email.service import outbox
from moderation.kit.time import utc_now
from moderation.models.notice import Notice
from moderation.policy.loader import Policy
from moderation.takedown.appeal_terms import appeal_terms, versions_for_appeal
from moderation.takedown.clocks import iso_utc
from moderation.takedown.context import audit_notice, policy_and_regimes
from moderation.takedown.outbox import enqueue_event

# Transition -> the event the reporter is told of.
DECISIONS = {"action": "actioned", "reject": "rejected", "request_info": "needs_info"}
HEADLINES = {
    "received": "We received your notice",
    "actioned": "We acted on your notice",
    "rejected": "We did not act on your notice",
    "needs_info": "We need more information about your notice",
}


def _redress(notice: Notice, event: str, settings: Settings) -> list[str]:
    """What the reporter can do about a rejection: each regime's prescribed redress wording (its
    `appeal.redress`) or, where it prescribes none, a complaint within the regime's window (else
    MODERATION_APPEAL_WINDOW_DAYS); then out-of-court settlement and court unless a regime's wording
    already says where to go."""
    if event != "rejected":
        return []
    _, regime_set = policy_and_regimes(settings)
    now = utc_now()
    pairs = versions_for_appeal(notice.regimes, regime_set, now)
    lines: list[str] = []
    for regime, version in pairs:
        if version.appeal.redress:
            lines.extend(line for line in version.appeal.redress if line not in lines)
        elif version.appeal.route != "none":
            terms = appeal_terms(
                [(regime, version)],
                decided_at=now,
                filed_at=now,
                default_window_days=settings.appeal_window_days,
                default_decision_days=settings.appeal_decision_days,
            )
            lines.append(
                f"{regime.title}: you may complain about this decision within {terms.window}, free of "
                "charge and electronically, through the service where you reported the content."
            )
    if not any(version.appeal.redress for _, version in pairs):
        lines.append(
            f"Out-of-court dispute settlement bodies: {settings.out_of_court_url}. You may also go to court."
        )
    return lines


def templates(notice: Notice) -> tuple[str, str]:
    """The text and HTML templates for the notice: the first of its regimes with its own prescribed
    wording (`reporter/<regime id>.txt|html`), else the default `reporter.txt|html`."""
    stems = [f"reporter/{r['id']}" for r in notice.regimes]
    text = outbox.first_template([f"{stem}.txt" for stem in stems] + ["reporter.txt"])
    return text, text.removesuffix(".txt") + ".html"


def notify(
    session: Session,
    notice: Notice,
    event: str,
    *,
    reason: str | None,
    policy: Policy | None = None,
    settings: Settings,
) -> None:
    """Tell the reporter of `event` (received | actioned | rejected | needs_info), exactly once."""
    key = f"reporter:{notice.id}:{event}"
    email = (notice.reporter or {}).get("email")
    context: dict[str, Any] = {
        "notice_id": notice.id,
        "event": event,
        "headline": HEADLINES[event],
        "reason": reason,
        "regimes": [r["id"] for r in notice.regimes],
        "missing": sorted({m for r in notice.regimes for m in r["missing"]}),
        "redress": _redress(notice, event, settings),
        "received_at": iso_utc(notice.received_at),
        "now": iso_utc(utc_now()),
        "out_of_court_url": settings.out_of_court_url,
    }
    sent_to: list[str] = []
    text_template, html_template = templates(notice)
    if email:
        subject = f"{HEADLINES[event]} (notice #{notice.id})"
        queued = outbox.enqueue(
            session,
            key=key,
            kind="reporter",
            recipients=[email],
            subject=subject,
            text_body=outbox.render(text_template, subject=subject, **context),
            html_body=outbox.render(html_template, subject=subject, **context),
            now=utc_now(),
        )
        if queued is not None:
            sent_to.append("email")
    if settings.reporter_webhook_events:
        payload = {k: context[k] for k in ("notice_id", "reason", "regimes", "missing", "redress")}
        if enqueue_event(session, key=key, event=f"reporter.{event}", payload=payload, notice_id=notice.id):
            sent_to.append("webhook")
    if sent_to:
        audit_notice(
            session,
            notice.id,
            "notice.reporter_notified",
            actor="system:takedown",
            details={"event": event, "key": key, "channels": sent_to, "template": text_template},
            policy=policy,
        )


def decision(
    session: Session,
    notice: Notice,
    transition: str,
    *,
    reason: str | None,
    policy: Policy,
    settings: Settings,
) -> None:
    """After a transition: notify the reporter when it is a decision they are owed."""
    event = DECISIONS.get(transition)
    if event is not None:
        notify(session, notice, event, reason=reason, policy=policy, settings=settings)
