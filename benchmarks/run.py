"""Run every benchmark in this folder: each ``bench_*.py`` module has ``main(quick: bool)``.

python benchmarks/run.py           # full run: the figures quoted in closing notes
python benchmarks/run.py --quick   # CI smoke: few iterations, checks they still run
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the benchmarks.")
    parser.add_argument("--quick", action="store_true", help="few iterations (CI smoke)")
    parser.add_argument("only", nargs="*", help="names of benchmarks to run (default: all)")
    args = parser.parse_args()
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if args.only and name not in args.only:
            continue
        print(f"== {name}", flush=True)
        importlib.import_module(path.stem).main(quick=args.quick)


if __name__ == "__main__":
    main()
