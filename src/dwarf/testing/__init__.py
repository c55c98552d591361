"""A testing kit for workflows: an engine on scratch SQLite, stub tasks, assertions on history.

Installing dwarf registers a pytest plugin (``dwarf.testing.plugin``) with two fixtures:
``dwarf_registry`` (an empty ``Registry`` the test fills) and ``dwarf_engine`` (a started engine
on fresh databases, serving that registry). The plugin defines fixtures only: a test suite that
does not ask for them is not touched. The helpers below work with or without pytest::

    async def test_checkout(dwarf_engine, dwarf_registry):
        dwarf_registry.handle_graph("checkout", checkout_graph())
        run = await run_to_end(dwarf_engine, "checkout", {"order": "o-1"},
                               stubs={"charge": {"paid": True}})
        assert_ran(run, ["reserve", "charge", "ship"])
        assert_changes(run, "charge", {"paid": True})
"""

from dwarf.testing._assertions import assert_changes, assert_ran
from dwarf.testing._kit import FlowRun, Stub, run_to_end, started_engine

__all__ = ["FlowRun", "Stub", "assert_changes", "assert_ran", "run_to_end", "started_engine"]
