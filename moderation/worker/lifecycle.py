"""`moderation serve --with-worker`: the job scheduler inside the web process, started and stopped with it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from moderation.worker.runner import Scheduler


def install(app: FastAPI) -> None:
    """Start the scheduler with the app when `MODERATION_RUN_WORKER_IN_PROCESS` is set."""
    if not app.state.settings.run_worker_in_process:
        return
    scheduler = Scheduler(app.state.engine, app.state.settings)

    async def start(_: FastAPI) -> None:
        scheduler.start()

    async def stop(_: FastAPI) -> None:
        scheduler.stop()

    def readiness() -> dict[str, Any]:
        return scheduler.state()

    app.state.worker = scheduler
    app.state.on_start.append(start)
    app.state.on_stop.append(stop)
    app.state.readiness["worker"] = readiness
