"""The ground-truth upper bound (paper Tables 3-5, rows "GT Volumetric Heatmaps") on the synthetic JTA world.

Every frame's ground truth is rendered into volumetric heatmaps and read back by the library's own path:
render_heatmaps -> find_peaks -> backproject -> associate, for integer peaks on snapped centres (the original) and
for Gaussian-refined peaks on exact centres, with both association methods. Writes JSON and prints the table:

    python examples/upper_bound.py                      # 200 frames of 20-60 people, seed 0 (a few minutes)
    python examples/upper_bound.py --frames 20 --out /tmp/ub.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from loco.evaluate import OracleConfig, SyntheticGroundTruth, evaluate_oracle, format_table, save_results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--people", type=int, nargs=2, default=(20, 60), metavar=("MIN", "MAX"))
    parser.add_argument("--matching", default="greedy", choices=("greedy", "optimal"))
    parser.add_argument("--peaks", default="original,gaussian", help="comma list of original, integer, gaussian")
    parser.add_argument("--out", type=Path, default=Path("upper_bound.json"))
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    dataset = SyntheticGroundTruth("jta", seed=args.seed, people=tuple(args.people))
    config = OracleConfig(peaks=tuple(args.peaks.split(",")), matching=args.matching)
    results = evaluate_oracle(dataset, args.frames, config, progress=not args.no_progress)
    save_results(results, args.out, dataset=repr(dataset), command="examples/upper_bound.py")
    people = results["people_per_frame"]
    print(
        f"{results['frames']} frames, {people['min']}-{people['max']} people in view (mean {people['mean']:.1f}), "
        f"{args.matching} matching, {results['seconds_per_frame']:.2f} s/frame"
    )
    print(format_table(results))
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
