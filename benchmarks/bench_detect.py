"""Detection speed: per-stage times and hypothesis counts, sparse vs dense, one JSON.

    python benchmarks/bench_detect.py [--model M] [--dense-model D] [--repeat 5]
        [--shape 250 250 150] [--spacing 0.75] [--seed 7] [--out bench_detect.json]

The volume is a phantom of the largest size the paper names (250x250x150 at 0.75 mm).
Both models run the same search (same hypotheses per stage) on the same volume in the
same process; the figures are medians over ``--repeat`` runs after one warm-up run.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from napari_msdl.bundle import load_bundle
from napari_msdl.detector import detect
from napari_msdl.phantoms import make_phantom


def measure(volume, model, repeat: int, device: str) -> dict:
    """Median timings over ``repeat`` detections (after a warm-up) and the counts."""
    detect(volume, model, device=device)
    runs = [detect(volume, model, device=device) for _ in range(repeat)]
    names = list(runs[0].timings)
    last = runs[-1]
    return {"seconds": {k: statistics.median(r.timings[k] for r in runs) for k in names},
            "hypotheses": {k: s.hypotheses for k, s in last.stages.items()},
            "passed_cascade": {k: s.passed_cascade for k, s in last.stages.items()},
            "center": last.pose.center.tolist()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="sparse model (default: the bundled one)")
    p.add_argument("--dense-model", default=None, help="dense baseline model (optional)")
    p.add_argument("--repeat", type=int, default=5,
                   help="timed runs per model after one warm-up; medians are reported")
    p.add_argument("--shape", type=int, nargs=3, default=(250, 250, 150),
                   help="phantom volume shape (default: the largest, 250 250 150)")
    p.add_argument("--spacing", type=float, default=0.75, help="voxel spacing, mm")
    p.add_argument("--seed", type=int, default=7, help="phantom seed")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--out", default="bench_detect.json", help="JSON file to write")
    args = p.parse_args()

    t = time.perf_counter()
    case = make_phantom(args.seed, shape=tuple(args.shape), spacing=args.spacing)
    print(f"phantom {case.volume.shape} at {args.spacing} mm ({time.perf_counter() - t:.1f} s)")
    result = {"volume": {"shape": list(case.volume.shape), "spacing": args.spacing,
                         "seed": args.seed},
              "machine": {"cpu_threads": torch.get_num_threads(),
                          "platform": platform.platform()},
              "device": args.device, "repeat": args.repeat}
    models = {"sparse": args.model}
    if args.dense_model:
        models["dense"] = args.dense_model
    for name, path in models.items():
        result[name] = measure(case.volume, load_bundle(path).detector, args.repeat, args.device)
        result[name]["model"] = str(path) if path else "bundled"
    if "dense" in result:
        result["speedup"] = {k: result["dense"]["seconds"][k] / result["sparse"]["seconds"][k]
                             for k in result["sparse"]["seconds"]}
    cols = [n for n in ("sparse", "dense") if n in result]
    print(f"{'stage':<12}" + "".join(f"{c + ' s':>12}{c + ' hyps':>14}" for c in cols)
          + ("  speedup" if "dense" in result else ""))
    for stage in result["sparse"]["seconds"]:
        line = f"{stage:<12}"
        for c in cols:
            line += (f"{result[c]['seconds'][stage]:>12.4f}"
                     f"{result[c]['hypotheses'].get(stage, ''):>14}")
        if "dense" in result:
            line += f"  {result['speedup'][stage]:.1f}x"
        print(line)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
