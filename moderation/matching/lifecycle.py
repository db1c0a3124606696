"""Wires the match index into the application: load at start-up, refresher thread, readiness probe."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from moderation.matching.service import matcher


def install(app: FastAPI) -> None:
    """Start the matcher with the app (the first requests see a fully loaded index) and stop it after."""

    async def start(app: FastAPI) -> None:
        await asyncio.to_thread(
            matcher.start, app.state.engine, refresh_seconds=app.state.settings.match_refresh_seconds
        )

    async def stop(app: FastAPI) -> None:
        await asyncio.to_thread(matcher.stop)

    app.state.on_start.append(start)
    app.state.on_stop.append(stop)
    app.state.readiness["match_index"] = matcher.status
