"""Who may change flows, and the headers every response carries. See docs/console.md#security.

Constraints:

- Without a token the console is read-only: every state-changing request is a 403, whatever it
  carries, and pages show no action.
- With a token, a state-changing request needs both a session and a CSRF token. The session is
  an HttpOnly, SameSite=Strict cookie that ``/login`` sets once the operator types the token;
  its value is a random nonce, its issue time and an HMAC of both under a key drawn at startup,
  so sessions end when the console restarts or after ``SESSION_LIFETIME``. The CSRF token is an
  HMAC of the session's nonce under the same key (a synchronizer token that needs no server-side
  table): pages put it in a hidden field of each form, and a request from another site can read
  neither the cookie nor the page that holds it.
- A request whose ``Origin`` header names another origin is refused before any of that.
- Tokens are compared in constant time.
- Every response forbids framing and MIME sniffing and sends a Content-Security-Policy that loads
  scripts, styles and everything else from the console itself only: no inline script, no eval.
  Mermaid writes ``style`` attributes and a ``<style>`` element into the SVG it draws, so styles
  (only styles) may be inline; a style cannot run script. Keys in URLs are capabilities, so no
  Referer leaves the console for another site (``same-origin``: ``no-referrer`` would also make
  browsers send ``Origin: null`` on the console's own forms, which the origin check refuses),
  and no page is cached.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CSRF_FIELD",
    "READ_ONLY",
    "SESSION_COOKIE",
    "SESSION_LIFETIME",
    "Denied",
    "Guard",
    "SecurityHeaders",
]

SESSION_COOKIE: Final = "dwarf_console_session"
CSRF_FIELD: Final = "csrf"
SESSION_LIFETIME: Final = timedelta(hours=12)
READ_ONLY: Final = "this console is read-only: start it with --token to allow actions"
"""Why a console without a token refuses an action."""

_CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_HEADERS: Final = {
    "content-security-policy": _CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}


class Denied(Exception):
    """A state-changing request the console refuses (403), with the reason shown to the user."""


@dataclass(frozen=True, slots=True)
class Session:
    """A valid session: its nonce (what the CSRF token is bound to)."""

    nonce: str


class Guard:
    """Checks the token at login, issues and verifies sessions and CSRF tokens."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()
        # Drawn per process: a restart ends every session, and no secret is kept on disk.
        self._key = secrets.token_bytes(32)

    @property
    def read_only(self) -> bool:
        """True when the console was started without a token."""
        return not self._token

    def token_matches(self, given: str) -> bool:
        """Whether ``given`` is the console's token (never true for a read-only console)."""
        return bool(self._token) and hmac.compare_digest(given.encode(), self._token)

    def new_session(self, now: float | None = None) -> str:
        """A fresh session cookie value."""
        nonce = secrets.token_urlsafe(18)
        issued = str(int(time.time() if now is None else now))
        return f"{nonce}.{issued}.{self._mac('session', nonce, issued)}"

    def session_of(self, request: Request, now: float | None = None) -> Session | None:
        """The request's session, if its cookie is genuine and not expired."""
        if self.read_only:
            return None
        nonce, _, rest = request.cookies.get(SESSION_COOKIE, "").partition(".")
        issued, _, mac = rest.partition(".")
        if not (nonce and issued.isdigit() and mac):
            return None
        if not hmac.compare_digest(mac, self._mac("session", nonce, issued)):
            return None
        age = (time.time() if now is None else now) - int(issued)
        if not 0 <= age <= SESSION_LIFETIME.total_seconds():
            return None
        return Session(nonce)

    def csrf_token(self, session: Session) -> str:
        """The CSRF token forms of this session must carry."""
        return self._mac("csrf", session.nonce)

    def check_action(self, request: Request, form_csrf: str) -> None:
        """Raise ``Denied`` unless this state-changing request may proceed."""
        if self.read_only:
            raise Denied(READ_ONLY)
        if not same_origin(request):
            raise Denied("the request came from another site")
        session = self.session_of(request)
        if session is None:
            raise Denied("log in with the console's token first")
        if not form_csrf or not hmac.compare_digest(form_csrf, self.csrf_token(session)):
            raise Denied("missing or wrong CSRF token: reload the page and try again")

    def _mac(self, purpose: str, *parts: str) -> str:
        message = "\0".join((purpose, *parts)).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def same_origin(request: Request) -> bool:
    """False when the request names an ``Origin`` other than the console's own."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin == own


class SecurityHeaders:
    """ASGI middleware: the headers of the module docstring on every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, adding the headers to its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS.items():
                    headers[name] = value
                if not static:
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
