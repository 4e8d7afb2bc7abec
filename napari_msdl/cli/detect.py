"""``napari-msdl detect``: find the aortic valve box (and mesh) in one volume."""

from __future__ import annotations

import argparse

from napari_msdl.cli import OUTPUTS
from napari_msdl.mesh import MESH_SUFFIXES


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "detect", epilog=OUTPUTS, help="detect the aortic valve box (and mesh) in a volume",
        description="Run the position -> orientation -> scale detector on IMAGE and write "
        "the pose, its 8 corners, the score, per-stage timings and candidates as JSON. When "
        "the model bundle has a boundary model, the valve mesh is also segmented (mean "
        "shape in the box, deformed along its normals); --mesh writes it as PLY/STL/OBJ. "
        "With a boundary model the box is also verified by segmentation: when its mesh "
        "reads little valve boundary, other places are searched and weighed (the JSON's "
        "'verification' says what was kept).")
    p.add_argument("image", help="volume file (NIfTI, NRRD, MHA/MHD, DICOM folder, TIFF, npy)")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--mesh", default=None, metavar="MESH.ply",
                   help="also write the segmented valve mesh (" + ", ".join(MESH_SUFFIXES)
                   + ", in mm)")
    p.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None,
                   help="where to run (default: cuda when available, else cpu)")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="keep the detector's box unverified (faster when no mesh is wanted)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from napari_msdl._io import check_output, dumps_json, write_text_atomic
    from napari_msdl._progress import tqdm_progress
    from napari_msdl.bundle import load_bundle
    from napari_msdl.detector.detect import DETECTION_OUTPUT
    from napari_msdl.mesh import MESH_OUTPUT, save_mesh
    from napari_msdl.pipeline import find_valve
    from napari_msdl.volume import load_volume

    inputs = [args.image, args.model]
    check_output(args.out, DETECTION_OUTPUT, inputs, also=[args.mesh], what="--out")
    if args.mesh:
        check_output(args.mesh, MESH_OUTPUT, inputs, also=[args.out], what="--mesh")
    volume = load_volume(args.image)
    model = load_bundle(args.model)
    if args.mesh and model.boundary is None:
        raise ValueError(f"--mesh needs a model with a boundary model; {model.path} has none")
    result = find_valve(volume, model, segment_mesh=bool(args.mesh), verify=args.verify,
                        device=args.device, progress=tqdm_progress(disable=args.quiet))
    doc = result.to_dict()
    doc["image"] = str(args.image)
    if args.mesh:
        save_mesh(result.segmentation.mesh(), args.mesh)
        doc["mesh"]["file"] = str(args.mesh)
    write_text_atomic(args.out, dumps_json(doc))
    det = result.detection
    c = det.pose.center
    mesh = f", mesh {result.segmentation.seconds:.2f} s -> {args.mesh}" if args.mesh else ""
    print(f"valve at ({c[0]:.1f}, {c[1]:.1f}, {c[2]:.1f}) mm, score {det.score:.3f}, "
          f"{det.timings['total']:.2f} s{mesh}; wrote {args.out}")
    if result.verification is not None:
        print(result.verification.summary())
    return 0
