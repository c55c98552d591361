"""Who may change what through the console: read-only mode, the token, sessions, CSRF, headers.

These rules do not depend on the database, so they run on SQLite only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from starlette.requests import Request

from dwarf._console._security import SESSION_COOKIE, SESSION_LIFETIME, Guard
from tests.fixtures.console import TOKEN, Console, Flows, console_client


@pytest.fixture
def dsn(sqlite_dsn: str) -> str:
    """A SQLite file: the rules here do not depend on the database."""
    return sqlite_dsn


@pytest.fixture
def read_only(dsn: str, flows: Flows) -> Iterator[Console]:
    """A console started without a token."""
    yield from console_client(dsn)


def test_a_console_without_a_token_shows_no_action_and_refuses_every_one(
    read_only: Console, flows: Flows
) -> None:
    page = read_only.get(f"/flows/{flows.interrupted}")
    assert page.status_code == 200
    assert "read-only" in page.text
    assert "/resume" not in page.text
    assert "/cancel" not in page.text
    assert "restart-from" not in page.text

    confirm = read_only.get(f"/flows/{flows.interrupted}/resume")
    assert confirm.status_code == 403
    assert "read-only" in confirm.text
    refused = read_only.post(f"/flows/{flows.interrupted}/resume", {"csrf": "", "text": "{}"})
    assert refused.status_code == 403
    assert "start it with --token" in refused.text
    login = read_only.post("/login", {"token": "", "next": "/flows"})
    assert login.status_code == 403
    assert SESSION_COOKIE not in login.headers.get("set-cookie", "")


def test_an_action_needs_a_session(console: Console, flows: Flows) -> None:
    confirm = console.get(f"/flows/{flows.running}/cancel?flow={flows.running}")
    assert confirm.status_code == 303, "the confirmation page sends the operator to log in"
    assert confirm.headers["location"].startswith("/login?next=/flows/")
    refused = console.post(f"/flows/{flows.running}/cancel", {"csrf": "anything"})
    assert refused.status_code == 403
    assert "log in with the console" in refused.text


def test_a_wrong_token_logs_nobody_in(console: Console, flows: Flows) -> None:
    wrong = console.post("/login", {"token": TOKEN + "!", "next": "/flows"})
    assert wrong.status_code == 403
    assert "wrong token" in wrong.text
    assert not console.client.cookies.get(SESSION_COOKIE)


def test_the_session_cookie_is_httponly_and_same_site_strict(console: Console) -> None:
    response = console.post("/login", {"token": TOKEN, "next": "/flows"})
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/" in cookie
    assert TOKEN.lower() not in cookie, "the cookie is not the token"


def test_an_action_needs_the_pages_csrf_token(console: Console, flows: Flows) -> None:
    console.login()
    path = f"/flows/{flows.running}/cancel"
    missing = console.post(path, {"text": "no csrf"})
    assert missing.status_code == 403
    assert "CSRF" in missing.text
    wrong = console.post(path, {"csrf": "0" * 64, "text": "forged"})
    assert wrong.status_code == 403

    other = console.csrf(path)
    console.login()  # a new session: the old page's token no longer fits
    stale = console.post(path, {"csrf": other})
    assert stale.status_code == 403

    done = console.act(path)
    assert done.status_code == 303


def test_a_tampered_or_expired_session_is_refused(console: Console, flows: Flows) -> None:
    console.login()
    path = f"/flows/{flows.running}/cancel"
    csrf = console.csrf(path)
    genuine = console.client.cookies[SESSION_COOKIE]
    nonce, issued, mac = genuine.split(".")
    console.client.cookies.clear()
    console.client.cookies.set(SESSION_COOKIE, f"{nonce}.{int(issued) + 1}.{mac}")
    assert console.post(path, {"csrf": csrf}).status_code == 403
    console.client.cookies.clear()
    console.client.cookies.set(SESSION_COOKIE, genuine)
    assert console.post(path, {"csrf": csrf}).status_code == 303, "the genuine one still works"

    guard = Guard("t")
    old = guard.new_session(now=time.time() - SESSION_LIFETIME.total_seconds() - 60)
    request = Request(
        {"type": "http", "headers": [(b"cookie", f"{SESSION_COOKIE}={old}".encode())]}
    )
    assert guard.session_of(request) is None
    fresh = guard.new_session()
    request = Request(
        {"type": "http", "headers": [(b"cookie", f"{SESSION_COOKIE}={fresh}".encode())]}
    )
    assert guard.session_of(request) is not None
    assert Guard("t").session_of(request) is None, "another process's key: sessions end"


def test_a_request_from_another_origin_is_refused(console: Console, flows: Flows) -> None:
    console.login()
    path = f"/flows/{flows.running}/cancel"
    csrf = console.csrf(path)
    foreign = console.post(path, {"csrf": csrf}, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert "another site" in foreign.text
    opaque = console.post(path, {"csrf": csrf}, headers={"Origin": "null"})
    assert opaque.status_code == 403, "a sandboxed or privacy-stripped origin is not ours"
    own = console.post(path, {"csrf": csrf}, headers={"Origin": "http://127.0.0.1"})
    assert own.status_code == 303


def test_login_returns_only_to_a_path_on_the_console(console: Console) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = console.post("/login", {"token": TOKEN, "next": target})
        assert response.headers["location"] == "/flows?done=login", target
    back = console.post("/login", {"token": TOKEN, "next": "/shards"})
    assert back.headers["location"] == "/shards?done=login"


def test_every_response_carries_the_security_headers(console: Console, flows: Flows) -> None:
    for path in ("/flows", f"/flows/{flows.completed}", "/static/console.js", "/nope"):
        headers = console.get(path).headers
        csp = headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "script-src 'self';" in csp, "no inline script, no eval"
        assert "frame-ancestors 'none'" in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
    assert console.get("/flows").headers["cache-control"] == "no-store"


def test_pages_load_no_script_from_elsewhere_and_none_inline(
    console: Console, flows: Flows
) -> None:
    for path in ("/flows", f"/flows/{flows.interrupted}", "/shards", "/login"):
        page = console.get(path).text
        assert "<script>" not in page
        assert "https://" not in page
        assert "http://" not in page
    for asset in ("htmx.min.js", "mermaid.min.js"):
        assert console.get(f"/static/vendor/{asset}").status_code == 200


@pytest.fixture
def loopback_only(dsn: str, flows: Flows) -> Iterator[Console]:
    """A console that accepts loopback Host headers only, as ``dwarf console`` starts it."""
    yield from console_client(dsn, allowed_hosts=("127.0.0.1", "localhost"))


def test_a_loopback_console_refuses_other_host_names(loopback_only: Console) -> None:
    assert loopback_only.get("/flows").status_code == 200
    rebound = loopback_only.get("/flows", headers={"Host": "attacker.example"})
    assert rebound.status_code == 400
