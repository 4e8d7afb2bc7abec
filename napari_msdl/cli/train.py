"""``napari-msdl train``: train the three-stage detector and the boundary model on a
dataset folder, into one model bundle (:func:`napari_msdl.training.train_bundle`)."""

from __future__ import annotations

import argparse
import shlex

from napari_msdl.cli import OUTPUTS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", epilog=OUTPUTS, help="train a detector model on an annotated dataset",
        description="Train the position, orientation and scale stages (cascade + main "
        "SADNN each, Algorithm 1) on DATA and write one model bundle folder to MODEL, "
        "atomically: an interrupted run leaves no model behind. With meshes in DATA, the "
        "boundary model (shape space + boundary SADNN) is trained too and added to the "
        "bundle; --stage boundary trains only that, into an existing bundle.")
    p.add_argument("--data", required=True, help="dataset folder (with dataset.json)")
    p.add_argument("--out", required=True, help="model folder to write")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, samples, nets")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs per Algorithm 1 round (and of pre-training; default 2)")
    p.add_argument("--rounds", type=int, default=None,
                   help="Algorithm 1 rounds T (default 5)")
    split = p.add_mutually_exclusive_group()
    split.add_argument("--val", default=None,
                       help="comma-separated validation case ids (default: a seeded share)")
    split.add_argument("--val-fraction", type=float, default=None,
                       help="share of the cases held out for validation (default 0.2)")
    p.add_argument("--shifts", type=int, default=None,
                   help="sub-voxel shifts of the feature grid sampled per case (default 2; "
                   "memory grows with cases x shifts: 800 cases x 2 peaked at 20 GB, 1 "
                   "halves the samples)")
    p.add_argument("--fov-cut", type=float, default=None, metavar="SHARE",
                   help="share of training samples cut by a random plane, as by the edge "
                   "of the field of view, so the nets learn valves the field of view cuts "
                   "(default 0: none)")
    p.add_argument("--dense", action="store_true",
                   help="train the dense baseline (no sparsity) instead")
    p.add_argument("--tiny", action="store_true",
                   help="a small, fast configuration (smoke tests, not for real use)")
    p.add_argument("--stage", choices=("all", "detector", "boundary"), default="all",
                   help="what to train: everything (default), the box detector only, or "
                   "the boundary model only (added to the existing bundle --out)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace):
    """The training configuration the options ask for. TrainConfig checks every value;
    an error names the option it came from."""
    from dataclasses import replace

    from napari_msdl.training import TrainConfig, tiny_config

    config = tiny_config() if args.tiny else TrainConfig()
    val_ids = None if args.val is None else tuple(
        i.strip() for i in args.val.split(",") if i.strip())
    steps = [("--epochs", lambda c: c.with_epochs(epochs=args.epochs, pretrain=args.epochs),
              args.epochs),
             ("--rounds", lambda c: c.with_epochs(rounds=args.rounds), args.rounds),
             ("--shifts", lambda c: replace(c, shifts=args.shifts), args.shifts),
             ("--fov-cut", lambda c: replace(c, fov_cut_share=args.fov_cut), args.fov_cut),
             ("--val-fraction", lambda c: replace(c, val_fraction=args.val_fraction),
              args.val_fraction),
             ("--val", lambda c: replace(c, val_ids=val_ids), args.val)]
    for flag, change, value in steps:
        if value is not None:
            try:
                config = change(config)
            except ValueError as e:
                raise ValueError(f"{flag} {value}: {e}") from e
    return config


def run(args: argparse.Namespace) -> int:
    from napari_msdl._progress import tqdm_progress
    from napari_msdl.training import BoundaryConfig, add_boundary, stage_report, train_bundle

    command = "napari-msdl " + shlex.join(args.argv)
    progress = tqdm_progress(disable=args.quiet)
    if args.stage == "boundary":
        add_boundary(args.out, args.data, args.out, seed=args.seed, progress=progress,
                     command=command)
        print(f"added the boundary model to {args.out}")
        return 0
    config = _config(args)
    boundary = None if args.stage == "detector" or args.tiny else BoundaryConfig()
    model = train_bundle(args.data, args.out, config, boundary, seed=args.seed,
                         dense=args.dense, progress=progress, command=command)
    record = model.card.detector
    v = record.figures["validation"]
    print(stage_report(record))
    print(f"wrote {args.out} ({record.seconds:.0f} s training the detector"
          + ("" if model.boundary is None else ", with a boundary model") + "); validation: "
          f"position error {v['position_error']['mean']:.2f} mm, corner error "
          f"{v['corner_error']['mean']:.2f} mm (means over {record.data['val_cases']} cases)")
    return 0
