"""Read models of the takedown queue: the queue page with its cursor, one notice in full, and the
dashboard's per-regime overview."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from moderation.audit.service import audit
from moderation.config import Settings
from moderation.kit.paging import Page, decode_cursor, page_of
from moderation.kit.time import utc_now
from moderation.models.notice import OPEN_STATES, Notice
from moderation.models.notice_content import NoticeContent
from moderation.policy.regimes import RegimeSet
from moderation.takedown.clocks import (
    iso_utc,
)
from moderation.takedown.context import (
    SUBJECT,
    open_notice,
    regime_versions,
)
from moderation.takedown.repository import QUEUE_KEY
from moderation.takedown.repository import takedown_repository as repo
from moderation.takedown.schemas import NoticeOut, QueueItem


def iso_or_none(value: datetime | None) -> str | None:
    return iso_utc(value) if value is not None else None


def queue_item(notice: Notice, now: datetime) -> dict[str, Any]:
    remaining = (notice.due_at - now).total_seconds() if notice.due_at else None
    return {
        "id": notice.id,
        "state": notice.state,
        "regimes": [r["id"] for r in notice.regimes],
        "channel": notice.channel,
        "received_at": notice.received_at,
        "due_at": notice.due_at,
        "time_remaining_seconds": remaining,
        "overdue": remaining is not None and remaining < 0 and notice.state in OPEN_STATES,
        "assignee": notice.assignee,
        "missing_fields": {r["id"]: r["missing"] for r in notice.regimes if r["missing"]},
    }


IMAGE_EVIDENCE = ("upload", "attached")


def stay_down_coverage(c: NoticeContent, image_held: bool) -> dict[str, Any]:
    """What the stay-down bank holds for a removed item, in the words the notice page shows.

    `image`: the image itself was banked, so its robust variants (crops, rotations) match too;
    `hashes`: only the exact hashes the registry gave (SHA-256, MD5, PDQ within the bank's distance):
    a cropped or rotated re-upload is not covered until the image is attached; `none`: nothing to
    bank (no hashes known); `pending`: the item is not removed yet."""
    entries = len(c.stay_down_entry_ids or [])
    if c.state not in ("removed", "restored"):
        covers = "pending"
    elif image_held and entries:
        covers = "image"
    elif entries:
        covers = "hashes"
    else:
        covers = "none"
    return {"covers": covers, "entries": entries}


def content_out(c: NoticeContent, image_held: bool = False) -> dict[str, Any]:
    return {
        "id": c.id,
        "ref": c.ref,
        "content_id": c.content_id,
        "url": c.url,
        "source": c.source,
        "state": c.state,
        "sha256": c.sha256,
        "pdq": c.pdq,
        "distance": c.distance,
        "note": c.note,
        "reviewed_by": c.reviewed_by,
        "reviewed_at": c.reviewed_at,
        "review_reason": c.review_reason,
        "stay_down": stay_down_coverage(c, image_held),
    }


def duties(notice: Notice, contents: list[NoticeContent], regime_set: RegimeSet) -> list[dict[str, Any]]:
    """Per regime and removal scope: is the duty met? Copies count only once the sweep has run."""
    reported = [c for c in contents if c.source == "reported"]
    out = []
    for regime, version in regime_versions(notice, regime_set):
        for scope in version.removal_scope:
            if scope == "item":
                met = bool(reported) and all(c.state in ("removed", "restored") for c in reported)
            else:
                source = "identical_copy" if scope == "identical_copies" else "near_duplicate"
                copies = [c for c in contents if c.source == source]
                # A dismissed near-duplicate was judged not substantially the same: nothing to remove.
                met = notice.sweep_ran_at is not None and all(
                    c.state in ("removed", "restored", "dismissed") for c in copies
                )
            out.append({"regime": regime.id, "scope": scope, "met": met})
    return out


class NoticeViews:
    """What the API and the dashboard show of notices; reads only."""

    def queue(
        self,
        session: Session,
        *,
        regime: str | None = None,
        state: str | None = None,
        assignee: str | None = None,
        overdue: bool = False,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[QueueItem]:
        """Open notices (or those in `state`) by due time, earliest first, with time remaining."""
        now = utc_now()
        states = [state] if state else list(OPEN_STATES)
        after = decode_cursor(cursor, QUEUE_KEY) if cursor else None
        rows = repo.queue(
            session,
            states=states,
            regime=regime,
            assignee=assignee,
            overdue_at=now if overdue else None,
            after=after,
            limit=limit + 1,
        )
        page = page_of(rows, limit, lambda n: (n.due_at, n.id))
        items = [queue_item(n, now) for n in page.items]
        alerting = repo.alerting(session, [n.id for n in page.items], now)
        for item in items:
            # Past the first alert threshold but not overdue: the queue highlights it.
            item["due_soon"] = item["id"] in alerting and not item["overdue"]
        return Page([QueueItem.model_validate(item) for item in items], page.next_cursor)

    def detail(self, session: Session, notice_id: int, settings: Settings) -> NoticeOut:
        """Everything about one notice: clocks, pauses, content and copies, sweep, duty flags,
        webhook delivery state, evidence (never the bytes) and the audit timeline."""
        _, regime_set, notice = open_notice(session, notice_id, settings)
        now = utc_now()
        contents = repo.contents(session, notice.id)
        deliveries = repo.deliveries(session, notice.id)
        attempts = repo.attempts(session, [d.id for d in deliveries])
        holds = repo.holds(session, notice.id)
        evidence = repo.evidence(session, notice.id)
        # Items whose image we were given (at intake or attached later): banked with robust variants.
        imaged = {e.notice_content_id for e in evidence if (e.details or {}).get("kind") in IMAGE_EVIDENCE}
        base = queue_item(notice, now)
        body = {
            **base,
            "regimes": notice.regimes,
            "state_reason": notice.state_reason,
            "client_reference": notice.client_reference,
            "reporter": notice.reporter,
            "statements": notice.statements,
            "served_at": notice.served_at,
            "child_safety": notice.child_safety,
            "policy_version": notice.policy_version,
            "created_by": notice.created_by,
            "actioned_at": notice.actioned_at,
            "closed_at": notice.closed_at,
            "clocks": [
                {
                    "regime": c.regime,
                    "regime_version": c.regime_version,
                    "clock": c.clock,
                    "kind": c.kind,
                    "step": c.step,
                    "trigger": c.trigger,
                    "starts_at": c.starts_at,
                    "due_at": c.due_at,
                    "reason": c.reason,
                    "pausable": c.pausable,
                    "paused": c.paused,
                    "paused_seconds": c.paused_seconds,
                    "next_alert_at": c.next_alert_at,
                    "next_alert_threshold": c.next_alert_threshold,
                    "stopped_at": c.stopped_at,
                    "met": c.met,
                }
                for c in repo.clocks(session, notice.id)
            ],
            "pauses": [
                {
                    "reason": p.reason,
                    "note": p.note,
                    "started_at": p.started_at,
                    "started_by": p.started_by,
                    "ended_at": p.ended_at,
                    "ended_by": p.ended_by,
                }
                for p in repo.pauses(session, notice.id)
            ],
            "steps": [
                {
                    "step": st.step,
                    "recorded_at": st.recorded_at,
                    "recorded_by": st.recorded_by,
                    "note": st.note,
                }
                for st in repo.steps(session, notice.id)
            ],
            "content": [content_out(c, c.id in imaged) for c in contents if c.source == "reported"],
            "copies": [content_out(c) for c in contents if c.source != "reported"],
            "sweep": notice.sweep_result,
            "duties": duties(notice, contents, regime_set),
            "deliveries": [
                {
                    "id": d.id,
                    "action": d.action,
                    "content_ref": d.payload.get("content", {}).get("ref"),
                    "idempotency_key": d.idempotency_key,
                    "state": d.state,
                    "attempts": d.attempts,
                    "next_attempt_at": d.next_attempt_at if d.state == "pending" else None,
                    "last_status": d.last_status,
                    "last_error": d.last_error,
                    "delivered_at": d.delivered_at,
                    "history": [
                        {
                            "attempt": a.attempt,
                            "outcome": a.outcome,
                            "status_code": a.status_code,
                            "error": a.error,
                            "started_at": a.started_at,
                            "finished_at": a.finished_at,
                        }
                        for a in attempts
                        if a.delivery_id == d.id
                    ],
                }
                for d in deliveries
            ],
            "evidence": [
                {
                    "id": e.id,
                    "sha256": e.sha256,
                    "hashes": e.hashes,
                    "details": e.details,
                    "encrypted_bytes": e.ciphertext is not None,
                    "purged_at": e.purged_at,
                    "holds": [
                        {"kind": h.kind, "until": h.until, "released_at": h.released_at}
                        for h in holds
                        if h.evidence_id == e.id
                    ],
                }
                for e in evidence
            ],
            "timeline": [
                {"at": ev.occurred_at, "actor": ev.actor, "action": ev.action, "details": ev.details}
                for ev in audit.for_subject(session, SUBJECT, notice.id)
            ],
        }
        return NoticeOut.model_validate(body)

    def overview(self, session: Session, *, days: int = 30) -> dict[str, Any]:
        """Queue health per regime: open notices, due within 24 hours, overdue (from each open
        notice's earliest clock of that regime), and over the last `days` the median hours from
        receipt to action and the share actioned with every clock of the regime met."""
        now = utc_now()
        earliest: dict[tuple[int, str], datetime | None] = {}
        for notice_id, regime, due in repo.open_clock_dues(session):
            key = (notice_id, regime)
            current = earliest.get(key)
            earliest[key] = due if current is None else (min(current, due) if due else current)
        per_regime: dict[str, dict[str, Any]] = {}

        def row(regime: str) -> dict[str, Any]:
            return per_regime.setdefault(
                regime,
                {
                    "regime": regime,
                    "open": 0,
                    "due_24h": 0,
                    "overdue": 0,
                    "actioned": 0,
                    "median_hours": None,
                    "met": 0,
                    "met_share": None,
                    "_hours": [],
                },
            )

        for (_, regime), due in earliest.items():
            entry = row(regime)
            entry["open"] += 1
            if due is not None and due < now:
                entry["overdue"] += 1
            elif due is not None and due <= now + timedelta(hours=24):
                entry["due_24h"] += 1
        actioned = repo.actioned_since(session, now - timedelta(days=days))
        taken = {
            nid: (actioned_at - received).total_seconds() / 3600 for nid, received, actioned_at in actioned
        }
        clocks_by_notice: dict[tuple[int, str], list[bool | None]] = {}
        for clock in repo.clocks_of(session, list(taken)):
            if clock.due_at is not None:
                clocks_by_notice.setdefault((clock.notice_id, clock.regime), []).append(clock.met)
        regimes_of: dict[int, set[str]] = {}
        for notice_id, regime in clocks_by_notice:
            regimes_of.setdefault(notice_id, set()).add(regime)
        for notice_id, hours in taken.items():
            for regime in regimes_of.get(notice_id, set()):
                entry = row(regime)
                entry["actioned"] += 1
                entry["_hours"].append(hours)
                entry["met"] += all(m is True for m in clocks_by_notice[(notice_id, regime)])
        for entry in per_regime.values():
            hours_list = sorted(entry.pop("_hours"))
            if hours_list:
                mid = len(hours_list) // 2
                entry["median_hours"] = (
                    hours_list[mid] if len(hours_list) % 2 else (hours_list[mid - 1] + hours_list[mid]) / 2
                )
                entry["met_share"] = entry["met"] / entry["actioned"]
        return {
            "now": now,
            "days": days,
            "open": len({nid for nid, _ in earliest}),
            "due_24h": sum(e["due_24h"] for e in per_regime.values()),
            "overdue": sum(e["overdue"] for e in per_regime.values()),
            "regimes": sorted(per_regime.values(), key=lambda e: e["regime"]),
        }


notice_views = NoticeViews()
