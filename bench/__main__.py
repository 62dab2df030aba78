"""``python -m bench --size quick|full [--only fleet|scale|all]``: see docs/performance.md.

``--only scale`` (and ``all``) runs ``bench.scale.run(size) -> dict`` (/metrics render
time, agent RSS and report times at 1,000 devices); its dict goes into the JSON under ``"scale"``,
and its ``"rows"`` (a list of flat dicts) into the printed tables.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import fleet
from bench.harness import DEVICES_PER_SIMULATOR, REPO_ROOT
from bench.report import print_results, write_json

DEFAULT_OUT = REPO_ROOT / "bench" / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(fleet.SIZES), default="quick",
                        help="quick: 100 hosts + 20 devices; full: 1,000 hosts + 200 devices")
    parser.add_argument("--only", choices=("fleet", "scale", "all"), default="all")
    parser.add_argument("--hosts", type=int, help="override the size's host count")
    parser.add_argument("--devices", type=int, help="override the size's device count")
    parser.add_argument("--workers", type=int, default=50,
                        help="concurrency of every client (default 50)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds; each figure is the median (default 1)")
    parser.add_argument("--clients", default=",".join(fleet.HOST_ORDER + fleet.DEVICE_ORDER),
                        help="comma-separated subset of the clients")
    parser.add_argument("--devices-per-simulator", type=int, default=DEVICES_PER_SIMULATOR)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="results directory (default bench/results/)")
    args = parser.parse_args(argv)
    unknown = set(args.clients.split(",")) - set(fleet.BUILDERS)
    if unknown:
        parser.error(f"unknown client(s) {sorted(unknown)}; choose from {sorted(fleet.BUILDERS)}")
    if args.workers < 1 or args.repeat < 1 or args.devices_per_simulator < 1:
        parser.error("--workers, --repeat and --devices-per-simulator must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out.resolve()
    results: dict[str, Any] = {"size": args.size}
    if args.only in ("fleet", "all"):
        preset = fleet.SIZES[args.size]
        size = fleet.Size(preset.hosts if args.hosts is None else args.hosts,
                          preset.devices if args.devices is None else args.devices)
        results["fleet"] = fleet.run(size, out, workers=args.workers, repeat=args.repeat,
                                     clients=tuple(args.clients.split(",")),
                                     devices_per_simulator=args.devices_per_simulator)
    if args.only in ("scale", "all"):
        from bench import scale  # noqa: PLC0415 (heavy: only when asked for)

        results["scale"] = scale.run(args.size)
    print_results(results)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = write_json(results, out / f"bench-{args.size}-{stamp}.json")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
