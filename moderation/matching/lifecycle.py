"""Wires the match index into the application: load at start-up, refresher thread, readiness probe."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from moderation.matching.service import matcher, snapshot_directory


def install(app: FastAPI) -> None:
    """Start the matcher with the app (from the latest snapshot under MODERATION_DATA_DIR when there is
    one; the first requests see a fully loaded index) and stop it after."""

    async def start(app: FastAPI) -> None:
        settings = app.state.settings
        await asyncio.to_thread(
            matcher.start,
            app.state.engine,
            refresh_seconds=settings.match_refresh_seconds,
            snapshot_dir=snapshot_directory(settings),
        )

    async def stop(app: FastAPI) -> None:
        await asyncio.to_thread(matcher.stop)

    app.state.on_start.append(start)
    app.state.on_stop.append(stop)
    app.state.readiness["match_index"] = matcher.status
