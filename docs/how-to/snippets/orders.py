"""A user's workflow module, as the testing guide (docs/how-to/testing.md) tests it.

``register`` puts the checkout graph and its tasks on a registry; the application calls it with
its real payment client, a test with a fake one (or with ``run_to_end``'s stubs).
"""

from collections.abc import Awaitable, Callable

from dwarf.engine import Registry
from dwarf.workflow import END, Flow, Graph

# --8<-- [start:module]
ChargeCard = Callable[[str, int], Awaitable[str]]
"""Charges ``amount`` cents for ``order``; returns the payment id (raises TimeoutError)."""


def register(registry: Registry, charge_card: ChargeCard) -> None:
    """Put the ``checkout`` workflow and its tasks on ``registry``."""
    g = Graph("checkout")
    g.add_task("reserve", "reserve")
    g.add_task("charge", "charge")
    g.add_task("ship", "ship")
    g.add_transition_chain("reserve", "charge", "ship", END)
    registry.handle_graph("checkout", g)

    @registry.task("reserve")
    async def reserve(flow: Flow) -> None:
        flow.set_string("reserved", flow.get_string("order"))

    @registry.task("charge")
    async def charge(flow: Flow) -> None:
        try:
            payment = await charge_card(flow.get_string("order"), flow.get_int("amount"))
        except TimeoutError:
            if flow.retry(3, 0.01, 2.0, 1.0):  # up to 3 more runs, 10 ms, 20 ms, 40 ms apart
                return
            raise
        flow.set_string("payment", payment)

    @registry.task("ship")
    async def ship(flow: Flow) -> None:
        flow.set_string("tracking", "track-" + flow.get_string("order"))


# --8<-- [end:module]
