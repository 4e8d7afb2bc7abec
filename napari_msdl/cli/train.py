"""``napari-msdl train``: train the three-stage detector and the boundary model on a
dataset folder, into one model bundle."""

from __future__ import annotations

import argparse
import shlex


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a detector model on an annotated dataset",
        description="Train the position, orientation and scale stages (cascade + main "
        "SADNN each, Algorithm 1) on DATA and write one model bundle folder to MODEL, "
        "atomically: an interrupted run leaves no model behind. With meshes in DATA, the "
        "boundary model (shape space + boundary SADNN) is trained too and added to the "
        "bundle; --stage boundary trains only that, into an existing bundle.")
    p.add_argument("--data", required=True, help="dataset folder (with dataset.json)")
    p.add_argument("--out", required=True, help="model folder to write")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, samples, nets")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs per Algorithm 1 round (and of pre-training)")
    p.add_argument("--rounds", type=int, default=None, help="Algorithm 1 rounds T")
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


def _train_boundary(args: argparse.Namespace) -> None:
    """Train the boundary model on DATA's meshes and add it to the bundle at --out."""
    from pathlib import Path

    from napari_msdl._progress import tqdm_progress
    from napari_msdl.boundary import BoundaryModel, dataset_cases, train_boundary
    from napari_msdl.training.datasets import Dataset

    out = Path(args.out)
    if not (out / "model.json").is_file():
        raise ValueError(f"--stage boundary adds to an existing model bundle; {out} has none "
                         "(train the detector first)")
    ds = Dataset.open(args.data)
    if not any(c.mesh is not None and c.pose is not None for c in ds):
        raise ValueError(f"{ds.root}: no case has both a pose and a mesh to train on")
    model: BoundaryModel = train_boundary(dataset_cases(ds), seed=args.seed,
                                          progress=tqdm_progress(disable=args.quiet))
    model.card = {**model.card, "command": "napari-msdl " + shlex.join(args.argv),
                  "data": str(ds.root.resolve())}
    model.save(out)
    print(f"added the boundary model to {out}")


def run(args: argparse.Namespace) -> int:
    if args.stage == "boundary":
        _train_boundary(args)
        return 0
    from dataclasses import replace

    from napari_msdl._progress import tqdm_progress
    from napari_msdl.training.train import (
        TrainConfig,
        stage_report,
        tiny_config,
        train_detector,
    )

    config = tiny_config() if args.tiny else TrainConfig()
    for name in ("epochs", "rounds"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "epochs" else 1):
            raise ValueError(f"--{name} must be >= {0 if name == 'epochs' else 1}, got {value}")
    config = config.with_epochs(epochs=args.epochs, rounds=args.rounds,
                                pretrain=args.epochs)
    if args.shifts is not None:
        if args.shifts < 1:
            raise ValueError(f"--shifts must be >= 1, got {args.shifts}")
        config = replace(config, shifts=args.shifts)
    if args.fov_cut is not None:
        if not 0.0 <= args.fov_cut <= 1.0:
            raise ValueError(f"--fov-cut must be in [0, 1], got {args.fov_cut}")
        config = replace(config, fov_cut_share=args.fov_cut)
    if args.val is not None:
        ids = tuple(i.strip() for i in args.val.split(",") if i.strip())
        if not ids:
            raise ValueError("--val needs at least one case id")
        config = replace(config, val_ids=ids)
    if args.val_fraction is not None:
        if not 0.0 < args.val_fraction < 1.0:
            raise ValueError(f"--val-fraction must be in (0, 1), got {args.val_fraction}")
        config = replace(config, val_fraction=args.val_fraction)
    command = "napari-msdl " + shlex.join(args.argv)
    model = train_detector(args.data, args.out, config, seed=args.seed,
                           progress=tqdm_progress(disable=args.quiet), dense=args.dense,
                           command=command)
    v = model.card["validation"]
    print(stage_report(model.card))
    print(f"wrote {args.out} ({model.card['training_seconds']:.0f} s training); validation: "
          f"position error {v['position_error']['mean']:.2f} mm, corner error "
          f"{v['corner_error']['mean']:.2f} mm (means over {model.card['data']['val_cases']} "
          "cases)")
    if args.stage == "all" and not args.dense and not args.tiny:
        from napari_msdl.training.datasets import Dataset

        if any(c.mesh is not None for c in Dataset.open(args.data)):
            _train_boundary(args)
    return 0
