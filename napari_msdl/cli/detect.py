"""``napari-msdl detect``: find the aortic valve box in one volume, write OUT.json."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "detect", help="detect the aortic valve box in a volume",
        description="Run the position -> orientation -> scale detector on IMAGE and write "
        "the pose, its 8 corners, the score, per-stage timings and candidates as JSON.")
    p.add_argument("image", help="volume file (NIfTI, NRRD, MHA/MHD, DICOM folder, TIFF, npy)")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None,
                   help="where to run (default: cuda when available, else cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from napari_msdl._io import write_text_atomic
    from napari_msdl._progress import tqdm_progress
    from napari_msdl.detector import detect, load_model
    from napari_msdl.volume import load_volume

    volume = load_volume(args.image)
    model = load_model(args.model)
    det = detect(volume, model, device=args.device, progress=tqdm_progress(disable=args.quiet))
    doc = det.to_dict()
    doc["image"] = str(args.image)
    write_text_atomic(args.out, json.dumps(doc, indent=1) + "\n")
    c = det.pose.center
    print(f"valve at ({c[0]:.1f}, {c[1]:.1f}, {c[2]:.1f}) mm, score {det.score:.3f}, "
          f"{det.timings['total']:.2f} s; wrote {args.out}")
    return 0
