"""How many hypotheses does detection need? Accuracy and time of search variants.

    python benchmarks/search_budget.py --data ph_train --validation [--cases 80]
        [--variant NAME '{"position_stride": 4}' ...] [--model M]
        [--out benchmarks/results/search_budget.json]

Every variant (a name and :class:`~napari_msdl.detector.SearchParams` overrides, and
``precision`` if wanted; the model's own search is always measured first as
``default``) detects every case, the detector alone (no verification), one volume read
per case for all variants, in one process, so their times compare as ratios. Prints
per variant the hypotheses, the lost valves (> 10 mm), the mean and median position and
corner errors, and the median and mean detection seconds; writes them and the per-case
rows as JSON.
``--validation`` keeps the model card's validation cases (``--data`` is then its
training set), so that no test set is used for a choice.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from napari_msdl._io import write_text_atomic
from napari_msdl.bundle import load_bundle
from napari_msdl.dataset import Dataset
from napari_msdl.detector import detect
from napari_msdl.evaluation.detection import FAILURE_MM
from napari_msdl.geometry import corner_error, position_error


def summarise(rows: list[dict]) -> dict:
    """Lost count, mean and median errors, seconds and hypotheses of one variant."""
    pos = [r["position_error"] for r in rows]
    cor = [r["corner_error"] for r in rows]
    sec = [r["seconds"] for r in rows]
    return {"lost": [r["id"] for r in rows if r["position_error"] > FAILURE_MM],
            "position_mean": statistics.fmean(pos), "position_median": statistics.median(pos),
            "corner_mean": statistics.fmean(cor), "corner_median": statistics.median(cor),
            "seconds_median": statistics.median(sec), "seconds_mean": statistics.fmean(sec),
            "hypotheses_mean": statistics.fmean(r["hypotheses"] for r in rows)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="dataset folder")
    p.add_argument("--model", default=None, help="bundle folder (default: the bundled one)")
    p.add_argument("--validation", action="store_true",
                   help="the model card's validation cases only")
    p.add_argument("--cases", type=int, default=None, help="the first N cases only")
    p.add_argument("--variant", nargs=2, action="append", default=[],
                   metavar=("NAME", "JSON"), help="a search variant: name and overrides")
    p.add_argument("--out", type=Path,
                   default=Path(__file__).parent / "results" / "search_budget.json")
    args = p.parse_args()
    variants = {"default": {}, **{name: json.loads(js) for name, js in args.variant}}
    bundle = load_bundle(args.model)
    model = bundle.detector
    for overrides in variants.values():  # checked before any work
        model.search.replace(**{k: v for k, v in overrides.items() if k != "precision"})
    cases = Dataset.open(args.data).annotated
    if args.validation:
        ids = set(bundle.card.detector.data.get("val_ids") or [])
        cases = [c for c in cases if c.id in ids]
    cases = cases[:args.cases]
    rows: dict[str, list[dict]] = {name: [] for name in variants}
    t0 = time.perf_counter()
    for n, case in enumerate(cases):
        volume = case.load_volume()
        line = []
        for name, overrides in variants.items():
            det = detect(volume, model, device="cpu", **overrides)
            row = {"id": case.id, "position_error": position_error(det.pose, case.pose),
                   "corner_error": corner_error(det.pose, case.pose),
                   "seconds": det.timings["total"],
                   "hypotheses": sum(s.hypotheses for s in det.stages.values())}
            rows[name].append(row)
            line.append(f"{name} {row['position_error']:.1f} mm {row['seconds']:.2f} s")
        print(f"{n + 1}/{len(cases)} {case.id}: " + ", ".join(line), flush=True)
    summary = {name: {"search": overrides, **summarise(rows[name])}
               for name, overrides in variants.items()}
    print(f"{'variant':<14}{'hyps':>9}{'lost':>6}{'pos mean':>10}{'pos med':>9}"
          f"{'cor mean':>10}{'cor med':>9}{'s med':>8}{'s mean':>8}{'ratio':>7}")
    ref = summary["default"]["seconds_mean"]
    for name, s in summary.items():
        print(f"{name:<14}{s['hypotheses_mean']:>9.0f}{len(s['lost']):>6}"
              f"{s['position_mean']:>10.2f}{s['position_median']:>9.2f}"
              f"{s['corner_mean']:>10.2f}{s['corner_median']:>9.2f}"
              f"{s['seconds_median']:>8.3f}{s['seconds_mean']:>8.3f}"
              f"{s['seconds_mean'] / ref:>7.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps(
        {"data": str(args.data), "validation": args.validation, "cases": len(cases),
         "seconds": round(time.perf_counter() - t0, 1), "summary": summary, "rows": rows},
        indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
