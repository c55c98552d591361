"""The pages that change flows, each behind a confirmation page, and logging in and out.

Constraints:

- Every action is two requests: a GET that shows what will happen (the confirmation, with its
  input: a reason, resume data, state overrides), then the form's POST, which the guard checks
  (read-only, origin, session, CSRF: ``_security``) before the engine is called.
- JSON input is validated here, before the engine: malformed JSON, or JSON that is not an
  object, re-shows the form with the text kept, a message naming the field, and status 400.
- An engine refusal (a 409 for a flow in the wrong status, a 404 for an unknown key) re-shows
  the form with the engine's message and its status code. Success redirects (303) to the flow,
  where a fixed message (never request text) says what was done.
- A redirect target taken from the request is used only when it is a key, or a path on this
  console: no open redirect.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dwarf._console._context import Console, console_of
from dwarf._console._security import (
    CSRF_FIELD,
    READ_ONLY,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    Denied,
    same_origin,
)
from dwarf._console._views import is_key
from dwarf.engine import Engine
from dwarf.errors import BadRequestError, DwarfError

__all__ = ["ACTIONS", "act", "confirm", "login", "login_page", "logout"]

Call = Callable[[Engine, str, str, dict[str, Any] | None], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class Action:
    """One action: what it is called, on what, what input it takes, and the engine call."""

    name: str
    on: str  # "flow" or "step": the kind of key in the URL
    title: str
    explain: str
    data: str  # "" (none), "reason", "resume data" or "overrides"
    call: Call


async def _cancel(engine: Engine, key: str, reason: str, _: dict[str, Any] | None) -> None:
    await engine.cancel(key, reason)


async def _resume(engine: Engine, key: str, _: str, data: dict[str, Any] | None) -> None:
    await engine.resume(key, data)


async def _restart(engine: Engine, key: str, _: str, data: dict[str, Any] | None) -> None:
    await engine.restart(key, data)


async def _restart_from(engine: Engine, key: str, _: str, data: dict[str, Any] | None) -> None:
    await engine.restart_from(key, data)


async def _fork(engine: Engine, key: str, _: str, data: dict[str, Any] | None) -> str:
    return await engine.fork(key, data)


async def _delete(engine: Engine, key: str, _: str, __: dict[str, Any] | None) -> None:
    await engine.delete(key)


ACTIONS: Final = {
    action.name: action
    for action in (
        Action("cancel", "flow", "Cancel flow", "Stop the flow and every subgraph below it; "
               "running tasks' results are discarded.", "reason", _cancel),
        Action("resume", "flow", "Resume flow", "The interrupted task runs again and its "
               "interrupt() returns this JSON object.", "resume data", _resume),
        Action("restart", "flow", "Restart flow", "Re-run the flow from its entry step; the "
               "overrides are merged into its initial state.", "overrides", _restart),
        Action("delete", "flow", "Delete flow", "Delete the flow and its steps for good. A "
               "running flow must be cancelled first.", "", _delete),
        Action("restart-from", "step", "Restart from step", "Re-run the flow from this step; "
               "the overrides are merged into the step's input state.", "overrides",
               _restart_from),
        Action("fork", "step", "Fork from step", "Start a new flow re-running from a copy of "
               "this step; the original flow is untouched.", "overrides", _fork),
    )
}  # fmt: skip
"""Every action by its URL name."""


def _form_values(action: Action, key: str, flow: str, text: str = "") -> dict[str, Any]:
    flow = flow if is_key(flow) else ""
    back = f"/flows/{flow or key}" if flow or action.on == "flow" else f"/steps/{key}"
    return {"action": action, "key": key, "flow": flow, "text": text, "back": back}


async def confirm(request: Request) -> Response:
    """``GET /flows/{key}/{action}``, ``GET /steps/{key}/{action}``: the confirmation page."""
    console = console_of(request)
    action = _action_of(request)
    if action is None:
        return console.render(request, "error.html", 404, message="no such page")
    key, flow = request.path_params["key"], request.query_params.get("flow", "")
    values = _form_values(action, key, flow)
    if console.guard.read_only:
        return console.render(request, "error.html", 403, message=READ_ONLY)
    if console.guard.session_of(request) is None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(here, safe='/')}", status_code=303)
    return console.render(request, "action.html", error="", **values)


async def act(request: Request) -> Response:
    """``POST`` of a confirmation page: check the guard, parse the input, call the engine."""
    console = console_of(request)
    action = _action_of(request)
    if action is None:
        return console.render(request, "error.html", 404, message="no such page")
    form = await request.form()
    text = str(form.get("text", ""))
    key, flow = request.path_params["key"], str(form.get("flow", ""))
    values = _form_values(action, key, flow, text)
    try:
        console.guard.check_action(request, str(form.get(CSRF_FIELD, "")))
    except Denied as exc:
        return console.render(request, "error.html", 403, message=str(exc))
    try:
        data = _json_object(action, text)
        new_key = await action.call(console.engine, key, text.strip(), data)
    except DwarfError as exc:
        error = console.clean(str(exc))
        return console.render(request, "action.html", exc.status_code, error=error, **values)
    return RedirectResponse(_after(action, key, values["flow"], new_key), status_code=303)


def _action_of(request: Request) -> Action | None:
    action = ACTIONS.get(request.path_params["action"])
    on = "flow" if request.url.path.startswith("/flows/") else "step"
    return action if action is not None and action.on == on else None


def _json_object(action: Action, text: str) -> dict[str, Any] | None:
    if action.data not in {"resume data", "overrides"} or not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequestError(
            f"the {action.data} is not valid JSON: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(value, dict):
        raise BadRequestError(
            f"the {action.data} must be a JSON object, got {type(value).__name__}"
        )
    return value


def _after(action: Action, key: str, flow: str, new_key: str | None) -> str:
    if new_key is not None:
        return f"/flows/{new_key}?done={action.name}"
    if action.name == "delete":
        return f"/flows?done={action.name}"
    if action.on == "flow":
        return f"/flows/{key}?done={action.name}"
    return f"/flows/{flow}?done={action.name}" if flow else f"/steps/{key}?done={action.name}"


# --- login ------------------------------------------------------------------------------------


def _next_of(text: str) -> str:
    """A path on this console to return to (``/flows`` for anything else)."""
    ok = text.startswith("/") and not text.startswith("//") and "\\" not in text
    return text if ok else "/flows"


async def login_page(request: Request) -> Response:
    """``GET /login``: the token form."""
    console = console_of(request)
    next_path = _next_of(request.query_params.get("next", ""))
    return console.render(request, "login.html", error="", next_path=next_path)


async def login(request: Request) -> Response:
    """``POST /login``: a right token sets the session cookie."""
    console = console_of(request)
    form = await request.form()
    next_path = _next_of(str(form.get("next", "")))
    if console.guard.read_only:
        return console.render(request, "error.html", 403, message=READ_ONLY)
    if not same_origin(request):
        return console.render(
            request, "error.html", 403, message="the request came from another site"
        )
    if not console.guard.token_matches(str(form.get("token", ""))):
        return console.render(request, "login.html", 403, error="wrong token", next_path=next_path)
    separator = "&" if "?" in next_path else "?"
    response = RedirectResponse(f"{next_path}{separator}done=login", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        console.guard.new_session(),
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


async def logout(request: Request) -> Response:
    """``POST /logout``: forget the session."""
    console: Console = console_of(request)
    form = await request.form()
    try:
        console.guard.check_action(request, str(form.get(CSRF_FIELD, "")))
    except Denied as exc:
        return console.render(request, "error.html", 403, message=str(exc))
    response = RedirectResponse("/flows?done=logout", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
