"""The server examples run as a user runs them: subprocesses on a scratch database.

The document pipeline and the two replicas print their results; the webhook service is started
with uvicorn on a free port and driven over real HTTP, then restarted on the same database.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.fixtures.browser import free_port

ROOT = Path(__file__).resolve().parents[2]


async def _run(*args: str, timeout: float = 180) -> tuple[str, str]:
    """Run ``python *args`` from the checkout; return its stdout and stderr (it must exit 0)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode == 0, err.decode()
    return out.decode(), err.decode()


async def test_the_document_pipeline_counts_every_page_and_keeps_page_order(
    postgres_dsn: str,
) -> None:
    out, err = await _run("examples/document_pipeline.py", postgres_dsn)
    assert out.splitlines() == [
        "status: completed",
        "report: 4 pages, 49 words",
        "  page 1: Durable workflows (13 words)",
        "  page 2: Fan-out (12 words)",
        "  page 3: Fan-in (14 words)",
        "  page 4: Replicas (10 words)",
        "steps:  split x1, read_page x4, assemble x1",
    ]
    assert err == ""


async def test_two_replicas_share_the_flows_and_the_survivor_finishes_the_killed_ones_steps(
    postgres_dsn: str,
) -> None:
    out, err = await _run("examples/two_replicas.py", postgres_dsn)
    lines = out.splitlines()
    assert lines[:3] == [
        "started 12 flows on replicas a and b",
        "killed replica a",
        "completed: 12 of 12 flows",
    ]
    a = re.fullmatch(r"replica a ran (\d+) steps before it was killed", lines[3])
    b = re.fullmatch(
        r"replica b ran (\d+) steps, (\d+) of them taken over from replica a", lines[4]
    )
    assert a is not None, out
    assert b is not None, out
    ran_a, ran_b, taken_over = int(a[1]), int(b[1]), int(b[2])
    assert ran_a >= 1, "replica a was killed after finishing a step"
    assert 1 <= taken_over <= ran_b, "a was killed mid-step: b took its running steps over"
    assert ran_a + ran_b == 12 * 3, "every step of every flow is recorded once"
    assert "Traceback" not in err


class Service:
    """``examples/webhook_service.py serve`` in a subprocess, and an HTTP client for it."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)

    async def post(self, path: str, body: dict[str, Any], status: int) -> dict[str, Any]:
        """POST ``body`` as JSON; assert the answer's status; return its JSON."""
        response = await self.http.post(path, json=body)
        assert response.status_code == status, response.text
        data: dict[str, Any] = response.json()
        return data

    async def get(self, path: str) -> dict[str, Any]:
        """GET ``path``; assert it answered 200; return its JSON."""
        response = await self.http.get(path)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


async def _serving(service: Service) -> None:
    for _ in range(300):
        if service.proc.returncode is not None:
            break
        try:
            await service.http.get("/openapi.json")
        except httpx.TransportError:
            await asyncio.sleep(0.2)
            continue
        return
    assert service.proc.stderr is not None
    pytest.fail("the service did not start: " + (await service.proc.stderr.read()).decode())


@asynccontextmanager
async def webhook_service(dsn: str) -> AsyncIterator[Service]:
    """Serve the example on ``dsn``; on exit stop it as a terminal would and check it stopped
    cleanly (its engine shut down in the app's lifespan)."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "examples/webhook_service.py",
        "serve",
        "--dsn",
        dsn,
        "--port",
        str(port),
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    service = Service(proc, port)
    try:
        await _serving(service)
        yield service
    finally:
        await service.http.aclose()
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    log = err.decode()
    assert proc.returncode == 0, log
    assert "Application shutdown complete." in log
    assert "Traceback" not in log


@pytest.fixture(params=["sqlite", "postgresql"])
def service_dsn(request: pytest.FixtureRequest) -> str:
    """The default SQLite file and a PostgreSQL database, each fresh."""
    fixture = {"sqlite": "sqlite_dsn", "postgresql": "postgres_dsn"}[request.param]
    dsn: str = request.getfixturevalue(fixture)
    return dsn


async def test_orders_wait_for_their_payment_webhook_across_a_restart(service_dsn: str) -> None:
    async with webhook_service(service_dsn) as service:
        teapot = await service.post("/orders", {"item": "teapot", "amount_cents": 2500}, 201)
        kettle = await service.post("/orders", {"item": "kettle", "amount_cents": 4000}, 201)
        assert teapot["status"] == "interrupted"
        assert teapot["awaiting"] == {"awaiting": "payment", "amount_cents": 2500}
        assert (await service.get(f"/orders/{teapot['order_id']}"))["status"] == "interrupted"

        paid = {"order_id": teapot["order_id"], "status": "paid", "payment_id": "pay_1"}
        await service.post("/webhooks/payment", paid, 202)
        shipped = await service.get(f"/orders/{teapot['order_id']}?wait=30")
        # The provider delivers the same webhook again: the order is no longer waiting.
        again = await service.post("/webhooks/payment", paid, 409)

    assert shipped["status"] == "completed"
    assert shipped["state"]["shipment"] == "teapot shipped, paid by pay_1"
    assert again == {"detail": "flow is completed, not interrupted"}

    # The kettle's flow waited in the database while no service ran; a new one resumes it.
    async with webhook_service(service_dsn) as service:
        waiting = await service.get(f"/orders/{kettle['order_id']}")
        declined = {"order_id": kettle["order_id"], "status": "declined", "payment_id": "pay_2"}
        await service.post("/webhooks/payment", declined, 202)
        unshipped = await service.get(f"/orders/{kettle['order_id']}?wait=30")
        unknown = await service.http.get("/orders/1-999-0123456789abcdef")

    assert waiting["status"] == "interrupted"
    assert unshipped["status"] == "completed"
    assert unshipped["state"]["payment"] == "declined"
    assert "shipment" not in unshipped["state"]
    assert unknown.status_code == 404
