"""Command line of the GPU check's preparation (spirl.bench.device_prepare; docs/costs.md#gpu), run by
scripts/gpu_prepare.sh: wheels, real frames, a paper-size MAE, the CPU float32 reference, a manifest."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Fill the folder; exit 2 with one line when something cannot be made."""
    from spirl.bench.device_prepare import DEFAULT_DIR, prepare

    parser = argparse.ArgumentParser(prog="scripts/gpu_prepare.sh", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR, help="the folder to fill (default .gpu/)")
    parser.add_argument("--tiny", action="store_true", help="the CPU rehearsal's inputs (seconds, no wheels)")
    parser.add_argument("--mae", type=Path, default=None, help="a pretrained Frostbite MAE to carry instead")
    parser.add_argument("--no-wheels", action="store_true", help="skip the wheels (no registry access)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args(argv)
    try:
        prepare(args.out, tiny=args.tiny, mae=args.mae, wheels=not (args.no_wheels or args.tiny),
                threads=args.threads)
    except (ValueError, FileNotFoundError, subprocess.CalledProcessError) as err:
        print(f"gpu prepare: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
