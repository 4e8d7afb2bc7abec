"""Segmentation on phantoms: Table II (mesh error of the initialisation and after the
deformation) and Table III (learned boundary vs non-learned refinements), and the time.

    python benchmarks/bench_boundary.py [--train 80] [--test 50] [--train-seed 1]
        [--test-seed 2] [--seed 1] [--model-out DIR | --model DIR] [--detector [DIR]]
        [--train-eval N] [--error-scale S] [--out results/bench_boundary.json]

Trains a boundary model (shape space + SADNN boundary classifier) on ``--train`` phantoms
drawn from ``--train-seed`` (case i is ``make_phantom(case_seed(S, i))``, the cases
``napari-msdl phantoms --seed S`` writes), or loads one with ``--model``; then segments
``--test`` unseen phantoms (``--test-seed``) starting from the mean shape in a box with a
realistic detection error (the true box perturbed, :func:`perturb_pose`, seeded by the
test seed) and, with ``--detector``, from the box the detector finds (the bundled model,
or the bundle at DIR); with ``--train-eval N`` also the first N training phantoms (boxes
perturbed with the training seed); ``--error-scale S`` scales the box error (0: the true
box). Prints mean / median / std of the mesh errors and the deformation time per case
(after one warm-up call), and writes everything as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

ROWS = (("init", "mesh_error_init"), ("final (learned)", "mesh_error_final"),
        ("intensity", "mesh_error_intensity"), ("gradient", "mesh_error_gradient"))


def _phantoms(seed: int, n: int, label: str):
    from napari_msdl.phantoms import make_phantom
    from napari_msdl.phantoms.dataset import case_seed

    for i in range(n):
        case = make_phantom(case_seed(seed, i))
        if (i + 1) % 10 == 0 or i + 1 == n:
            print(f"  {label}: {i + 1}/{n} phantoms", flush=True)
        yield case.volume, case.pose, case.mesh


def _print_table(title: str, report: dict) -> None:
    print(f"\n{title} ({report['n_cases']} cases; box position error "
          f"{report['position_error']['mean']:.2f} mm, corner error "
          f"{report['corner_error']['mean']:.2f} mm)")
    present = [(name, key) for name, key in ROWS if key in report]
    print(f"{'':8s}" + "".join(f"{name:>18s}" for name, _ in present))
    for stat in ("mean", "median", "std"):
        print(f"{stat:8s}" + "".join(f"{report[key][stat]:18.3f}" for _, key in present))
    worse = [c["id"] for c in report["cases"] if c["mesh_error_final"] >= c["mesh_error_init"]]
    t = report["deform_seconds"]
    print(f"improved by the deformation: {report['improved']}/{report['n_cases']} cases"
          + (f" (not: {', '.join(worse)})" if worse else ""))
    print(f"deformation time per case: mean {t['mean']:.3f} s, median {t['median']:.3f} s, "
          f"max {max(c['deform_seconds'] for c in report['cases']):.3f} s")


def _evaluate_set(model, seed: int, n: int, label: str, detector, scale: float) -> dict:
    """Segment ``n`` phantoms of ``seed`` from perturbed (and detected) boxes; print and
    return the reports."""
    import numpy as np

    from napari_msdl.boundary import segment
    from napari_msdl.evaluation import evaluate_segmentation, perturb_pose

    print(f"{label}: {n} phantoms (seed {seed})", flush=True)
    cases = list(_phantoms(seed, n, label))
    ids = [f"seed{seed}-{i:05d}" for i in range(len(cases))]
    rng = np.random.default_rng(seed)
    segment(cases[0][0], cases[0][1], model, iterations=1)  # first-call costs out of timings
    poses = [perturb_pose(pose, rng, 1.0 * scale, 4.0 * scale, 0.07 * scale)
             for _, pose, _ in cases]
    out = {"perturbed_box": evaluate_segmentation(cases, model, poses, ids=ids)}
    start = "true box" if scale == 0 else f"true box + {scale:g} x detection-like error"
    _print_table(f"Table II/III, {label} data, start: {start}", out["perturbed_box"])
    if detector is not None:
        out["detected_box"] = evaluate_segmentation(cases, model, detector_model=detector,
                                                    ids=ids)
        _print_table(f"Table II/III, {label} data, start: detected box", out["detected_box"])
    return out


def _detector(arg: str | None):
    from napari_msdl.bundle import load_bundle

    return load_bundle(None if arg == "bundled" else arg).detector


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=80, help="training phantoms (80)")
    parser.add_argument("--test", type=int, default=50, help="test phantoms (50)")
    parser.add_argument("--train-eval", type=int, default=0, metavar="N",
                        help="also evaluate on the first N training phantoms (Table II's "
                             "training column)")
    parser.add_argument("--error-scale", type=float, default=1.0, metavar="S",
                        help="box error S times perturb_pose's default (0: the true box)")
    parser.add_argument("--train-seed", type=int, default=1)
    parser.add_argument("--test-seed", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1, help="training seed (1)")
    parser.add_argument("--model", type=Path,
                        help="use the boundary model of this bundle, don't train")
    parser.add_argument("--model-out", type=Path,
                        help="save the trained boundary model here, as a bundle with the "
                             "bundled detector")
    parser.add_argument("--detector", nargs="?", const="bundled",
                        help="also start from the detected box (bundled model or DIR)")
    parser.add_argument("--out", type=Path, default=Path("results/bench_boundary.json"))
    args = parser.parse_args()
    if args.test < 1 or args.train_eval < 0 or args.error_scale < 0 or (
            args.model is None and args.train < 6):
        parser.error("--test must be >= 1, --train-eval and --error-scale >= 0, --train >= 6")

    from napari_msdl.bundle import ModelCard, ValveModel, load_bundle, save_bundle
    from napari_msdl.training import train_boundary

    report: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                "load_average_start": os.getloadavg()},
                    "args": {k: (str(v) if isinstance(v, Path) else v)
                             for k, v in vars(args).items()}}
    if args.model:
        bundle = load_bundle(args.model)
        if bundle.boundary is None:
            parser.error(f"{args.model} has no boundary model")
        model, figures = bundle.boundary, bundle.card.boundary.figures
        print(f"loaded the boundary model of {args.model}")
    else:
        print(f"training on {args.train} phantoms (seed {args.train_seed})", flush=True)
        t0 = time.perf_counter()
        model, record = train_boundary(_phantoms(args.train_seed, args.train, "train"),
                                       seed=args.seed, command="benchmarks/bench_boundary.py")
        figures = record.figures
        report["train_seconds_total"] = time.perf_counter() - t0
        if args.model_out:
            detector = load_bundle().detector  # a bundle needs one; the boundary is ours
            save_bundle(ValveModel(detector, model, ModelCard(boundary=record)),
                        args.model_out)
            print(f"saved a bundle with this boundary model (and the bundled detector) to "
                  f"{args.model_out}")
    card = figures
    report["model"] = {"shape_space": model.shape_space.meta(),
                       "classifier": {k: v for k, v in card.get("classifier", {}).items()
                                      if k != "history"},
                       "seconds": card.get("seconds"), "patch": model.patch.to_dict(),
                       "deform": model.deform.to_dict()}
    if "classifier" in card:
        c = card["classifier"]
        print(f"shape space: {model.shape_space.n_modes} modes "
              f"({model.shape_space.explained:.3f} of the variance), training residual "
              f"{model.shape_space.train_residual_mm:.3f} mm")
        print(f"boundary classifier: val AUC {c['val']['auc']:.3f}, accuracy "
              f"{c['val']['accuracy']:.3f}; {c['active_per_filter']:.0f} of "
              f"{model.patch.n_inputs} inputs per filter; trained in "
              f"{c['training_seconds']:.0f} s")

    detector = _detector(args.detector) if args.detector else None
    report.update(_evaluate_set(model, args.test_seed, args.test, "test", detector,
                                args.error_scale))
    if args.train_eval:
        report["training_set"] = _evaluate_set(model, args.train_seed, args.train_eval,
                                               "training", None, args.error_scale)[
                                                   "perturbed_box"]
    report["machine"]["load_average_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
