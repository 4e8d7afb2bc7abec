"""Phantom generation time per case at the smallest and largest volume size.

    python benchmarks/bench_phantoms.py [--seeds 5] [--out results/bench_phantoms.json]

Prints the median (and min/max) seconds of ``make_phantom`` over a few seeds at
100x100x50 and 250x250x150 voxels, 0.75 mm, and writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

SIZES = {"smallest": ((100, 100, 50), 0.75), "largest": ((250, 250, 150), 0.75)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per size (default 5)")
    parser.add_argument("--out", type=Path, default=Path("results/bench_phantoms.json"))
    args = parser.parse_args()

    from napari_msdl.phantoms import make_phantom

    make_phantom(0, (48, 48, 32), 1.0)  # imports and first-call costs out of the timings
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "processor": platform.processor() or platform.machine()},
              "seeds": list(range(args.seeds)), "sizes": {}}
    for name, (shape, spacing) in SIZES.items():
        times = []
        for seed in range(args.seeds):
            start = time.perf_counter()
            make_phantom(seed, shape, spacing)
            times.append(time.perf_counter() - start)
        report["sizes"][name] = {"shape": list(shape), "spacing_mm": spacing,
                                 "median_s": statistics.median(times), "min_s": min(times),
                                 "max_s": max(times), "times_s": times}
        print(f"{name:8s} {shape[0]}x{shape[1]}x{shape[2]} at {spacing} mm: median "
              f"{statistics.median(times):.2f} s per case (min {min(times):.2f}, "
              f"max {max(times):.2f}, {args.seeds} seeds)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
