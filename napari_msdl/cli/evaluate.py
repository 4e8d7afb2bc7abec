"""``napari-msdl evaluate``: Table I (position and corner error) on a dataset."""

from __future__ import annotations

import argparse

from napari_msdl.cli import OUTPUTS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", epilog=OUTPUTS,
        help="position and corner errors of a model on an annotated dataset",
        description="Detect every annotated case of DATA, print the seed's Table I (mean, "
        "median, std of the position and corner errors, mm; seconds per case) and write "
        "REPORT_DIR/report.json and report.md. With a boundary model, each box is verified "
        "by segmentation as napari-msdl detect does (--no-verify: the detector alone); "
        "the seconds include it.")
    p.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    p.add_argument("--data", required=True, help="dataset folder (with dataset.json)")
    p.add_argument("--out", required=True, help="report folder to write")
    p.add_argument("--baseline", choices=("dense",), default=None,
                   help="also evaluate a baseline side by side (needs --baseline-model)")
    p.add_argument("--baseline-model", default=None,
                   help="the dense baseline model folder (napari-msdl train --dense)")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None,
                   help="where to run (default: cuda when available, else cpu)")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="report the detector's boxes unverified (what verification by "
                   "segmentation changes: run with and without)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from napari_msdl._progress import tqdm_progress
    from napari_msdl.evaluation import evaluate_bundle, segmentation_tables
    from napari_msdl.evaluation.detection import failure_line

    if args.baseline and not args.baseline_model:
        raise ValueError("--baseline dense needs --baseline-model MODEL (a model trained "
                         "with napari-msdl train --dense)")
    if args.baseline_model and not args.baseline:
        raise ValueError("--baseline-model needs --baseline dense")
    report = evaluate_bundle(args.model, args.data, args.out, args.baseline_model,
                             device=args.device, verify=args.verify,
                             progress=tqdm_progress(disable=args.quiet))
    print(report["table"])
    print(failure_line(report))
    if "mesh_error_final" in report:
        print(segmentation_tables(report))
    print(f"wrote {args.out}/report.json and report.md")
    return 0
