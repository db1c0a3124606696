"""CLI commands of the `checks` feature: `moderation check FILE` runs the pipeline in-process;
`moderation checks seal|verify` seal stored checks into the audit log and verify the seals;
`moderation review list|verdict` work the review queue as the dashboard does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from moderation.audit.service import audit
from moderation.checks.ports import ServiceMatcher
from moderation.checks.review import review_queue
from moderation.checks.schemas import CheckMetadata
from moderation.checks.seals import check_seals
from moderation.checks.service import CheckContext, CheckInput, checks, make_classifier
from moderation.checks.tasks import seal_decisions
from moderation.config import get_settings
from moderation.db import get_engine, transaction
from moderation.exceptions import ConfigurationError, ModerationError, PolicyError, SchemaOutOfDate
from moderation.hashing.intake import ImageLimits, read_image_file
from moderation.hashing.video import VideoHashOptions, VideoLimits, read_video_file, sniff_video_file
from moderation.kit.cli import cli_actor, fail
from moderation.kit.migrations import prepare_database
from moderation.matching.service import matcher as match_service
from moderation.policy.loader import get_policy

checks_app = typer.Typer(help="Seals over stored checks in the audit log.", no_args_is_help=True)


review_app = typer.Typer(help="The review queue: list items, record verdicts.", no_args_is_help=True)
REVIEW_STATES = ("pending", "open", "escalated", "decided", "all")
VERDICTS = ("allow", "block", "escalate")


def register(app: typer.Typer) -> None:
    """Attach this feature's commands to the top-level `moderation` CLI."""
    app.command("check")(check)
    app.add_typer(checks_app, name="checks")
    app.add_typer(review_app, name="review")


@review_app.command("list")
def review_list(
    state: Annotated[str, typer.Option(help=f"One of {', '.join(REVIEW_STATES)}.")] = "pending",
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Rows to print.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Print the review queue, highest risk first."""
    if state not in REVIEW_STATES:
        raise fail(f"error [invalid_state]: --state must be one of {', '.join(REVIEW_STATES)}", 2)
    with transaction() as session:
        items = review_queue.list(session, state=state, limit=limit)
    if not as_json:
        typer.echo(f"{'ID':>8} {'STATE':10} {'RISK':>5} {'SOURCE':9} {'CHECK':>8} CONTENT")
    for item in items:
        if as_json:
            typer.echo(json.dumps(item.model_dump(mode="json")))
            continue
        typer.echo(
            f"{item.id:>8} {item.state:10} {item.risk:5.2f} {item.source:9} {item.check.check_id:>8} "
            f"{item.content_id or '-'}"
        )


@review_app.command("verdict")
def review_verdict(
    item_id: Annotated[int, typer.Argument(help="The review item id.", min=1)],
    verdict: Annotated[str, typer.Argument(help="allow, block or escalate.")],
    note: Annotated[str | None, typer.Option(help="Why (recorded in the audit log).")] = None,
    add_to_bank: Annotated[
        str | None, typer.Option("--add-to-bank", help="With block: add the content's hashes to this bank.")
    ] = None,
) -> None:
    """Record a verdict on a review item, as the dashboard's buttons do (audited)."""
    if verdict not in VERDICTS:
        raise fail(f"error [invalid_verdict]: VERDICT must be one of {', '.join(VERDICTS)}", 2)
    try:
        with transaction() as session:
            entry = review_queue.verdict(
                session,
                item_id,
                verdict=verdict,
                actor=cli_actor(),
                note=note,
                add_to_bank=add_to_bank,
                settings=get_settings(),
            )
    except ModerationError as exc:
        raise fail(f"error [{exc.code}]: {exc.message}") from exc
    banked = f", hashes added to bank {entry.added_to_bank}" if entry.added_to_bank else ""
    typer.echo(f"review item {entry.id}: {entry.state}{banked}")


@checks_app.command("seal")
def seal(
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Checks per audit event (MODERATION_CHECK_SEAL_BATCH_SIZE).")
    ] = None,
) -> None:
    """Seal every unsealed check now (what the `checks.seal_decisions` job does each interval)."""

    run = seal_decisions(settings=get_settings(), actor=cli_actor(), batch_size=batch_size)
    for done in run.seals:
        typer.echo(
            f"sealed checks {done.first_id}-{done.last_id} ({done.count}) in audit event {done.event_id}"
        )
    typer.echo(f"{run.sealed} checks sealed in {len(run.seals)} batches")
    if run.conflicts:
        typer.echo("another sealer was running; it seals the rest")


@checks_app.command("verify")
def verify() -> None:
    """Recompute every seal from the checks table (and the audit chain); exit 1 naming the first
    altered check."""

    with transaction() as session:
        chain = audit.verify(session)
        report = check_seals.verify(session) if chain.ok else None
    if not chain.ok:
        raise fail(f"error [audit_chain_broken]: event {chain.first_broken_id}: {chain.reason}")
    assert report is not None
    if not report.ok:
        raise fail(
            f"error [check_seal_broken]: check {report.check_id} (seal event {report.event_id}): "
            f"{report.reason}"
        )
    oldest = report.oldest_unsealed_at.isoformat() if report.oldest_unsealed_at else "-"
    typer.echo(
        f"ok: {report.sealed} checks in {report.batches} sealed batches; "
        f"{report.unsealed} not sealed yet (oldest {oldest})"
    )


def check(
    file: Annotated[Path, typer.Argument(help="The image or video to check.", dir_okay=False)],
    metadata: Annotated[
        str | None,
        typer.Option(
            help="JSON object: content_id, uploader_id, source (upload|generated), prompt, model, seed."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the same JSON as POST /v1/check.")] = False,
    wait_classifier: Annotated[
        float, typer.Option(help="Seconds to wait for the classifier model to load (when enabled).")
    ] = 120.0,
) -> None:
    """Check one image or video in-process (same pipeline, policy and database as POST /v1/check)."""

    settings = get_settings()
    limits = ImageLimits.from_settings(settings)
    video_limits = VideoLimits.from_settings(settings)
    try:
        meta = CheckMetadata.parse(metadata)
        data = (
            read_video_file(file, video_limits) if sniff_video_file(file) else read_image_file(file, limits)
        )
    except ModerationError as exc:
        raise fail(f"error [{exc.code}]: {exc.message}") from exc
    except OSError as exc:
        raise fail(f"error [unreadable_file]: {file}: {exc.strerror or exc}") from exc
    try:
        prepare_database(settings)  # a fresh data directory is migrated, as `serve` does
    except (SchemaOutOfDate, ConfigurationError, PolicyError) as exc:
        raise fail(str(exc)) from exc
    policy = get_policy(settings.policies_dir)
    match_service.start(get_engine(settings), background=False)
    classifier = make_classifier(settings, policy)
    if classifier is not None:
        classifier.start()
        waiter = getattr(classifier, "wait_settled", None)
        if waiter is not None:
            waiter(wait_classifier)
    context = CheckContext(
        matcher=ServiceMatcher(match_service),
        classifier=classifier,
        limits=limits,
        settings=settings,
        video_limits=video_limits,
        video_options=VideoHashOptions.from_settings(settings),
        video_classifier_frames=settings.video_classifier_frames,
    )
    try:
        with transaction() as session:
            result = checks.check_sync(
                session,
                CheckInput(data=data, metadata=meta),
                policy=policy,
                context=context,
                actor=cli_actor(),
            )
    except ModerationError as exc:
        raise fail(f"error [{exc.code}]: {exc.message}") from exc
    finally:
        if classifier is not None:
            classifier.close()
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json")))
        return
    typer.echo(f"{file}: {result.decision}{' (cached)' if result.cached else ''} - check {result.check_id}")
    for reason in result.reasons:
        what = reason.bank or reason.category or reason.term or reason.pattern or ""
        typer.echo(f"  {reason.decision:6} {reason.rule:30} {reason.kind} {what}")
