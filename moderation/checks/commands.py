"""CLI commands of the `checks` feature: `moderation check FILE` runs the pipeline in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Attach this feature's commands to the top-level `moderation` CLI."""
    app.command("check")(check)


def check(
    file: Annotated[Path, typer.Argument(help="The image to check.", dir_okay=False)],
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
    """Check one image in-process (same pipeline, policy and database as POST /v1/check)."""
    from moderation.checks.lifecycle import make_classifier
    from moderation.checks.ports import ServiceMatcher, default_matcher
    from moderation.checks.schemas import CheckMetadata
    from moderation.checks.service import CheckContext, CheckInput, checks
    from moderation.cli import cli_actor, fail
    from moderation.config import get_settings
    from moderation.db import get_engine, transaction
    from moderation.exceptions import ModerationError
    from moderation.hashing.intake import ImageLimits, read_image_file
    from moderation.policy.loader import get_policy

    settings = get_settings()
    limits = ImageLimits.from_settings(settings)
    try:
        meta = CheckMetadata.parse(metadata)
        data = read_image_file(file, limits)
    except ModerationError as exc:
        raise fail(f"error [{exc.code}]: {exc.message}") from exc
    except OSError as exc:
        raise fail(f"error [unreadable_file]: {file}: {exc.strerror or exc}") from exc
    policy = get_policy(settings.policies_dir)
    matcher = default_matcher()
    if isinstance(matcher, ServiceMatcher):
        from moderation.matching.service import matcher as match_service

        match_service.start(get_engine(settings), background=False)
    classifier = make_classifier(settings, policy)
    if classifier is not None:
        classifier.start()
        waiter = getattr(classifier, "wait_settled", None)
        if waiter is not None:
            waiter(wait_classifier)
    context = CheckContext(matcher=matcher, classifier=classifier, limits=limits)
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
