"""Every API route of an application with its full path. FastAPI (0.165+) keeps an included router as
one `_IncludedRouter` entry in `app.routes`, so a flat `isinstance(route, APIRoute)` scan finds none:
walk the included routers instead."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi.routing import APIRoute


def api_routes(app: Any) -> Iterator[tuple[str, APIRoute]]:
    """(full path, route) for every APIRoute, however deeply routers are included."""

    def walk(routes: Any, prefix: str) -> Iterator[tuple[str, APIRoute]]:
        for route in routes:
            if isinstance(route, APIRoute):
                yield prefix + route.path, route
            elif hasattr(route, "original_router"):
                yield from walk(route.original_router.routes, prefix + (route.include_context.prefix or ""))

    yield from walk(app.routes, "")
