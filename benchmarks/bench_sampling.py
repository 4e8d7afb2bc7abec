"""Throughput of ``napari_msdl.volume.sample`` against ``scipy.ndimage.map_coordinates``.

    python benchmarks/bench_sampling.py [--out FILE.json] [--repeats 7] [--cold-jit]

For a 250x250x150 volume (uint8 and float32) and 2 million random points (about 5% of
them outside the volume), it times ``sample`` and ``map_coordinates(order=1,
mode="grid-constant")``, the same zero-padded trilinear interpolation, and reports the
median of ``--repeats`` runs, the speed ratio, the largest difference between the two, the
first-call time (numba compiles the kernel, or loads it from its on-disk cache; with
``--cold-jit`` the cache is bypassed so the figure is the compile time) and throughput on
1 million points. The baseline is given index coordinates ready-made, so the conversion
from mm that ``sample`` does is not counted against scipy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHAPE = (250, 250, 150)
SPACING = (0.75, 0.75, 1.0)
ORIGIN = (-90.0, -90.0, 10.0)


def _median_seconds(func, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _case(dtype: str, n_points: int, repeats: int, rng: np.random.Generator) -> dict:
    from scipy import ndimage

    from napari_msdl.volume import Volume, sample

    if dtype == "uint8":
        data = rng.integers(0, 256, SHAPE, dtype=np.uint8)
    else:
        data = rng.random(SHAPE, dtype=np.float32)
    vol = Volume(data, spacing=SPACING, origin=ORIGIN)
    margin = 0.05 * vol.extent
    points = rng.uniform(vol.origin - margin, vol.origin + vol.extent + margin, (n_points, 3))
    index = vol.world_to_index(points).T.copy()

    start = time.perf_counter()
    sample(vol, points[:16])
    first_call = time.perf_counter() - start
    ours = sample(vol, points)
    theirs = ndimage.map_coordinates(data, index, order=1, mode="grid-constant", cval=0.0,
                                     output=np.float32)
    t_ours = _median_seconds(lambda: sample(vol, points), repeats)
    t_scipy = _median_seconds(
        lambda: ndimage.map_coordinates(data, index, order=1, mode="grid-constant", cval=0.0,
                                        output=np.float32), repeats)
    million = points[:1_000_000]
    t_million = _median_seconds(lambda: sample(vol, million), repeats)
    return {
        "dtype": dtype, "shape": list(SHAPE), "points": n_points,
        "first_call_s": first_call,
        "sample_s": t_ours, "sample_points_per_s": n_points / t_ours,
        "map_coordinates_s": t_scipy, "map_coordinates_points_per_s": n_points / t_scipy,
        "speedup": t_scipy / t_ours,
        "max_abs_difference": float(np.abs(ours - theirs).max()),
        "sample_1m_points_per_s": len(million) / t_million,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--points", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=7, help="runs per timing (median)")
    parser.add_argument("--cold-jit", action="store_true",
                        help="compile the kernel afresh instead of loading numba's cache")
    args = parser.parse_args(argv)
    if args.cold_jit:  # must happen before numba is imported
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-numba-")
    import numba

    rng = np.random.default_rng(0)
    report = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "machine": {"cpus": os.cpu_count(), "numba_threads": numba.get_num_threads(),
                    "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "numba": numba.__version__},
        "repeats": args.repeats, "jit_cache": "bypassed" if args.cold_jit else "numba default",
        "cases": [_case(dtype, args.points, args.repeats, rng) for dtype in ("uint8", "float32")],
    }
    for case in report["cases"]:
        print(f"{case['dtype']:>7}  {case['points']:,} points in {tuple(SHAPE)}: "
              f"sample {case['sample_s']:.3f} s ({case['sample_points_per_s'] / 1e6:.1f} M/s), "
              f"map_coordinates {case['map_coordinates_s']:.3f} s "
              f"({case['map_coordinates_points_per_s'] / 1e6:.1f} M/s), "
              f"speed-up {case['speedup']:.2f}x, first call {case['first_call_s']:.2f} s, "
              f"1M points {case['sample_1m_points_per_s'] / 1e6:.1f} M/s, "
              f"max |diff| {case['max_abs_difference']:.1e}")
    if args.out:
        from napari_msdl._io import write_text_atomic

        write_text_atomic(args.out, json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
