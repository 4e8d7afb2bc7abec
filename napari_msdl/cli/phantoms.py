"""``napari-msdl phantoms``: write a dataset of synthetic TEE phantoms."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from napari_msdl.cli import OUTPUTS

DESCRIPTION = """\
Write N synthetic 3D TEE volumes of the aortic valve, each with its exact 9-parameter
box and valve mesh, as a dataset folder (dataset.json, images/*.nii.gz, meshes/*.ply,
params/*.json). Cases are generated and written one at a time; case i uses a seed
derived from --seed and i, so the same command gives the same dataset."""

EPILOG = """\
examples:
  napari-msdl phantoms --n 200 --out data/phantoms --seed 0
  napari-msdl phantoms --n 20 --out data/small --seed 1 --shape 128 128 96 --spacing 1
  napari-msdl phantoms --n 400 --out data/phantoms --seed 0 --resume
  napari-msdl phantoms --sample-data        (rewrite the package's bundled samples)

""" + "\n".join(textwrap.wrap(OUTPUTS, 88))


def register(subparsers) -> None:
    """Add the ``phantoms`` subcommand to the ``napari-msdl`` parser."""
    p = subparsers.add_parser(
        "phantoms", help="write a dataset of synthetic TEE phantoms with exact ground truth",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, metavar="N", help="number of cases to write")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="new dataset folder (refused if it already holds files, unless --resume)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="dataset seed (default 0)")
    p.add_argument("--shape", type=int, nargs=3, metavar=("X", "Y", "Z"),
                   help="volume size in voxels (default: drawn per case, 100x100x50 to "
                        "250x250x150; axis Z is depth)")
    p.add_argument("--spacing", type=float, metavar="MM",
                   help="isotropic voxel spacing in mm (default: drawn per case, 0.75 to 1)")
    p.add_argument("--resume", action="store_true",
                   help="add the missing cases to a dataset this command started before "
                        "(same seed, shape and spacing)")
    p.add_argument("--name", help="dataset name in dataset.json (default: the folder name)")
    p.add_argument("--domain", default="phantom", choices=("phantom", "shifted"),
                   help="phantom domain: the generator's own ranges (default), or the "
                        "shifted domain of the adaptation benchmark (larger roots, thicker "
                        "leaflets, coarser speckle, dimmer, a narrower sector; "
                        "docs/phantoms.md)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--sample-data", action="store_true",
                   help="rewrite the sample dataset shipped in the package and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; returns the exit status."""
    from napari_msdl._progress import tqdm_progress
    from napari_msdl.phantoms.dataset import write_phantom_dataset, write_sample_data

    progress = tqdm_progress(disable=args.quiet)
    if args.sample_data:
        path = write_sample_data(progress=progress)
        print(f"wrote the sample dataset to {path}")
        return 0
    if args.n is None or args.out is None:
        raise ValueError("--n and --out are required (or --sample-data)")
    dataset = write_phantom_dataset(args.out, args.n, seed=args.seed, shape=args.shape,
                                    spacing=args.spacing, progress=progress,
                                    resume=args.resume, name=args.name, domain=args.domain)
    print(f"wrote {len(dataset)} phantom cases to {dataset.root}")
    return 0
