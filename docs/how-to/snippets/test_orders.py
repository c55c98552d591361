"""A user's tests of their own workflow (orders.py), run by pytest with dwarf's plugin.

The testing guide (docs/how-to/testing.md) includes its sections; the docs test runs this file
with pytest in a fresh directory, the way a user's suite runs it.
"""

# --8<-- [start:fixtures]
import pytest
from orders import register

from dwarf.engine import Engine, Registry
from dwarf.sync import SyncEngine
from dwarf.testing import assert_changes, assert_ran, run_to_end
from dwarf.workflow import Status


class FakeCards:
    """Stands in for the payment client: times out ``timeouts`` times, then pays."""

    def __init__(self, timeouts: int = 0) -> None:
        self.timeouts = timeouts
        self.calls = 0

    async def charge(self, order: str, amount: int) -> str:
        self.calls += 1
        if self.calls <= self.timeouts:
            raise TimeoutError("the gateway did not answer")
        return f"pay-{order}-{amount}"


@pytest.fixture
def cards() -> FakeCards:
    return FakeCards()


@pytest.fixture
def shop(dwarf_registry: Registry, cards: FakeCards) -> Registry:
    register(dwarf_registry, cards.charge)  # dwarf_engine serves dwarf_registry
    return dwarf_registry


# --8<-- [end:fixtures]


# --8<-- [start:stubs]
async def test_a_paid_order_ships(dwarf_engine: Engine, shop: Registry) -> None:
    run = await run_to_end(
        dwarf_engine,
        "checkout",
        {"order": "o-1", "amount": 1250},
        stubs={"charge": {"payment": "p"}},
    )
    assert run.outcome.status == Status.COMPLETED
    assert_ran(run, ["reserve", "charge", "ship"])
    assert_changes(run, "reserve", {"reserved": "o-1"})
    assert_changes(run, "charge", {"payment": "p"})  # the stub's changes, the gateway untouched
    assert_changes(run, "ship", {"tracking": "track-o-1"})


async def test_a_declined_card_stops_before_shipping(dwarf_engine: Engine, shop: Registry) -> None:
    run = await run_to_end(
        dwarf_engine,
        "checkout",
        {"order": "o-2", "amount": 990},
        stubs={"charge": ValueError("card declined")},
    )
    assert run.outcome.status == Status.FAILED
    assert run.outcome.error == "card declined"
    assert run.outcome.error_type == "ValueError"
    assert_ran(run, ["reserve", "charge"])


# --8<-- [end:stubs]


# --8<-- [start:retries]
async def test_a_gateway_timeout_is_retried(
    dwarf_engine: Engine, shop: Registry, cards: FakeCards
) -> None:
    cards.timeouts = 2
    run = await run_to_end(dwarf_engine, "checkout", {"order": "o-3", "amount": 500})
    assert run.outcome.state["payment"] == "pay-o-3-500"
    assert cards.calls == 3
    assert_ran(run, ["reserve", "charge", "ship"])  # a retry re-runs the same step
    assert [s.attempt for s in run if s.task_name == "charge"] == [2]


async def test_a_gateway_that_never_answers_fails_the_order(
    dwarf_engine: Engine, shop: Registry, cards: FakeCards
) -> None:
    cards.timeouts = 100
    run = await run_to_end(dwarf_engine, "checkout", {"order": "o-4", "amount": 500})
    assert run.outcome.status == Status.FAILED
    assert run.outcome.error_type == "TimeoutError"
    assert cards.calls == 4  # the first run and three retries


# --8<-- [end:retries]


# --8<-- [start:sync]
def test_checkout_from_blocking_code() -> None:
    registry = Registry()
    register(registry, FakeCards().charge)
    engine = (
        Engine().with_graph_loader(registry.load_graph).with_task_executor(registry.execute_task)
    )
    with SyncEngine(engine, in_test=True) as sync:  # its own loop, in a background thread
        outcome = sync.run("checkout", {"order": "o-5", "amount": 100}, timeout=30)
    assert outcome.state["tracking"] == "track-o-5"


# --8<-- [end:sync]
