"""Which answer should verification by segmentation keep? The measurement behind the rule
of :func:`napari_msdl.pipeline.find_valve`.

    python benchmarks/verify_candidates.py --data ph_train --validation [--model M]
        [--modes 6] [--out benchmarks/results/verify_candidates.json]

Per case: detect, then the best boxes at up to ``--modes`` other places
(:func:`napari_msdl.detector.other_modes`); segment every one with the bundle's boundary
model and measure its boundary evidence (:func:`napari_msdl.boundary.boundary_evidence`).
Writes, per case and answer, the position error, the detector's evidence (the best scale
box's sum of logits, and the place's best position logit) and the boundary evidence; and
prints how many valves the detector loses, how many have a correct answer among the
places, and how many each of a few choice rules would lose (and newly lose), the rule of
``find_valve`` among them.
``--validation`` keeps the model card's validation cases only (``--data`` is then its
training set), so that no test set is used for the choice.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from napari_msdl._io import write_text_atomic
from napari_msdl.boundary import boundary_evidence, segment
from napari_msdl.bundle import load_bundle
from napari_msdl.dataset import Dataset
from napari_msdl.detector import detect, other_modes
from napari_msdl.evaluation.detection import FAILURE_MM
from napari_msdl.geometry import position_error
from napari_msdl.pipeline import VERIFY_BELOW, places_to_weigh, verification_score


def answer(volume, det, truth, boundary) -> dict:
    """One answer's errors and evidences."""
    seg = segment(volume, det.pose, boundary)
    return {"position_error": position_error(det.pose, truth),
            "detector_evidence": det.evidence,
            "position_evidence": float(det.stages["position"].evidence[0]),
            "boundary_evidence": boundary_evidence(volume, seg.vertices, det.pose, boundary),
            "seconds": det.timings["total"] + seg.seconds}


def pipeline_rule(answers: list[dict]) -> dict:
    """The answer :func:`napari_msdl.pipeline.verify_detection` keeps: the first if its
    boundary evidence is at least ``VERIFY_BELOW``, else the best verification score among
    it and the others :func:`~napari_msdl.pipeline.places_to_weigh` picks."""
    first, others = answers[0], answers[1:]
    if first["boundary_evidence"] >= VERIFY_BELOW:
        return first
    others = [others[i] for i in places_to_weigh([m["detector_evidence"] for m in others])]
    return max([first, *others], key=lambda m: verification_score(
        m["boundary_evidence"], m["detector_evidence"]))


def lost_by(rows: list[dict], choose) -> list[str]:
    """Ids of the cases where the answer ``choose(answers)`` picks is a failure."""
    return [r["id"] for r in rows if choose(r["answers"])["position_error"] > FAILURE_MM]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--model", default=None, help="bundle folder (default: the bundled one)")
    p.add_argument("--validation", action="store_true")
    p.add_argument("--modes", type=int, default=6)
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
        found = [answer(volume, d, case.pose, model.boundary)
                 for d in [det, *other_modes(det, args.modes)]]
        rows.append({"id": case.id, "answers": found})
        print(f"{n + 1}/{len(cases)} {case.id} "
              + ", ".join(f"{m['position_error']:.1f} mm ev {m['boundary_evidence']:.2f}"
                          f"/{m['detector_evidence']:.0f}" for m in found), flush=True)
    lost = lost_by(rows, lambda a: a[0])
    rules = {"detector": lost,
             "highest boundary evidence": lost_by(
                 rows, lambda a: max(a, key=lambda m: m["boundary_evidence"])),
             "find_valve": lost_by(rows, pipeline_rule)}
    summary = {"cases": len(rows), "modes": args.modes,
               "lost_with_a_correct_answer": [
                   r["id"] for r in rows if r["id"] in lost
                   and any(m["position_error"] <= FAILURE_MM for m in r["answers"])],
               "lost_by_rule": rules,
               "newly_lost_by_rule": {k: [i for i in v if i not in lost]
                                      for k, v in rules.items()},
               "mean_position_error_find_valve": sum(
                   pipeline_rule(r["answers"])["position_error"] for r in rows) / len(rows),
               "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(summary, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps({"summary": summary, "cases": rows}, indent=1))


if __name__ == "__main__":
    main()
