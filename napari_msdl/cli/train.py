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
                   help="epochs per Algorithm 1 round (and of pre-training; default 2, "
                   "with --from 6)")
    p.add_argument("--rounds", type=int, default=None,
                   help="Algorithm 1 rounds T (default 5; with --from 1: a fine-tuned "
                   "network keeps its map, so its rounds only train)")
    split = p.add_mutually_exclusive_group()
    split.add_argument("--val", default=None,
                       help="comma-separated validation case ids (default: a seeded share)")
    split.add_argument("--val-fraction", type=float, default=None,
                       help="share of the cases held out for validation (default 0.2)")
    p.add_argument("--shifts", type=int, default=None,
                   help="sub-voxel shifts of the feature grid sampled per case (default 2; "
                   "1 halves the samples, and the scratch space they take)")
    p.add_argument("--fov-cut", type=float, default=None, metavar="SHARE",
                   help="share of training samples cut by a random plane, as by the edge "
                   "of the field of view, so the nets learn valves the field of view cuts "
                   "(default 0: none)")
    p.add_argument("--from", dest="parent", default=None, metavar="MODEL",
                   help="fine-tune this model folder ('bundled': the bundled model) instead "
                   "of training from scratch: every network starts from its weights and "
                   "sparsity map, the training cases are augmented, and its boundary model "
                   "is fine-tuned on the meshes when they have its topology (kept, with "
                   "the reason, when not). Its configuration is the default")
    p.add_argument("--ranges", choices=("extend", "keep", "learn"), default="extend",
                   help="with --from: extend the model's orientation and size ranges to "
                   "the new cases (default), keep them, or learn them from the new cases")
    p.add_argument("--augment", type=int, default=None, metavar="N",
                   help="augmented copies of every training case (small rotations, "
                   "scalings, shifts, contrast); default 0, with --from enough for about "
                   "80 cases")
    p.add_argument("--scratch", default=None, metavar="DIR",
                   help="folder in which the training makes its scratch folder of samples "
                   "and feature volumes, removed at the end (default: the system's "
                   "temporary folder, $TMPDIR; at most about 15 MB per case: 800 cases took 11.5 "
                   "GB, and a folder with less room is refused before any work); "
                   "memory then stays about the same however many cases there are")
    p.add_argument("--dense", action="store_true",
                   help="train the dense baseline (no sparsity) instead")
    p.add_argument("--tiny", action="store_true",
                   help="a small, fast configuration (smoke tests, not for real use)")
    p.add_argument("--stage", choices=("all", "detector", "boundary"), default="all",
                   help="what to train: everything (default), the box detector only, or "
                   "the boundary model only (added to the existing bundle --out)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace, base=None):
    """The training configuration the options ask for (on top of ``base``, default
    :class:`~napari_msdl.training.TrainConfig`). TrainConfig checks every value;
    an error names the option it came from."""
    from dataclasses import replace

    from napari_msdl.training import TrainConfig, tiny_config

    config = tiny_config() if args.tiny else base or TrainConfig()
    val_ids = None if args.val is None else tuple(
        i.strip() for i in args.val.split(",") if i.strip())
    steps = [("--epochs", lambda c: c.with_epochs(epochs=args.epochs, pretrain=args.epochs),
              args.epochs),
             ("--rounds", lambda c: c.with_epochs(rounds=args.rounds), args.rounds),
             ("--shifts", lambda c: replace(c, shifts=args.shifts), args.shifts),
             ("--fov-cut", lambda c: replace(c, fov_cut_share=args.fov_cut), args.fov_cut),
             ("--val-fraction", lambda c: replace(c, val_fraction=args.val_fraction),
              args.val_fraction),
             ("--val", lambda c: replace(c, val_ids=val_ids), args.val),
             ("--augment", lambda c: replace(c, augment=replace(c.augment,
                                                                copies=args.augment)),
              args.augment)]
    for flag, change, value in steps:
        if value is not None:
            try:
                config = change(config)
            except ValueError as e:
                raise ValueError(f"{flag} {value}: {e}") from e
    return config


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from napari_msdl._progress import tqdm_progress
    from napari_msdl.bundle import load_bundle
    from napari_msdl.training import (
        BoundaryConfig,
        add_boundary,
        fine_tune_config,
        stage_report,
        train_bundle,
    )
    from napari_msdl.training.bundle_training import VERIFIED
    from napari_msdl.training.stage import FINE_TUNE
    from napari_msdl.training.train import validation_line

    command = "napari-msdl " + shlex.join(args.argv)
    progress = tqdm_progress(disable=args.quiet)
    if args.stage == "boundary":
        add_boundary(args.out, args.data, args.out, seed=args.seed, progress=progress,
                     command=command)
        print(f"added the boundary model to {args.out}")
        return 0
    parent = fine_tune = None
    if args.parent is not None:
        if args.dense:
            raise ValueError("--from and --dense: the dense baseline cannot be fine-tuned")
        parent = load_bundle(None if args.parent == "bundled" else args.parent)
        config = _config(args, fine_tune_config(parent, args.data, args.seed))
        fine_tune = replace(FINE_TUNE, **{k: v for k, v in (
            ("pretrain_epochs", args.epochs), ("epochs_per_round", args.epochs),
            ("rounds", args.rounds)) if v is not None})
    else:
        config = _config(args)
    boundary = None if args.stage == "detector" or args.tiny else BoundaryConfig()
    model = train_bundle(args.data, args.out, config, boundary, seed=args.seed,
                         dense=args.dense, progress=progress, command=command, init=parent,
                         ranges=args.ranges, fine_tune=fine_tune,
                         scratch=args.scratch or "temp")
    record = model.card.detector
    if parent is not None:
        print(f"fine-tuned {parent.path}; boundary model: "
              f"{model.card.history[-1].parameters['boundary']}")
    v = record.figures["validation"]
    print(stage_report(record))
    print(f"wrote {args.out} ({record.seconds:.0f} s training the detector"
          + ("" if model.boundary is None else ", with a boundary model") + "); "
          + validation_line(v))
    if VERIFIED in record.figures:
        print(validation_line(record.figures[VERIFIED], "validation verified by segmentation"))
    return 0
