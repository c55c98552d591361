"""One round of the throughput benchmark as a plain script, for py-spy and cProfile.

    python benches/profile_throughput.py --dialect sqlite --flows 1000
    python -m cProfile -s cumulative benches/profile_throughput.py --dialect postgresql --flows 500
    python benches/profile_throughput.py --dialect sqlite --flows 250 --payload-bytes 65536
    py-spy record -o flame.svg -- python benches/profile_throughput.py --dialect mysql
    python benches/profile_throughput.py --dialect sqlite --flows 3000 --gc-freeze
    python benches/profile_throughput.py --dialect postgresql --submit create-start

It runs the same workload as ``test_throughput.py`` (``_throughput.py``), without a warm-up round
so a profile sees one batch, and prints the same table; ``--payload-bytes`` makes every step
write that much state, as ``test_payload.py`` does; ``--gc-freeze`` freezes the garbage
collector's objects after startup, as a host may (docs/how-to/tuning.md). Engine startup and
migration happen before the round and are not in the numbers (they are in a profile).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys

from _throughput import (
    DIALECTS,
    FLOWS_PER_ROUND,
    PAYLOAD_KEY,
    SUBMIT_MODES,
    SUBMITTERS,
    WORKERS,
    BenchEngine,
    DatabaseUnavailableError,
    Summary,
    format_table,
    summarize,
)


def main(argv: list[str] | None = None) -> int:
    """Run one round on the chosen dialect and print the numbers; 2 when its server is down."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dialect", choices=DIALECTS, default="sqlite")
    parser.add_argument("--flows", type=int, default=FLOWS_PER_ROUND, help="flows in the round")
    parser.add_argument("--submitters", type=int, default=SUBMITTERS)
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument(
        "--max-open-conns",
        type=int,
        default=0,
        help="connections per shard (0: the engine's default, Engine.with_max_open_conns)",
    )
    parser.add_argument(
        "--payload-bytes", type=int, default=0, help="state each step writes (0: none)"
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.collect() and gc.freeze() after startup, as a tuned host would",
    )
    parser.add_argument(
        "--submit",
        choices=SUBMIT_MODES,
        default=SUBMIT_MODES[0],
        help="run: Engine.run per flow; create-start: create, start and await_flow",
    )
    parser.add_argument("--json", action="store_true", help="print the numbers as one JSON line")
    args = parser.parse_args(argv)
    if args.flows < 1 or args.submitters < 1 or args.workers < 1:
        parser.error("--flows, --submitters and --workers must be at least 1")
    if args.payload_bytes < 0:
        parser.error("--payload-bytes must not be negative")
    if args.max_open_conns < 0:
        parser.error("--max-open-conns must not be negative")

    conns = args.max_open_conns
    bench = BenchEngine(
        args.dialect,
        workers=args.workers,
        configure=(lambda engine: engine.with_max_open_conns(conns)) if conns else None,
    )
    try:
        bench.start()
    except DatabaseUnavailableError as exc:
        print(f"skipped: {exc}", file=sys.stderr)
        return 2
    if args.gc_freeze:
        gc.collect()
        gc.freeze()
    try:
        payload = {PAYLOAD_KEY: args.payload_bytes} if args.payload_bytes else None
        result = bench.round(args.flows, args.submitters, payload, args.submit)
    finally:
        bench.close()
    workload = f"payload {args.payload_bytes} B" if args.payload_bytes else "linear"
    summary = summarize(args.dialect, [result], workload=workload, payload_bytes=args.payload_bytes)
    if args.json:
        print(json.dumps(summary.as_extra_info()))
        return 0
    server = result.server_cpu_ms_per_flow
    print(
        f"{args.dialect}: {result.flows} flows, {args.submitters} submitters, "
        f"{args.workers} workers{', gc frozen' if args.gc_freeze else ''}"
        f"{f', {conns} connections per shard' if conns else ''}, "
        f"{result.elapsed:.2f} s wall, "
        f"{result.cpu_ms_per_flow:.2f} ms CPU per flow"
        + ("" if server is None else f", {server:.2f} ms database server CPU per flow")
    )
    if args.payload_bytes:
        print(format_table([summary]))
    else:
        print(round_row(summary))
    return 0


def round_row(summary: Summary) -> str:
    """The linear round as ``dialect flows/s steps/s p50 p95 p99 rounds`` under its header.

    A stable format: the side-by-side harness that runs this script beside other systems
    parses exactly these seven columns (CPU per flow is on the line above).
    """
    header = (
        f"{'dialect':<12} {'flows/s':>9} {'steps/s':>9} "
        f"{'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'rounds':>6}"
    )
    row = (
        f"{summary.dialect:<12} {summary.flows_per_s:>9.1f} {summary.steps_per_s:>9.1f} "
        f"{summary.p50_ms:>9.1f} {summary.p95_ms:>9.1f} {summary.p99_ms:>9.1f} {summary.rounds:>6}"
    )
    return "\n".join([header, "-" * len(header), row])


if __name__ == "__main__":
    sys.exit(main())
