"""Where detection loses the valve: per case, the rank of the truth in each stage's kept
candidates, and Table I's errors.

    python benchmarks/rank_truth.py --data ph_test [--model M] [--near 5]
        [--search '{"top_position": 120}'] [--validation] [--out rank_truth.json]

A stage "keeps the truth" when one of its kept candidates has its center within
``--near`` mm of the true center. Each case also gets ``truth_box_empty``: the share of
the true box's 18^3 grid points where the image reads 0: outside the field of view, or
dark blood that log compression clips to 0 (a valve's center often lies in such a
pocket, which is why detection searches boxes by their share of data, not by their
center voxel; see :func:`napari_msdl.detector.hypotheses.position_voxels`). A
gross failure whose truth is missing from the position candidates is the position
stage's; one kept by the position stage but not by
the orientation or scale stage is theirs. ``--search`` overrides search parameters
(JSON), to try them without retraining. ``--validation`` keeps only the cases the
model's card lists as its validation cases (``--data`` is then its training dataset), so
search settings can be chosen without touching the test set. Prints the failures
(position error > 10 mm) and the summary; writes every case to JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from napari_msdl._io import write_text_atomic
from napari_msdl.bundle import load_bundle
from napari_msdl.dataset import Dataset
from napari_msdl.detector import STAGES, detect
from napari_msdl.evaluation.detection import FAILURE_MM
from napari_msdl.geometry import Pose, corner_error, position_error
from napari_msdl.sparse.grid import grid_offsets
from napari_msdl.volume import Volume
from napari_msdl.volume.sampling import sample


def truth_ranks(detection, center: np.ndarray, near: float) -> dict[str, int]:
    """Per stage, the rank of the first kept candidate within ``near`` mm of ``center``
    (-1: none)."""
    out = {}
    for name in STAGES:
        hit = np.linalg.norm(detection.stages[name].centers - center, axis=1) <= near
        out[name] = int(np.argmax(hit)) if hit.any() else -1
    return out


def empty_share(volume: Volume, pose: Pose) -> float:
    """Share of ``pose``'s 18^3 grid points where ``volume`` reads 0."""
    return float(np.mean(sample(volume, pose.to_world(grid_offsets())) <= 0))


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="annotated dataset folder")
    p.add_argument("--model", default=None, help="model bundle (default: the bundled one)")
    p.add_argument("--near", type=float, default=5.0, help="mm from the true center")
    p.add_argument("--search", default="{}", help="search parameters to override (JSON)")
    p.add_argument("--validation", action="store_true",
                   help="only the model card's validation cases of --data")
    p.add_argument("--out", default="rank_truth.json")
    args = p.parse_args()
    bundle = load_bundle(args.model)
    model = bundle.detector
    search = json.loads(args.search)
    cases = Dataset.open(args.data).annotated
    if args.validation:
        ids = set(bundle.card.detector.data.get("val_ids") or [])
        cases = [c for c in cases if c.id in ids]
        if not cases:
            p.error(f"none of the model card's validation cases is in {args.data}")
    rows = []
    for case in cases:
        volume = case.load_volume()
        det = detect(volume, model, device="cpu", **search)
        row = {"id": case.id, "position_error": position_error(det.pose, case.pose),
               "corner_error": corner_error(det.pose, case.pose),
               "truth_rank": truth_ranks(det, case.pose.center, args.near),
               "truth_box_empty": empty_share(volume, case.pose),
               "seconds": det.timings["total"]}
        rows.append(row)
        if row["position_error"] > FAILURE_MM:
            print(f"{case.id}: position {row['position_error']:.1f} mm, corner "
                  f"{row['corner_error']:.1f} mm; truth rank per stage {row['truth_rank']}; "
                  f"{100 * row['truth_box_empty']:.0f} % of the true box empty")
    pe = np.array([r["position_error"] for r in rows])
    ce = np.array([r["corner_error"] for r in rows])
    summary = {"cases": len(rows), "failures": int((pe > FAILURE_MM).sum()),
               "position_error": {"mean": float(pe.mean()), "median": float(np.median(pe))},
               "corner_error": {"mean": float(ce.mean()), "median": float(np.median(ce))},
               "truth_kept": {s: float(np.mean([r["truth_rank"][s] >= 0 for r in rows]))
                              for s in STAGES},
               "truth_box_empty_median": {
                   "failures": _median([r["truth_box_empty"] for r in rows
                                        if r["position_error"] > FAILURE_MM]),
                   "others": _median([r["truth_box_empty"] for r in rows
                                      if r["position_error"] <= FAILURE_MM])},
               "search": search, "validation_only": args.validation}
    print(json.dumps(summary, indent=1))
    write_text_atomic(Path(args.out), json.dumps({"summary": summary, "cases": rows},
                                                 indent=1) + "\n")


if __name__ == "__main__":
    main()
