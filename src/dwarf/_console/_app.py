"""The console's ASGI application: routes, middleware, error pages and the operator engine.

Constraints:

- The engine is an operator engine (``with_workers(0)``): it starts no dispatcher, so the console
  never claims or runs a step, and it needs neither the host's graph loader nor its task
  executor. What an action makes pending is run by the application's own workers.
- The engine starts with the application (its lifespan) and stops with it.
- An engine error becomes a page with the error's status code (404 for an unknown key, 400 for a
  malformed one, 409 for the wrong status, 503 for an unreachable database) and its message,
  masked; anything else is a 500 that names the error's type only.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dwarf._console import _actions, _pages
from dwarf._console._context import Console, console_of
from dwarf._console._security import Guard, SecurityHeaders
from dwarf._console._settings import ConsoleSettings
from dwarf.engine import Engine
from dwarf.errors import DwarfError

__all__ = ["create_app"]

STATIC: Final = Path(__file__).parent / "static"

# The console runs one request's operations at a time per page view; a few connections serve
# several operators at once without crowding the application's own pool.
_CONNECTIONS: Final = 4

_log = logging.getLogger("dwarf.console")


def create_app(settings: ConsoleSettings) -> Starlette:
    """The console for ``settings``: an ASGI app to serve with uvicorn (or any ASGI server)."""
    console = Console(settings, Guard(settings.token))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = (
            Engine()
            .with_dsn(settings.dsn)
            .with_num_shards(settings.shards)
            .with_workers(0)
            .with_max_open_conns(_CONNECTIONS)
        )
        async with engine:
            console.engine_or_none = engine
            try:
                yield
            finally:
                console.engine_or_none = None

    flow_key = "/flows/{key:str}"
    step_key = "/steps/{key:str}"
    routes = [
        Route("/", _pages.home),
        Route("/flows", _pages.flows_page),
        Route("/flows/rows", _pages.flows_rows),
        Route(flow_key, _pages.flow_page),
        Route(flow_key + "/status", _pages.flow_status),
        Route(flow_key + "/{action:str}", _actions.confirm, methods=["GET"]),
        Route(flow_key + "/{action:str}", _actions.act, methods=["POST"]),
        Route(step_key, _pages.step_page),
        Route(step_key + "/{action:str}", _actions.confirm, methods=["GET"]),
        Route(step_key + "/{action:str}", _actions.act, methods=["POST"]),
        Route("/shards", _pages.shards_page),
        Route("/tasks", _pages.tasks_page),
        Route("/workflows/{name:path}", _pages.workflow_page),
        Route("/login", _actions.login_page, methods=["GET"]),
        Route("/login", _actions.login, methods=["POST"]),
        Route("/logout", _actions.logout, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts) or ["*"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={DwarfError: _engine_error, HTTPException: _http_error, 500: _crash},
    )
    app.state.console = console
    return app


async def _engine_error(request: Request, exc: Exception) -> Response:
    console = console_of(request)
    status = exc.status_code if isinstance(exc, DwarfError) else 500
    return console.render(request, "error.html", status, message=console.clean(str(exc)))


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = "no such page" if status == 404 else str(getattr(exc, "detail", "error"))
    return console_of(request).render(request, "error.html", status, message=message)


async def _crash(request: Request, exc: Exception) -> Response:
    _log.error("console: %s on %s", type(exc).__name__, request.url.path)
    message = f"unexpected {type(exc).__name__}: see the console's log"
    return console_of(request).render(request, "error.html", 500, message=message)
