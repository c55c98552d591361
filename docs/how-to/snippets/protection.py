"""Backpressure, circuit breakers and static limits against a fake downstream service.

The how-to guide docs/how-to/backpressure-and-breakers.md includes its sections; the docs test
runs it and checks what it prints.
"""

import asyncio
import time
from collections import Counter

import dwarf
from dwarf.engine import Engine, Registry
from dwarf.workflow import END, Flow, Graph, Status, err_backpressure, err_breaker_trip


# --8<-- [start:downstream]
class TooManyRequestsError(Exception):
    """What the payment client raises on HTTP 429, with the Retry-After header in seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"429 Too Many Requests (retry after {retry_after} s)")
        self.retry_after = retry_after


class ServiceUnavailableError(Exception):
    """What the payment client raises on HTTP 503 or a timeout."""


class Payments:
    """A fake payment API: answers 429 to the next ``refuse`` calls, 503 while ``down``."""

    def __init__(self) -> None:
        self.refuse = 0
        self.down = False
        self.calls: Counter[str] = Counter()

    async def charge(self, order: str) -> str:
        if self.down:
            self.calls["503"] += 1
            raise ServiceUnavailableError("503 Service Unavailable")
        if self.refuse:
            self.refuse -= 1
            self.calls["429"] += 1
            raise TooManyRequestsError(retry_after=0.2)
        self.calls["200"] += 1
        return f"receipt-{order}"


# --8<-- [end:downstream]


payments = Payments()
registry = Registry()
g = Graph("pay")
g.add_task("charge", "charge")
g.add_transition("charge", END)
registry.handle_graph("pay", g)


# --8<-- [start:task]
@registry.task("charge")
async def charge(flow: Flow) -> None:
    try:
        receipt = await payments.charge(flow.get_string("order"))
    except TooManyRequestsError as exc:
        raise err_backpressure(exc, "429", key="payments-api", retry_after=exc.retry_after) from exc
    except ServiceUnavailableError as exc:
        raise err_breaker_trip(exc, "503", key="payments-api") from exc
    flow.set_string("receipt", receipt)


# --8<-- [end:task]


scans = Graph("scan")
scans.add_task("ocr", "ocr")
scans.add_transition("ocr", END)
registry.handle_graph("scan", scans)
ocr_running = 0
ocr_peak = 0


@registry.task("ocr")
async def ocr(flow: Flow) -> None:
    global ocr_running, ocr_peak
    ocr_running += 1
    ocr_peak = max(ocr_peak, ocr_running)
    await asyncio.sleep(0.3)  # the OCR service at work
    ocr_running -= 1


async def backpressure(eng: Engine) -> None:
    # --8<-- [start:backpressure]
    payments.refuse = 2
    out = await eng.run("pay", {"order": "o-1"})
    step = (await eng.history(out.flow_key))[0]
    print(out.status, dict(payments.calls), "attempt", step.attempt)
    # completed {'429': 2, '200': 1} attempt 0
    control = next(c for c in eng.task_controls() if c.key == "payments-api")
    print(control.tasks, control.cuts, control.breaker_open)  # ('charge',) 2 False
    # --8<-- [end:backpressure]


async def breaker(eng: Engine) -> None:
    payments.calls.clear()
    # --8<-- [start:breaker]
    payments.down = True
    key = await eng.create("pay", {"order": "o-2"})
    await eng.start(key)
    while not eng.breaker_tripped("payments-api"):  # noqa: ASYNC110 (a trip sends no event)
        await asyncio.sleep(0.05)
    parked = await eng.snapshot(key)
    step = (await eng.history(key))[0]
    control = next(c for c in eng.task_controls() if c.key == "payments-api")
    print(parked.status, step.attempt, control.breaker_open_shards)  # running 0 (1,)
    payments.down = False  # the service is back: the next probe succeeds
    out = await eng.await_flow(key, timeout=30)
    print(out.state["receipt"], eng.breaker_tripped("payments-api"), payments.calls["200"])
    # receipt-o-2 False 1
    # --8<-- [end:breaker]


async def limits(eng: Engine) -> None:
    # --8<-- [start:limits_run]
    started = time.monotonic()
    scans = [await eng.create("scan") for _ in range(6)]
    for key in scans:
        await eng.start(key)
    outcomes = [await eng.await_flow(key) for key in scans]
    elapsed = time.monotonic() - started
    print(all(o.status == Status.COMPLETED for o in outcomes), ocr_peak, elapsed >= 0.9)
    # True 2 True
    # --8<-- [end:limits_run]


async def main() -> None:
    # --8<-- [start:limits]
    eng = (
        dwarf.new_engine()
        .with_graph_loader(registry.load_graph)
        .with_task_executor(registry.execute_task)
        .with_concurrency_limit("ocr", 2)  # at most 2 OCR steps at once on this replica
        .with_rate_limit("ocr", 20)  # and at most 20 starts per second
    )
    # --8<-- [end:limits]
    async with eng.run_in_test():
        await backpressure(eng)
        await breaker(eng)
        await limits(eng)


asyncio.run(main())
