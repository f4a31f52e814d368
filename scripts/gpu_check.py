"""Command line of the GPU check (spirl.bench.device_check; docs/costs.md#gpu). Run it through gpu_check.sh:

    bash scripts/gpu_check.sh "$OUT"                                   # on the GPU machine
    bash scripts/gpu_check.sh --device cpu OUT_DIR --prepared DIR      # the CPU rehearsal
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Run the check; exit 0 when every step passed, 1 when one failed, 2 when refused before any step."""
    from spirl.bench.device_check import run_check

    parser = argparse.ArgumentParser(prog="scripts/gpu_check.sh", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (the rehearsal)")
    parser.add_argument("--prepared", type=Path, default=Path(".gpu"), help="scripts/gpu_prepare.sh's folder")
    parser.add_argument("--out", type=Path, required=True, help="the JSON summary to write")
    parser.add_argument("--only", nargs="*", default=None, help="run only these steps")
    args = parser.parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu check: no GPU is visible; rehearse it with --device cpu", file=sys.stderr)
        return 2
    try:
        summary = run_check(args.device, args.prepared, args.out, args.only)
    except ValueError as err:
        print(f"gpu check: {err}", file=sys.stderr)
        return 2
    failed = [n for n, r in summary["steps"].items() if not r["ok"]]
    print(f"gpu check: {summary['seconds']:.0f} s, {'all passed' if not failed else 'FAILED: ' + ', '.join(failed)}"
          f" -> {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
