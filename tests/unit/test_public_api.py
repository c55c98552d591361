"""The public API contract (docs/internals/api-contract.md): names exist, the import rule holds.

Every package that declares ``__all__`` lists exactly its public names in it, no more, no fewer.
"""

from __future__ import annotations
import __future__

import importlib
import pkgutil
import subprocess
import sys
import textwrap
from types import ModuleType
from typing import Any

import dwarf
import dwarf.engine
import dwarf.errors
import dwarf.workflow

WORKFLOW_NAMES = {
    "END",
    "Flow",
    "FlowOptions",
    "FlowOutcome",
    "FlowStep",
    "FlowSummary",
    "Graph",
    "Query",
    "Reducer",
    "Status",
    "SubgraphFailedError",
    "Yield",
    "current_baggage",
    "err_backpressure",
    "err_breaker_trip",
    "is_backpressure",
    "is_breaker_trip",
    "merge_state",
}
ENGINE_NAMES = {
    "Engine",
    "FlowStoppedCallback",
    "GraphLoader",
    "PeerNotifier",
    "ShardSummary",
    "TaskExecutor",
    "TestProxy",
}
ERROR_NAMES = {
    "BadRequestError",
    "ConflictError",
    "DwarfError",
    "NotFoundError",
    "UnavailableError",
}
ENGINE_METHODS = {
    "with_dsn",
    "with_num_shards",
    "with_workers",
    "with_time_budget",
    "with_default_priority",
    "with_max_open_conns",
    "with_graph_loader",
    "with_task_executor",
    "with_flow_stopped_callback",
    "with_peer_notifier",
    "with_logger",
    "with_meter_provider",
    "with_tracer_provider",
    "startup",
    "shutdown",
    "run_in_test",
    "create",
    "create_task",
    "start",
    "start_notify",
    "run",
    "await_flow",
    "poll",
    "snapshot",
    "fingerprint",
    "history",
    "step",
    "list_flows",
    "history_mermaid",
    "resume",
    "break_before",
    "resume_break",
    "cancel",
    "restart",
    "restart_from",
    "fork",
    "continue_thread",
    "delete",
    "purge",
    "shard_info",
    "breaker_tripped",
    "handle_enqueue",
    "handle_sync_valve",
    "handle_trip_breaker",
    "handle_notify_status_change",
}


def test_every_promised_name_is_exported() -> None:
    assert set(dwarf.workflow.__all__) >= WORKFLOW_NAMES
    assert set(dwarf.engine.__all__) >= ENGINE_NAMES
    assert set(dwarf.errors.__all__) >= ERROR_NAMES
    assert set(dwarf.__all__) == {"__version__", "new_engine"}
    for module in (dwarf.workflow, dwarf.engine, dwarf.errors):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name} is listed but missing"


# Dunder names a package may list in ``__all__`` (its other underscore names are private).
LISTED_DUNDERS = {"__version__"}


def packages_with_all() -> list[ModuleType]:
    """Every package under dwarf that declares ``__all__``."""
    names = ["dwarf"] + [
        info.name for info in pkgutil.walk_packages(dwarf.__path__, "dwarf.") if info.ispkg
    ]
    packages = [importlib.import_module(name) for name in names]
    return [package for package in packages if hasattr(package, "__all__")]


def is_import_machinery(value: Any) -> bool:
    """Names every module has that are not members: submodules, imported modules, __future__."""
    return isinstance(value, (ModuleType, type(__future__.annotations)))


def test_every_package_all_lists_exactly_its_public_names() -> None:
    packages = packages_with_all()
    assert {p.__name__ for p in packages} >= {"dwarf", "dwarf.engine", "dwarf.workflow"}
    for package in packages:
        public = {
            name
            for name, value in vars(package).items()
            if (not name.startswith("_") or name in LISTED_DUNDERS)
            and name != "TYPE_CHECKING"
            and not is_import_machinery(value)
        }
        listed = list(package.__all__)
        assert len(listed) == len(set(listed)), f"{package.__name__}.__all__ repeats a name"
        assert set(listed) == public, (
            f"{package.__name__}: public but not in __all__: {sorted(public - set(listed))}; "
            f"in __all__ but not defined: {sorted(set(listed) - public)}"
        )


def test_engine_has_every_operation_of_the_contract() -> None:
    missing = {name for name in ENGINE_METHODS if not hasattr(dwarf.engine.Engine, name)}
    assert not missing


def test_error_status_codes() -> None:
    assert dwarf.errors.DwarfError("x").status_code == 500
    assert dwarf.errors.BadRequestError("x").status_code == 400
    assert dwarf.errors.NotFoundError("x").status_code == 404
    assert dwarf.errors.ConflictError("x").status_code == 409
    assert dwarf.errors.UnavailableError("x").status_code == 503


def test_new_engine_returns_an_engine() -> None:
    assert isinstance(dwarf.new_engine(), dwarf.engine.Engine)


def _run_isolated(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_importing_the_workflow_package_loads_no_driver_and_no_opentelemetry() -> None:
    result = _run_isolated(
        """
        import sys
        import dwarf, dwarf.workflow, dwarf.errors
        heavy = {"psycopg", "aiosqlite", "asyncmy", "aiomysql", "opentelemetry"}
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
        assert not loaded, loaded
        """
    )
    assert result.returncode == 0, result.stderr


def test_the_workflow_package_works_when_drivers_cannot_be_imported() -> None:
    # A meta-path finder refuses every heavy package: defining graphs must still work.
    result = _run_isolated(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"psycopg", "aiosqlite", "asyncmy", "opentelemetry"}:
                    raise ImportError(f"blocked: {name}")
                return None
        sys.meta_path.insert(0, Block())
        from dwarf.workflow import END, Flow, Graph
        g = Graph("g")
        g.add_task("a", "a")
        g.add_transition("a", END)
        g.validate()
        f = Flow(state={"n": 1})
        f.set_int("n", f.get_int("n") + 1)
        assert f.changes == {"n": 2}
        print(g.mermaid())
        """
    )
    assert result.returncode == 0, result.stderr
    assert "flowchart" in result.stdout
