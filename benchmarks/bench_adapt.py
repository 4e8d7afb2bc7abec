"""Adaptation to an unseen domain: the bundled model unadapted, fine-tuned on a few cases,
and trained from scratch on the same cases, on one held-out test set; one JSON.

    python benchmarks/bench_adapt.py [--work /tmp/adapt] [--train 10] [--test 50]
        [--domain shifted] [--out benchmarks/results/bench_adapt.json]

The domain (``napari_msdl.phantoms.domains``, ranges in docs/phantoms.md) is made by the
project's generator with ranges the bundled model never saw in training. The few
adaptation cases (seeds 50000...) and the test cases (seeds 60000...) are written once
into ``--work`` (reused when there), and so are the models. Fine-tuning runs
``fine_tune_bundle`` with its defaults (the parent's configuration, augmented copies up to
about 80 cases, the map of every network kept); from scratch runs ``train_bundle`` with
the default configuration and the same augmented copies. Every model is then evaluated
with ``evaluate_bundle`` (Tables I-III) on the test cases.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch

from napari_msdl._io import dumps_json, write_text_atomic
from napari_msdl.bundle import bundled_model_path, load_bundle
from napari_msdl.dataset import Dataset
from napari_msdl.evaluation import evaluate_bundle
from napari_msdl.evaluation.detection import FAILURE_MM
from napari_msdl.phantoms import write_phantom_dataset
from napari_msdl.training import TrainConfig, fine_tune_bundle, fine_tune_config, train_bundle


def dataset(folder: Path, n: int, seed: int, domain: str) -> Dataset:
    """The phantom dataset in ``folder`` (written, or completed, when not there)."""
    t = time.perf_counter()
    ds = write_phantom_dataset(folder, n, seed=seed, resume=folder.exists(), domain=domain,
                               name=f"{domain} seeds {seed}+")
    print(f"{folder}: {len(ds.annotated)} cases ({time.perf_counter() - t:.0f} s)")
    return ds


def row(name: str, model, test: Dataset, out: Path, seconds: float | None) -> dict:
    """Tables I-III of ``model`` on the test cases, summarised in one row."""
    report = evaluate_bundle(model, test, out)
    errors = [c["position_error"] for c in report["cases"]]
    r = {"model": name, "path": str(report["model"]), "train_seconds": seconds,
         "position_error": report["position_error"], "corner_error": report["corner_error"],
         "lost": report["failures"]["count"], "cases": len(errors),
         "detect_seconds": report["seconds"]}
    if "mesh_error_final" in report:
        r["mesh_error_init"] = report["mesh_error_init"]
        r["mesh_error_final"] = report["mesh_error_final"]
    print(f"{name:<34} position {r['position_error']['mean']:6.2f} mm mean "
          f"({r['position_error']['median']:.2f} median), corner "
          f"{r['corner_error']['mean']:6.2f} mm, lost {r['lost']}/{r['cases']}"
          + ("" if seconds is None else f", trained in {seconds / 60:.1f} min")
          + ("" if "mesh_error_final" not in r
             else f", mesh {r['mesh_error_final']['mean']:.2f} mm"))
    return r


def trained(folder: Path, train) -> tuple[object, float | None]:
    """The model in ``folder``, trained by ``train()`` when not there (its seconds)."""
    if (folder / "bundle.json").exists():
        print(f"{folder}: reused (its training time is not measured again)")
        return load_bundle(folder), None
    t = time.perf_counter()
    model = train()
    return model, time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", default="/tmp/msdl-adapt", help="folder for datasets and models")
    p.add_argument("--train", type=int, default=10, help="annotated cases to adapt on")
    p.add_argument("--test", type=int, default=50, help="held-out test cases")
    p.add_argument("--domain", default="shifted", help="phantom domain")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--skip-scratch", action="store_true", help="no from-scratch row")
    p.add_argument("--out", default="benchmarks/results/bench_adapt.json",
                   help="JSON file to write")
    args = p.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    few = dataset(work / f"{args.domain}-{args.train}", args.train, 50_000, args.domain)
    test = dataset(work / f"{args.domain}-test-{args.test}", args.test, 60_000, args.domain)
    parent = load_bundle(None)
    rows = [row("bundled, unadapted", parent, test, work / "report-bundled", None)]
    tuned, seconds = trained(work / "fine-tuned", lambda: fine_tune_bundle(
        parent, few, work / "fine-tuned", seed=args.seed, command="bench_adapt.py"))
    rows.append(row(f"fine-tuned on {args.train}", tuned, test, work / "report-fine-tuned",
                    seconds))
    if not args.skip_scratch:
        copies = fine_tune_config(parent, few, args.seed).augment
        config = replace(TrainConfig(), augment=copies)
        scratch, seconds = trained(work / "scratch", lambda: train_bundle(
            few, work / "scratch", config, seed=args.seed, command="bench_adapt.py"))
        rows.append(row(f"from scratch on {args.train}", scratch, test,
                        work / "report-scratch", seconds))
    result = {"domain": args.domain, "train_cases": args.train, "test_cases": args.test,
              "parent": str(bundled_model_path()), "lost_mm": FAILURE_MM, "rows": rows,
              "fine_tune_history": tuned.card.history[-1].to_dict(),
              "machine": {"cpu_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                          "load_average": os.getloadavg(), "platform": platform.platform()}}
    write_text_atomic(Path(args.out), dumps_json(result))
    print(f"wrote {args.out}")
    print(json.dumps(result["machine"]))


if __name__ == "__main__":
    main()
