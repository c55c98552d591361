"""The pytest plugin as a user meets it: a test file of their own workflow, run by pytest.

The user's file uses only the fixtures and the helpers; pytester runs it in a subprocess with the
plugin loaded the way an installed dwarf loads it (the entry point when the installed metadata
has it, else ``-p``), and these tests read its report.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import pytest

USER_TESTS = """
import pytest
from dwarf.testing import assert_changes, assert_ran, run_to_end
from dwarf.workflow import END, Flow, Graph, Status


def checkout() -> Graph:
    g = Graph("checkout")
    g.add_task("reserve", "reserve")
    g.add_task("charge", "charge")
    g.add_task("ship", "ship")
    g.add_transition_chain("reserve", "charge", "ship")
    g.add_transition("ship", END)
    return g


async def reserve(flow: Flow) -> None:
    flow.set_string("reserved", flow.get_string("order"))


async def charge(flow: Flow) -> None:
    raise RuntimeError("the real payment gateway must not be called from a test")


async def ship(flow: Flow) -> None:
    flow.set_bool("shipped", flow.get_bool("paid"))


@pytest.fixture
def shop(dwarf_registry):
    dwarf_registry.handle_graph("checkout", checkout())
    for handler in (reserve, charge, ship):
        dwarf_registry.handle_task(handler.__name__, handler)
    return dwarf_registry


async def test_checkout_ships_a_paid_order(dwarf_engine, shop):
    run = await run_to_end(dwarf_engine, "checkout", {"order": "o-1"},
                           stubs={"charge": {"paid": True}})
    assert run.outcome.status == Status.COMPLETED
    assert_ran(run, ["reserve", "charge", "ship"])
    assert_changes(run, "reserve", {"reserved": "o-1"})
    assert_changes(run, "ship", {"shipped": True})


async def test_a_declined_card_fails_the_checkout(dwarf_engine, shop):
    run = await run_to_end(dwarf_engine, "checkout", {"order": "o-2"},
                           stubs={"charge": ValueError("card declined")})
    assert run.outcome.status == Status.FAILED
    assert "card declined" in run.outcome.error
    assert_ran(run, ["reserve", "charge"])


async def test_wrong_expectation(dwarf_engine, shop):
    run = await run_to_end(dwarf_engine, "checkout", {"order": "o-3"},
                           stubs={"charge": {"paid": False}})
    assert_ran(run, ["reserve", "ship"])
"""

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""


def plugin_args() -> list[str]:
    """``-p`` the plugin unless the installed metadata already loads it by entry point."""
    installed = any(ep.value == "dwarf.testing.plugin" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "dwarf.testing.plugin"]


def test_a_users_workflow_tests_pass_and_a_wrong_expectation_fails_readably(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_shop=USER_TESTS)
    result = pytester.runpytest_subprocess(*plugin_args(), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*steps ran: reserve, charge, ship",
            "*expected:  reserve, ship",
            "*first difference at step 2: 'charge' ran where 'ship' was expected",
        ]
    )


def test_a_suite_that_uses_no_dwarf_fixture_is_untouched(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_one():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess(*plugin_args(), "-p", "no:asyncio")
    result.assert_outcomes(passed=1)


def test_without_pytest_asyncio_only_the_engine_fixture_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        test_plain="""
def test_registry(dwarf_registry):
    assert dwarf_registry is not None

def test_engine(dwarf_engine):
    pass
"""
    )
    # As if pytest-asyncio were not installed: no entry point loads it and its import fails.
    pytester.makepyfile(
        block="""
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "pytest_asyncio":
            raise ImportError("pytest_asyncio is blocked")

sys.meta_path.insert(0, Block())
"""
    )
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    code = (
        "import sys; sys.path.insert(0, '.'); import block, pytest; "
        "sys.exit(pytest.main(['-p', 'dwarf.testing.plugin', '-p', 'no:cacheprovider']))"
    )
    result = pytester.run(sys.executable, "-c", code)
    result.stdout.fnmatch_lines(
        ["*requested an async fixture 'dwarf_engine'*", "*1 passed, 1 error*"]
    )
