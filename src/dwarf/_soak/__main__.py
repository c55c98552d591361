"""``python -m dwarf._soak --dsn DSN``: the chaos soak (docs/reliability.md); exit 1 if unclean."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from dwarf._soak._driver import Settings, soak


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the soak, print the report; 0 when every flow came out right."""
    parser = argparse.ArgumentParser(prog="python -m dwarf._soak", description=__doc__)
    parser.add_argument("--dsn", default=os.environ.get("DWARF_DSN", ""), help="or DWARF_DSN")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--flows", type=int, default=200)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--kill-every", type=float, default=2.0, help="seconds between kills")
    parser.add_argument("--terminate-connections", action="store_true")
    args = parser.parse_args(argv)
    if not args.dsn:
        parser.error("--dsn (or DWARF_DSN) is required")
    if args.replicas < 1 or args.flows < 1 or args.kills < 0 or args.kill_every <= 0:
        parser.error("--replicas and --flows must be 1+, --kills 0+, --kill-every positive")
    settings = Settings(
        dsn=args.dsn,
        replicas=args.replicas,
        flows=args.flows,
        kills=args.kills,
        kill_every=args.kill_every,
        terminate_connections=args.terminate_connections,
    )
    report = asyncio.run(soak(settings))
    sys.stdout.write("\n".join(report.lines()) + "\n")
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(main())
