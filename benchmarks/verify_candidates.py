"""Would verification by segmentation save lost valves? A measurement, not a method yet.

    python benchmarks/verify_candidates.py --data ph_train --validation [--model M]
        [--modes 3] [--out benchmarks/results/verify_candidates.json]

Per case: detect; split the scale stage's kept boxes into modes (a box more than
``FAILURE_MM`` from the best box of every mode so far starts a new one, best first);
segment the best box of each of the first ``--modes`` modes with the bundle's boundary
model and measure its boundary evidence
(:func:`napari_msdl.boundary.boundary_evidence`). Reports, per case, each mode's
position error, detector evidence and boundary evidence; and overall how many valves the
detector loses, how many have a correct mode among the ``--modes``, and how many the
choice "the mode with the highest boundary evidence" would lose (and newly lose).
``--validation`` keeps the model card's validation cases only (``--data`` is then its
training set), so that no test set is used for the choice.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from napari_msdl._io import write_text_atomic
from napari_msdl.boundary import boundary_evidence, segment
from napari_msdl.bundle import load_bundle
from napari_msdl.dataset import Dataset
from napari_msdl.detector import detect
from napari_msdl.evaluation.detection import FAILURE_MM
from napari_msdl.geometry import position_error


def modes(final, reach: float) -> list[int]:
    """Indices (into the scale stage's kept boxes, best first) of each mode's best box."""
    firsts: list[int] = []
    for i, c in enumerate(final.centers):
        if all(np.linalg.norm(c - final.centers[j]) > reach for j in firsts):
            firsts.append(i)
    return firsts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--model", default=None, help="bundle folder (default: the bundled one)")
    p.add_argument("--validation", action="store_true")
    p.add_argument("--modes", type=int, default=3)
    p.add_argument("--out", type=Path,
                   default=Path(__file__).parent / "results" / "verify_candidates.json")
    args = p.parse_args()
    model = load_bundle(args.model)
    if model.boundary is None:
        p.error("the model has no boundary model to verify with")
    ds = Dataset.open(args.data)
    cases = ds.annotated
    if args.validation:
        ids = set(model.card.detector.data.get("val_ids") or [])
        cases = [c for c in cases if c.id in ids]
    rows = []
    t0 = time.perf_counter()
    for n, case in enumerate(cases):
        volume = case.load_volume()
        det = detect(volume, model.detector, device="cpu")
        final = det.stages["scale"]
        poses = final.poses()
        found = []
        for i in modes(final, FAILURE_MM)[:args.modes]:
            seg = segment(volume, poses[i], model.boundary)
            found.append({"rank": i, "position_error": position_error(poses[i], case.pose),
                          "detector_evidence": float(final.evidence[i]),
                          "boundary_evidence": boundary_evidence(volume, seg.vertices,
                                                                 poses[i], model.boundary)})
        rows.append({"id": case.id, "position_error": position_error(det.pose, case.pose),
                     "modes": found})
        print(f"{n + 1}/{len(cases)} {case.id} {rows[-1]['position_error']:.1f} mm; modes "
              + ", ".join(f"{m['position_error']:.1f} mm ev {m['boundary_evidence']:.3f}"
                          for m in found), flush=True)
    lost = [r for r in rows if r["position_error"] > FAILURE_MM]
    reachable = [r for r in lost if any(m["position_error"] <= FAILURE_MM for m in r["modes"])]

    def chosen(r):
        return max(r["modes"], key=lambda m: m["boundary_evidence"])["position_error"]
    by_evidence = [r["id"] for r in rows if chosen(r) > FAILURE_MM]
    newly = [i for i in by_evidence if i not in {r["id"] for r in lost}]
    summary = {"cases": len(rows), "lost_by_detector": [r["id"] for r in lost],
               "lost_with_a_correct_mode_among_the_first": [r["id"] for r in reachable],
               "lost_choosing_the_highest_boundary_evidence": by_evidence,
               "newly_lost_by_that_choice": newly, "modes": args.modes,
               "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(summary, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps({"summary": summary, "cases": rows}, indent=1))


if __name__ == "__main__":
    main()
