"""The programs of the how-to guides on routing, fan-out, retries, interrupts and subgraphs run
as the pages include them, and print what the pages say they print."""

from __future__ import annotations

from tests.docs.snippets import SNIPPETS, run_snippet


def test_routing_takes_the_first_switch_arm_every_when_the_error_route_and_the_goto_loop() -> None:
    lines = run_snippet("routing.py")
    assert lines[:9] == [
        "switch 9 ['score', 'route', 'approve']",
        "switch 6 ['score', 'route', 'manual']",
        "switch 2 ['score', 'route', 'reject']",
        "when both ['email', 'sms'] 2",
        "when one ['email'] 1",
        "on-error completed refunded after ConnectionError: gateway unreachable False",
        "goto ['ask', 'ask', 'ask']",
        "dead end completed no transition matched out of 'ship' (\"status == 'paid'\" is false)",
        "strict failed strict routing: no transition matched out of 'ship' "
        "(\"status == 'paid'\" is false)",
    ]
    assert lines[9] == (
        "validate: graph 'typo': task 'stor' exists only because a transition names it as a"
        " target (add_task never added it); did you mean 'store'?"
    )
    assert lines[10].startswith("validate: graph 'if_else': transition 'yes' -> END leaves")
    assert "add them with add_transition_switch" in lines[10]


def test_the_routing_pages_diagram_is_what_mermaid_prints_today() -> None:
    lines = run_snippet("routing.py")
    printed = "\n".join(lines[11:]) + "\n"
    assert printed == (SNIPPETS / "review.mmd").read_text()


def test_fan_out_folds_branches_in_declaration_order_with_each_fields_reducer() -> None:
    assert run_snippet("fan_out.py") == [
        "quote offers ['slow=120', 'medium=90', 'fast=100']",
        "quote cheapest 90",
        "quote calls 3",
        "quote currencies ['EUR', 'USD']",
        "quote source fast",
        "quote winner 90 of 3 offers",
        "scan 6 ['1/2: call me ishmael', '2/2: some years ago'] False",
        "scan empty completed 0 words",
        "scan failed failed page 2 is unreadable ['load', 'ocr', 'ocr', 'ocr']",
        "book ['1.1 Loomings', '1.2 The Carpet-Bag', '2.1 The Spouter-Inn']",
    ]


def test_retry_counts_runs_gives_up_in_time_and_a_budget_fails_the_step() -> None:
    assert run_snippet("retries.py") == [
        "recovered completed 3 [True, True]",
        "spent failed 4 GatewayTimeout no answer on run 4",
        "history charge 3 failed",
        "gave up failed TimeoutError True",
        "slept True",
        "budget failed TimeBudgetError task 'slow' exceeded its time budget of 0.2s",
    ]


def test_interrupts_and_breakpoints_stop_the_flow_until_the_matching_resume() -> None:
    assert run_snippet("interrupts.py") == [
        "stopped interrupted {'amount': 120, 'question': 'approve?'} awaiting approval",
        "snapshot interrupted approve?",
        "history [('submit', 'completed'), ('approve', 'interrupted')]",
        "resumed completed paid ada",
        "paused interrupted {} 99999",
        "resume refused: the flow is paused at a breakpoint: use resume_break",
        "asked interrupted {'amount': 120, 'question': 'approve?'}",
        "ended rejected",
        "after a resume: interrupted",
        "after a resume: interrupted",
        "after a resume: completed",
        "vote ['ada', 'bob', 'cy'] 2 of 3",
    ]


def test_a_subgraph_returns_its_state_propagates_its_failure_and_goes_with_its_root() -> None:
    assert run_snippet("subgraphs.py") == [
        "invoice completed 120 False",
        "caller runs, attempt of each: [0, 0]",
        "history price tax ['rate', 'apply']",
        "caught completed no tax rate for 'XX' True",
        "uncaught failed SubgraphFailedError no tax rate for 'XX'",
        "contract interrupted {'sign': 'lease.pdf'}",
        "signed ada",
        "cancel cancelled customer walked away ['cancelled']",
    ]
