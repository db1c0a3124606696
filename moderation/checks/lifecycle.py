"""Wires the check pipeline into the app: the classifier runtime (started off the request path,
with a `classifier` readiness probe) and the per-process pipeline context on `app.state`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from moderation.checks.ports import ServiceMatcher
from moderation.checks.service import CheckContext, make_classifier
from moderation.classifier.interface import ImageClassifier
from moderation.config import Settings
from moderation.db import session_factory
from moderation.hashing.intake import ImageLimits
from moderation.hashing.pool import HashPool, default_processes
from moderation.hashing.video import VideoHashOptions, VideoLimits


def classifier_status(classifier: ImageClassifier | None) -> dict[str, Any]:
    if classifier is None:
        return {
            "state": "disabled",
            "reason": "disabled by settings (MODERATION_CLASSIFIER_ENABLED)",
            "required": False,
        }
    return classifier.status()


def install(app: FastAPI) -> None:
    """Create the pipeline context and the classifier; start/stop it with the app; add its probe."""
    settings: Settings = app.state.settings
    classifier = make_classifier(settings, app.state.policy)
    context = CheckContext(
        matcher=ServiceMatcher(),
        classifier=classifier,
        limits=ImageLimits.from_settings(settings),
        settings=settings,
        video_limits=VideoLimits.from_settings(settings),
        video_options=VideoHashOptions.from_settings(settings),
        video_classifier_frames=settings.video_classifier_frames,
        hash_pool=HashPool(
            default_processes() if settings.hash_processes is None else settings.hash_processes
        ),
    )
    app.state.check_context = context
    if app.state.read_engine is not app.state.engine:
        # SQLite: cache lookups read through the app's deferred-transaction engine, so they neither
        # wait for nor block the one writer (the service engine takes the write lock at BEGIN).
        context.reader = session_factory(app.state.read_engine)

    async def start(_: FastAPI) -> None:
        if context.classifier is not None:
            context.classifier.start()

    async def stop(_: FastAPI) -> None:
        if context.classifier is not None:
            context.classifier.close()
        if context.hash_pool is not None:
            context.hash_pool.close()

    app.state.on_start.append(start)
    app.state.on_stop.append(stop)
    # Reads the context each time, so a classifier swapped in later (tests, reloads) is what is shown.
    app.state.readiness["classifier"] = lambda: classifier_status(context.classifier)
