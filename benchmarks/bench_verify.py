"""What verification by segmentation costs: seconds per case before and after, one run.

    python benchmarks/bench_verify.py --data ph_test [--model M] [--cases 30]
        [--out benchmarks/results/bench_verify.json]

For each of the first ``--cases`` annotated cases, in turn and in one process (so the
machine's load falls on every variant alike), times:

* ``detector (no pool)``: :func:`~napari_msdl.detector.detect` keeping only the
  ``top_position`` position candidates (``position_pool=1``: the detector before
  verification existed);
* ``detector``: ``detect`` as it runs now (with the position pool verification draws on);
* ``find_valve unverified``: box then mesh, ``verify=False`` (what Detect valve did);
* ``find_valve``: box verified by segmentation, then the mesh (what it does now).

Prints and writes per variant the median and best seconds per case, and the median and
best per-case ratio of each to its predecessor; the share of cases where the other
places were searched.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from napari_msdl._io import write_text_atomic
from napari_msdl.bundle import load_bundle
from napari_msdl.dataset import Dataset
from napari_msdl.detector import detect
from napari_msdl.pipeline import find_valve

VARIANTS = ("detector (no pool)", "detector", "find_valve unverified", "find_valve")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--model", default=None, help="bundle folder (default: the bundled one)")
    p.add_argument("--cases", type=int, default=30)
    p.add_argument("--out", type=Path,
                   default=Path(__file__).parent / "results" / "bench_verify.json")
    args = p.parse_args()
    model = load_bundle(args.model)
    cases = Dataset.open(args.data).annotated[:args.cases]
    runs = {
        VARIANTS[0]: lambda v: detect(v, model.detector, device="cpu", position_pool=1),
        VARIANTS[1]: lambda v: detect(v, model.detector, device="cpu"),
        VARIANTS[2]: lambda v: find_valve(v, model, device="cpu", verify=False),
        VARIANTS[3]: lambda v: find_valve(v, model, device="cpu"),
    }
    seconds: dict[str, list[float]] = {k: [] for k in VARIANTS}
    searched = 0
    load = os.getloadavg()[0]
    detect(cases[0].load_volume(), model.detector, device="cpu")  # warm-up
    for n, case in enumerate(cases):
        volume = case.load_volume()
        for name, run in runs.items():
            t0 = time.perf_counter()
            out = run(volume)
            seconds[name].append(time.perf_counter() - t0)
        searched += bool(out.verification is not None and out.verification.searched)
        print(f"{n + 1}/{len(cases)} {case.id} "
              + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in seconds.items()), flush=True)
    summary = {k: {"median": statistics.median(v), "best": min(v)} for k, v in seconds.items()}
    ratios = {}
    for before, after in zip(VARIANTS, VARIANTS[1:], strict=False):
        r = [a / b for a, b in zip(seconds[after], seconds[before], strict=True)]
        ratios[f"{after} / {before}"] = {"median": statistics.median(r), "best": min(r)}
    r = [a / b for a, b in zip(seconds[VARIANTS[3]], seconds[VARIANTS[2]], strict=True)]
    report = {"data": str(args.data), "cases": len(cases), "seconds": summary,
              "ratios": ratios, "searched_share": searched / len(cases),
              "find_valve_ratio_mean": statistics.mean(r),
              "load_average_1min_at_start": load, "load_average_1min_at_end":
              os.getloadavg()[0], "machine": platform.processor() or platform.machine(),
              "cpus": os.cpu_count()}
    print(json.dumps(report, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps({**report, "per_case": seconds}, indent=1))


if __name__ == "__main__":
    main()
