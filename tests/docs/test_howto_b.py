"""The programs of the how-to guides on rewinds, scheduling, protection, replicas, tuning and
testing run as the pages include them, and print what the pages say they print.

Each program runs in a subprocess from the repository root. The replicas program needs a database
server: it runs against the PostgreSQL test server (scratch databases through ``DWARF_TEST_DSN``),
skipped locally when that server is unreachable and failed under ``CI=true``, like the suite's
other server tests. The testing guide's test file runs under pytest in a fresh directory, the way
a user's own suite runs it.
"""

from __future__ import annotations

import shutil

import psycopg
import pytest

from tests.docs.snippets import SNIPPETS, run_snippet
from tests.fixtures.databases import POSTGRES_SERVER_DSN, unavailable
from tests.testing.test_plugin import plugin_args


def test_restart_reruns_everything_restart_from_the_rest_and_fork_leaves_the_origin() -> None:
    assert run_snippet("rewind.py") == [
        "failed - max_words=2 is too short for a summary",
        "completed durable workflows checkpoint {'fetch': 2, 'summarize': 2, 'publish': 1}",
        "durable workflows checkpoint every {'summarize': 1, 'publish': 1}",
        "[('fetch', 'completed'), ('summarize', 'completed'), ('publish', 'completed')]",
        "failed - max_words=1 is too short for a summary",
        "completed durable workflows checkpoint every {'summarize': 1}",
        "409 flow is created: only a stopped flow can be restarted",
    ]


def test_a_thread_continues_from_its_latest_completed_turn() -> None:
    assert run_snippet("threads.py") == [
        "['hi', 'echo: hi', 'how are you?', 'echo: how are you?']",
        "2 True",
        "the thread's latest flow is created: only a completed flow can be continued",
        "['bye', 'echo: bye']",
    ]


def test_priority_bands_run_strictly_and_a_small_tenant_overtakes_a_big_backlog() -> None:
    lines = run_snippet("scheduling.py")
    assert lines[0] == "['alert', 'invoice', 'refund', 'report']"
    prefix, _, counts = lines[1].partition(" was done after ")
    done_after, _, total = counts.removesuffix(" steps").partition(" of ")
    assert prefix == "tenant-small"
    assert total == "25"
    # FIFO would run the twenty older big-tenant flows first: the small tenant's last at 25.
    assert 5 <= int(done_after) < 25
    assert lines[2:] == ["running []", "['later'] True"]


def test_backpressure_and_a_breaker_trip_cost_no_attempt_and_limits_hold() -> None:
    assert run_snippet("protection.py") == [
        "completed {'429': 2, '200': 1} attempt 0",
        "('charge',) 2 False",
        "running 0 (1,)",
        "receipt-o-2 False 1",
        "True 2 True",
    ]


def _postgres_reachable() -> None:
    try:
        psycopg.connect(POSTGRES_SERVER_DSN, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL", exc)


@pytest.mark.postgres
def test_a_frozen_host_still_runs_its_flows() -> None:
    assert run_snippet("tuning.py") == ["True", "hello ada"]


def test_two_replicas_share_the_flows_of_two_postgresql_shards() -> None:
    _postgres_reachable()
    assert run_snippet("replicas.py", {"DWARF_TEST_DSN": POSTGRES_SERVER_DSN}) == [
        "20 {'completed'}",
        "['a', 'b'] 20",
        "[(1, '', True), (2, '', True)]",
    ]


def test_the_users_workflow_tests_pass_under_pytest(pytester: pytest.Pytester) -> None:
    for name in ("pytest.ini", "orders.py", "test_orders.py"):
        shutil.copy(SNIPPETS / name, pytester.path / name)
    result = pytester.runpytest_subprocess(*plugin_args(), "-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=5)
