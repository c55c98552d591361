"""A FastAPI service whose orders wait, durably, for a payment provider's webhook.

Run: python examples/webhook_service.py serve [--dsn DSN] [--port 8000]
(default DSN: sqlite:///orders.sqlite, a file in the current directory; a PostgreSQL DSN works
the same way). It needs FastAPI and uvicorn: pip install 'dwarf[examples]'.

    await_payment -> ship -> END   (paid)
                  -> END           (declined)

- ``POST /orders`` starts an ``order`` flow. Its ``await_payment`` task interrupts the flow (the
  flow parks in the database, no worker waits on it) with a payment request as the payload.
- ``POST /webhooks/payment`` is what the provider calls when the payment settles: it resumes the
  order's flow with the webhook's payload, which ``interrupt()`` returns to the task when it runs
  again. A paid order is shipped; a declined one ends unshipped. A second delivery of the same
  webhook is answered 409: the flow is no longer waiting.
- ``GET /orders/{order_id}`` reports the flow's status and state (``?wait=S`` first waits up to
  S seconds for the flow to finish or park).

The engine starts and stops with the app (its lifespan), so a restarted service picks up the
orders still waiting for their webhook. Try it:

    curl -X POST localhost:8000/orders -H 'content-type: application/json' \\
         -d '{"item": "teapot", "amount_cents": 2500}'
    curl -X POST localhost:8000/webhooks/payment -H 'content-type: application/json' \\
         -d '{"order_id": "<order_id>", "status": "paid", "payment_id": "pay_1"}'
    curl 'localhost:8000/orders/<order_id>?wait=5'
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import dwarf
from dwarf.engine import Registry
from dwarf.errors import DwarfError
from dwarf.workflow import END, Flow, FlowOutcome, Graph

registry = Registry()

graph = Graph("order")
graph.add_task("await_payment", "await-payment")
graph.add_task("ship", "ship")
graph.add_transition_switch("await_payment", "ship", "payment == 'paid'")
graph.add_transition_switch("await_payment", END, "true")
graph.add_transition("ship", END)
graph.validate()
registry.handle_graph("order", graph)


@registry.task("await-payment")
async def await_payment(flow: Flow) -> None:
    # The first run parks the flow here; after the resume this returns the webhook's payload.
    webhook = flow.interrupt({"awaiting": "payment", "amount_cents": flow.get_int("amount_cents")})
    flow.set_string("payment", webhook["status"])
    flow.set_string("payment_id", webhook["payment_id"])


@registry.task("ship")
async def ship(flow: Flow) -> None:
    item, payment_id = flow.get_string("item"), flow.get_string("payment_id")
    flow.set_string("shipment", f"{item} shipped, paid by {payment_id}")


class NewOrder(BaseModel):
    """The body of ``POST /orders``."""

    item: str
    amount_cents: int


class PaymentWebhook(BaseModel):
    """The body the payment provider posts to ``/webhooks/payment``."""

    order_id: str
    status: Literal["paid", "declined"]
    payment_id: str


class OrderView(BaseModel):
    """An order as the service reports it: its flow's status and state."""

    order_id: str
    status: str
    state: dict[str, Any]
    awaiting: dict[str, Any]

    @classmethod
    def of(cls, outcome: FlowOutcome) -> OrderView:
        """The view of a flow's outcome (``awaiting``: the interrupt's payload, if parked)."""
        return cls(
            order_id=outcome.flow_key,
            status=outcome.status,
            state=outcome.state,
            awaiting=outcome.interrupt_payload,
        )


def create_app(dsn: str) -> FastAPI:
    """The service on ``dsn``: its engine runs for as long as the app does."""
    engine = (
        dwarf.new_engine()
        .with_dsn(dsn)
        .with_graph_loader(registry.load_graph)
        .with_task_executor(registry.execute_task)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with engine:  # startup migrates the database and starts dispatching
            yield

    app = FastAPI(title="orders", lifespan=lifespan)

    @app.exception_handler(DwarfError)
    async def engine_error(request: Request, exc: DwarfError) -> JSONResponse:
        # Each engine error carries its HTTP status: 404 unknown flow, 409 not interrupted...
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)

    @app.post("/orders", status_code=201)
    async def place_order(order: NewOrder) -> OrderView:
        order_id = await engine.create("order", order.model_dump())
        await engine.start(order_id)
        # Answer once the flow has parked for its payment, with what it waits for.
        return OrderView.of(await engine.poll(order_id, timeout=10))

    @app.post("/webhooks/payment", status_code=202)
    async def payment_settled(webhook: PaymentWebhook) -> dict[str, str]:
        await engine.resume(webhook.order_id, webhook.model_dump())
        return {"order_id": webhook.order_id, "resumed": "yes"}

    @app.get("/orders/{order_id}")
    async def order_status(order_id: str, wait: float = 0) -> OrderView:
        return OrderView.of(await engine.poll(order_id, timeout=wait))

    return app


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description="Orders that wait for a payment webhook.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API with uvicorn")
    serve.add_argument("--dsn", default="sqlite:///orders.sqlite")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(create_app(args.dsn), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
