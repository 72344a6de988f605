"""``loco eval``: the JTA protocol for a pipeline, or the ground-truth upper bound with ``--oracle``."""

from __future__ import annotations

import argparse
from pathlib import Path

from loco._checks import check_choice

DATASETS = ("synthetic-jta",)


def _names(value: str, valid: tuple[str, ...], what: str) -> tuple[str, ...]:
    names = valid if value == "all" else tuple(v.strip() for v in value.split(",") if v.strip())
    bad = [n for n in names if n not in valid]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"{what} must be 'all' or a comma list of {', '.join(valid)}; got {value!r}")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from loco.association import METHODS
    from loco.evaluate import PEAK_MODES
    from loco.metrics import MATCHINGS

    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--oracle",
        action="store_true",
        help="ground-truth heatmaps instead of networks: render -> find_peaks -> backproject -> associate",
    )
    source.add_argument("--weights", help="pretrained pipeline name or path, for loco.LoCO.from_pretrained")
    parser.add_argument(
        "--dataset", default="synthetic-jta", choices=DATASETS, help="dataset split (default %(default)s)"
    )
    parser.add_argument("--frames", type=int, default=200, help="number of frames from the start (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic world (default %(default)s)")
    parser.add_argument(
        "--people",
        type=int,
        nargs=2,
        default=(20, 60),
        metavar=("MIN", "MAX"),
        help="oracle: people placed per frame, drawn uniformly (default 20 60); a pipeline sees the preset's mix",
    )
    parser.add_argument(
        "--peaks",
        type=lambda v: _names(v, tuple(PEAK_MODES), "--peaks"),
        default=("original", "gaussian"),
        help=f"oracle peak modes, comma list or 'all' of {', '.join(PEAK_MODES)} (default original,gaussian)",
    )
    parser.add_argument(
        "--association",
        type=lambda v: _names(v, METHODS, "--association"),
        default=METHODS,
        help=f"oracle association methods, comma list or 'all' of {', '.join(METHODS)} (default all)",
    )
    parser.add_argument("--matching", default="greedy", choices=MATCHINGS, help="JTA matching (default %(default)s)")
    parser.add_argument("--sigma", type=float, default=2.0, help="oracle Gaussian sigma, voxels (default %(default)s)")
    parser.add_argument("--connectivity", type=int, default=6, choices=(6, 26), help="peak neighbourhood (default 6)")
    parser.add_argument("--backend", default="auto", choices=("auto", "numba", "torch", "triton"), help="ops backend")
    parser.add_argument("--device", default=None, help="pipeline device (default: the pipeline's choice)")
    parser.add_argument("--out", type=Path, default=Path("loco_eval.json"), help="JSON results (default %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _dataset(name: str, seed: int, oracle: bool, people: tuple[int, int]):
    """The split: poses only for the oracle (no image to render), full samples for a pipeline."""
    name = check_choice("dataset", name, DATASETS)
    try:
        if oracle:
            from loco.evaluate import SyntheticGroundTruth

            return SyntheticGroundTruth("jta", seed=seed, people=people)
        from loco.data.synthetic import SyntheticScenes

        return SyntheticScenes(preset="jta", seed=seed)
    except ImportError as exc:
        raise RuntimeError(f"the synthetic dataset is not available: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    from loco.evaluate import OracleConfig, evaluate_oracle, evaluate_pipeline, format_table, save_results

    if args.frames < 1:
        raise ValueError(f"--frames must be >= 1, got {args.frames}")
    dataset = _dataset(args.dataset, args.seed, args.oracle, tuple(args.people))
    if args.oracle:
        config = OracleConfig(
            peaks=tuple(args.peaks),
            associations=tuple(args.association),
            matching=args.matching,
            sigma=args.sigma,
            connectivity=args.connectivity,
            backend=args.backend,
        )
        results = evaluate_oracle(dataset, args.frames, config, progress=not args.no_progress)
        title = f"oracle upper bound, {args.dataset} seed {args.seed}, {results['frames']} frames, {args.matching}"
    else:
        try:
            from loco.pipeline import LoCO
        except ImportError as exc:
            raise RuntimeError(f"the LoCO pipeline is not available ({exc}); use --oracle") from exc
        pipeline = LoCO.from_pretrained(args.weights, device=args.device)
        results = evaluate_pipeline(
            dataset, pipeline, args.frames, matching=args.matching, progress=not args.no_progress
        )
        title = f"{args.weights}, {args.dataset} seed {args.seed}, {results['frames']} frames, {args.matching}"
    path = save_results(results, args.out, dataset=args.dataset, seed=args.seed, command="loco eval")
    print(f"{title} ({results['seconds_per_frame']:.2f} s/frame)")
    print(format_table(results))
    print(f"results written to {path}")
    return 0
