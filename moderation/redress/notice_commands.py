"""`moderation notice appeal|uphold|restore`: the notice commands of those names as views of the
redress records (moderation/redress/notice_views.py), under the same rules as the API."""

from __future__ import annotations

from typing import Annotated

import typer

from moderation.config import get_settings
from moderation.kit.cli import cli_actor
from moderation.redress.notice_views import notice_redress
from moderation.takedown.notice_commands import AsJSON, NoticeID, changed, notice_app

Required = Annotated[str, typer.Option("--reason", help="Why (sent to the appellant; required).")]


def appeal(
    notice_id: NoticeID,
    reason: Annotated[
        str | None, typer.Option("--reason", help="The uploader's statement (recorded on the appeal).")
    ] = None,
    as_json: AsJSON = False,
) -> None:
    """File the uploader's appeal against the removal (an appeal record; a retry answers the open one)."""
    changed(
        notice_id,
        lambda session: notice_redress.appeal(
            session, notice_id, statement=reason, actor=cli_actor(), settings=get_settings()
        ),
        as_json,
    )


def uphold(notice_id: NoticeID, reason: Required, as_json: AsJSON = False) -> None:
    """Uphold the removal: decides the open appeal (not by who removed it), or records the claimant's
    court action on a waiting counter-notice."""
    changed(
        notice_id,
        lambda session: notice_redress.uphold(
            session, notice_id, reason=reason, actor=cli_actor(), settings=get_settings()
        ),
        as_json,
    )


def restore(notice_id: NoticeID, reason: Required, as_json: AsJSON = False) -> None:
    """Restore: overturns the open appeal end to end (not by who removed it), or restores after a
    counter-notice once its window has opened."""
    changed(
        notice_id,
        lambda session: notice_redress.restore(
            session, notice_id, reason=reason, actor=cli_actor(), settings=get_settings()
        ),
        as_json,
    )


def register(app: typer.Typer) -> None:
    """Add these to `moderation notice` (the takedown feature's command group, already on `app`)."""
    for name, command in (("appeal", appeal), ("uphold", uphold), ("restore", restore)):
        notice_app.command(name)(command)
