"""Detection speed: per-stage times and hypothesis counts, box + mesh, a reference cost,
precisions and (optionally) sparse vs dense, and the CLI's cold start; one JSON.

    python benchmarks/bench_detect.py [--model M] [--dense-model D] [--repeat 9]
        [--shape 250 250 150] [--spacing 0.75] [--seed 7] [--valve-seed 8] [--cold 3]
        [--out benchmarks/results/bench_detect.json]

The volume is a phantom of the largest size the paper names (250x250x150 at 0.75 mm).
Every variant runs in the same process on the same volume, interleaved round by round
(so a burst of load on the shared machine hits all of them alike), after one warm-up
each; medians and bests over ``--repeat`` rounds are reported:

* ``detect``: the box, per stage;
* ``find_valve``: the box verified by segmentation and the mesh (what the Detect valve
  widget and ``napari-msdl detect --mesh`` run), on a second phantom (``--valve-seed``)
  whose valve the bundled model finds, and on the detection volume (whose valve it
  loses, so verification searches other places there: the worst case);
* the dense baseline's detection (``--dense-model``), with the sparse model's search
  parameters (the same hypotheses per stage; what differs is the networks);
* the reference cost: ``scipy.ndimage.map_coordinates`` (order 1) of 1 M random points
  in a volume of the same shape; every time is also given as a ratio to it, so figures
  from different machines compare.

Then ``--cold`` fresh processes of ``napari-msdl detect SAMPLE --mesh`` on the bundled
100x100x50 sample (wall time: imports, model loading, detection, mesh, writing), and one
more fresh process that times each of those phases. The
machine (CPU, cores, threads) and its load average before and after are written too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from napari_msdl._io import write_text_atomic
from napari_msdl.bundle import load_bundle
from napari_msdl.detector import detect
from napari_msdl.geometry import position_error
from napari_msdl.phantoms import make_phantom
from napari_msdl.pipeline import find_valve

SAMPLE = Path(__file__).resolve().parents[1] / "napari_msdl" / "sample_data" / "images" / \
    "phantom-00000.nii.gz"


def machine() -> dict:
    """CPU model, cores, torch threads, platform, load average now."""
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(), "load_average": list(os.getloadavg())}


def reference_seconds(shape: tuple[int, int, int], seed: int = 0) -> float:
    """One run of the reference cost: trilinear reads of 1 M random points."""
    rng = np.random.default_rng(seed)
    vol = rng.random(shape, dtype=np.float32)
    pts = rng.random((3, 1_000_000)) * (np.array(shape)[:, None] - 1)
    t = time.perf_counter()
    ndimage.map_coordinates(vol, pts, order=1)
    return time.perf_counter() - t


def stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "best": min(values), "runs": values}


def cold_start(runs: int, model: str | None) -> dict:
    """Wall seconds of fresh ``napari-msdl detect SAMPLE --mesh`` processes."""
    exe = Path(sys.executable).with_name("napari-msdl")
    cmd = [str(exe)] if exe.exists() else [shutil.which("napari-msdl") or "napari-msdl"]
    walls = []
    with tempfile.TemporaryDirectory() as tmp:
        args = [*cmd, "detect", str(SAMPLE), "--out", f"{tmp}/d.json", "--mesh",
                f"{tmp}/d.ply", "--quiet", "--device", "cpu"]
        if model:
            args += ["--model", model]
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run(args, check=True, capture_output=True)
            walls.append(time.perf_counter() - t)
    return {"command": "napari-msdl detect SAMPLE --out D.json --mesh D.ply --quiet",
            "sample": SAMPLE.name, **stats(walls)}


PHASES = """
import json, sys, time
t0 = time.perf_counter(); marks = {}
import torch
marks["import torch"] = time.perf_counter()
import numba, scipy.ndimage, nibabel
marks["import numba, scipy.ndimage, nibabel"] = time.perf_counter()
from napari_msdl.bundle import load_bundle
from napari_msdl.mesh import save_mesh
from napari_msdl.pipeline import find_valve
from napari_msdl.volume import load_volume
marks["import napari_msdl (the rest)"] = time.perf_counter()
model = load_bundle(sys.argv[3] if len(sys.argv) > 3 else None)
marks["load the model"] = time.perf_counter()
volume = load_volume(sys.argv[1])
marks["read the volume"] = time.perf_counter()
result = find_valve(volume, model, device="cpu")
marks["find_valve (first call: compiled kernels load)"] = time.perf_counter()
result = find_valve(volume, model, device="cpu")
t1 = time.perf_counter()
mesh = result.segmentation.mesh()
marks["make the mesh (imports trimesh)"] = time.perf_counter()
save_mesh(mesh, sys.argv[2])
marks["write the mesh"] = time.perf_counter()
last, out = t0, {}
for name, t in marks.items():
    out[name] = t - last
    last = t if name != "find_valve (first call: compiled kernels load)" else t1
out["find_valve (second call, warm)"] = t1 - marks["find_valve (first call: compiled kernels load)"]
print(json.dumps(out))
"""
"""A fresh process timing each phase of what ``napari-msdl detect --mesh`` does."""


def cold_phases(model: str | None) -> dict:
    """Seconds per phase of a fresh process doing what the CLI does (one run)."""
    with tempfile.TemporaryDirectory() as tmp:
        args = [sys.executable, "-c", PHASES, str(SAMPLE), f"{tmp}/d.ply",
                *([model] if model else [])]
        done = subprocess.run(args, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="sparse model (default: the bundled one)")
    p.add_argument("--dense-model", default=None, help="dense baseline model (optional)")
    p.add_argument("--repeat", type=int, default=9,
                   help="timed rounds after one warm-up; medians and bests are reported")
    p.add_argument("--shape", type=int, nargs=3, default=(250, 250, 150),
                   help="phantom volume shape (default: the largest, 250 250 150)")
    p.add_argument("--spacing", type=float, default=0.75, help="voxel spacing, mm")
    p.add_argument("--seed", type=int, default=7, help="phantom seed of the detection volume")
    p.add_argument("--valve-seed", type=int, default=8,
                   help="phantom seed of the find_valve volume (default 8: the bundled "
                   "model finds its valve; it loses seed 7's, where find_valve times "
                   "verification's search of other places, also written)")
    p.add_argument("--cold", type=int, default=3, help="fresh CLI processes to time (0: none)")
    p.add_argument("--out", type=Path,
                   default=Path(__file__).parent / "results" / "bench_detect.json",
                   help="JSON file to write")
    args = p.parse_args()
    if args.repeat < 1 or args.cold < 0:
        p.error("--repeat must be at least 1 and --cold at least 0")

    result = {"machine": machine()}
    t = time.perf_counter()
    case = make_phantom(args.seed, shape=tuple(args.shape), spacing=args.spacing)
    valve = make_phantom(args.valve_seed, shape=tuple(args.shape), spacing=args.spacing)
    print(f"phantoms {case.volume.shape} at {args.spacing} mm, seeds {args.seed} and "
          f"{args.valve_seed} ({time.perf_counter() - t:.1f} s)")
    result["volume"] = {"shape": list(case.volume.shape), "spacing": args.spacing,
                        "seed": args.seed, "valve_seed": args.valve_seed}
    bundle = load_bundle(args.model)
    runs = {"detect": lambda: detect(case.volume, bundle.detector, device="cpu")}
    if bundle.boundary is not None:
        runs["find_valve"] = lambda: find_valve(valve.volume, bundle, device="cpu")
        runs[f"find_valve_seed{args.seed}"] = lambda: find_valve(case.volume, bundle,
                                                                 device="cpu")
    if args.dense_model:
        dense = load_bundle(args.dense_model).detector
        search = bundle.detector.search.to_dict()  # the same hypotheses as the sparse run
        runs["dense"] = lambda: detect(case.volume, dense, device="cpu", **search)
    shape = tuple(args.shape)
    times: dict[str, list] = {name: [] for name in [*runs, "reference"]}
    last = {name: run() for name, run in runs.items()}  # warm-up
    reference_seconds(shape)
    for _ in range(args.repeat):
        for name, run in runs.items():
            last[name] = run()
            det = getattr(last[name], "detection", last[name])
            times[name].append(det.timings if not name.startswith("find_valve")
                               else {"total": last[name].seconds})
        times["reference"].append(reference_seconds(shape))
    ref = stats(times["reference"])
    result["reference"] = {"what": "scipy.ndimage.map_coordinates, order 1, 1 M random points "
                                   f"in a {'x'.join(map(str, shape))} float32 volume", **ref}
    for name in runs:
        stages = list(times[name][0])
        det = getattr(last[name], "detection", last[name])
        result[name] = {
            "seconds": {k: stats([r[k] for r in times[name]]) for k in stages},
            "hypotheses": {k: s.hypotheses for k, s in det.stages.items()},
            "passed_cascade": {k: s.passed_cascade for k, s in det.stages.items()},
            "center": det.pose.center.tolist(),
            "position_error_mm": position_error(
                det.pose, (valve if name == "find_valve" else case).pose)}
        result[name]["ratio_to_reference"] = (result[name]["seconds"]["total"]["median"]
                                              / ref["median"])
    if "dense" in result:
        result["sparse_vs_dense"] = (result["dense"]["seconds"]["total"]["median"]
                                     / result["detect"]["seconds"]["total"]["median"])
    if args.cold:
        result["cold_start"] = cold_start(args.cold, args.model)
        result["cold_start"]["phases"] = cold_phases(args.model)
    result["machine"]["load_average_after"] = list(os.getloadavg())
    result["repeat"] = args.repeat

    m = result["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads, "
          f"load {m['load_average'][0]:.2f} before, "
          f"{m['load_average_after'][0]:.2f} after")
    print(f"reference ({result['reference']['what']}): median {ref['median']:.3f} s, "
          f"best {ref['best']:.3f} s")
    for name in runs:
        print(f"{name}: {result[name]['position_error_mm']:.1f} mm from the phantom's valve")
    print(f"{'run':<18}{'stage':<13}{'median s':>10}{'best s':>9}{'hypotheses':>12}"
          f"{'x reference':>13}")
    for name in runs:
        for stage, s in result[name]["seconds"].items():
            hyps = ("" if name.startswith("find_valve")
                    else result[name]["hypotheses"].get(stage, ""))
            print(f"{name:<18}{stage:<13}{s['median']:>10.3f}{s['best']:>9.3f}{hyps:>12}"
                  f"{s['median'] / ref['median']:>13.2f}")
    if "sparse_vs_dense" in result:
        print(f"sparse vs dense detection: {result['sparse_vs_dense']:.1f}x")
    if "cold_start" in result:
        c = result["cold_start"]
        print(f"cold start ({c['command']}): median {c['median']:.2f} s, best {c['best']:.2f} s;"
              " where a fresh process spends it:")
        for phase, sec in c["phases"].items():
            print(f"  {phase:<50}{sec:>7.2f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
