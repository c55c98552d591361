"""A/B throughput: this checkout's engine against an older commit's, on the same workload.

    python benches/compare_throughput.py --baseline a0f800e --runs 7 --dialect sqlite
    python benches/compare_throughput.py --baseline a0f800e --submit create-start

The baseline's ``src/`` is exported with ``git archive`` into a temporary directory (the
repository is not touched). Each run is one ``profile_throughput.py --json`` round in a fresh
process, alternating baseline and candidate so that a neighbour's load on a shared machine falls
on both alike; only the engine differs (``PYTHONPATH``), the harness is this checkout's. Printed:
the median and the spread of steps/s and of CPU ms per flow for each side, and the candidate's
change against the baseline. CPU per flow is the steadier figure when the machine is shared.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from _throughput import DIALECTS, FLOWS_PER_ROUND, SUBMIT_MODES, SUBMITTERS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def export_src(commit: str, into: Path) -> Path:
    """Write ``commit``'s ``src/`` under ``into``; return that ``src`` directory."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "src"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def one_round(
    src: Path, dialect: str, flows: int, submit: str, submitters: int
) -> dict[str, float]:
    """One round of the linear workload with the engine from ``src``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), str(ROOT)]))
    command = [sys.executable, str(HERE / "profile_throughput.py")]
    command += ["--dialect", dialect, "--flows", str(flows), "--submit", submit, "--json"]
    command += ["--submitters", str(submitters)]
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    numbers: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return numbers


def describe(name: str, rounds: list[dict[str, float]]) -> tuple[float, float, float | None]:
    """Print one side's medians and ranges; return its median steps/s, CPU ms per flow and
    database server CPU ms per flow (None when the server is not on this host)."""
    steps = [r["steps_per_s"] for r in rounds]
    cpu = [r["cpu_ms_per_flow"] for r in rounds]
    server = [r["server_cpu_ms_per_flow"] for r in rounds if "server_cpu_ms_per_flow" in r]
    measured = statistics.median(server) if len(server) == len(rounds) else None
    print(
        f"{name:<10} steps/s median {statistics.median(steps):8.1f} "
        f"(min {min(steps):.1f}, max {max(steps):.1f})   "
        f"CPU ms/flow median {statistics.median(cpu):6.3f} (min {min(cpu):.3f}, max {max(cpu):.3f})"
        + (
            ""
            if measured is None
            else f"   server CPU ms/flow median {measured:6.3f} "
            f"(min {min(server):.3f}, max {max(server):.3f})"
        )
    )
    return statistics.median(steps), statistics.median(cpu), measured


def main(argv: list[str] | None = None) -> int:
    """Alternate baseline and candidate rounds; print both sides and the change."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--baseline", required=True, help="a commit of this repository")
    parser.add_argument("--runs", type=int, default=5, help="rounds per side")
    parser.add_argument("--dialect", choices=DIALECTS, default="sqlite")
    parser.add_argument("--flows", type=int, default=FLOWS_PER_ROUND)
    parser.add_argument("--submit", choices=SUBMIT_MODES, default=SUBMIT_MODES[0])
    parser.add_argument("--submitters", type=int, default=SUBMITTERS)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.flows < 1:
        parser.error("--runs and --flows must be at least 1")
    sides: dict[str, list[dict[str, float]]] = {"baseline": [], "candidate": []}
    with tempfile.TemporaryDirectory(prefix="dwarf-baseline-") as directory:
        baseline = export_src(args.baseline, Path(directory))
        sources = {"baseline": baseline, "candidate": ROOT / "src"}
        for run in range(args.runs):
            for side in ("baseline", "candidate") if run % 2 == 0 else ("candidate", "baseline"):
                sides[side].append(
                    one_round(sources[side], args.dialect, args.flows, args.submit, args.submitters)
                )
                print(f"run {run + 1} {side}: {sides[side][-1]}", file=sys.stderr)
    base_steps, base_cpu, base_server = describe("baseline", sides["baseline"])
    cand_steps, cand_cpu, cand_server = describe("candidate", sides["candidate"])
    server = (
        ""
        if base_server is None or cand_server is None
        else f", server CPU ms/flow {cand_server / base_server - 1:+.1%}"
    )
    print(
        f"candidate vs baseline ({args.baseline}, {args.dialect}, {args.flows} flows, "
        f"--submit {args.submit}, {args.submitters} submitters, "
        f"{args.runs} runs each): steps/s {cand_steps / base_steps - 1:+.1%}, "
        f"CPU ms/flow {cand_cpu / base_cpu - 1:+.1%}{server}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
