"""Evaluation: the seed's Table I (position and corner error) on an annotated dataset.

``evaluate_model`` detects every annotated case, and writes ``REPORT_DIR/report.json``::

    {"position_error": {"mean": .., "median": .., "std": ..}, "corner_error": {...},
     "seconds": {...}, "cases": [{"id": .., "position_error": .., "corner_error": ..,
     "seconds": ..}, ...], "model": .., "data": ..,
     "baseline": {... the same for the dense baseline, when asked ...}}

and ``report.md`` with the table, which it also returns as text for printing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from napari_msdl._io import write_text_atomic
from napari_msdl._progress import ProgressCallback, no_progress
from napari_msdl.detector.model import DetectorModel
from napari_msdl.geometry import corner_error, position_error
from napari_msdl.training.datasets import Case, Dataset


def summary(values: list[float]) -> dict[str, float]:
    """Mean, median and standard deviation, as Table I gives them."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return {"mean": float("nan"), "median": float("nan"), "std": float("nan")}
    return {"mean": float(v.mean()), "median": float(np.median(v)), "std": float(v.std())}


def evaluate_cases(model: DetectorModel, cases: list[Case], device: str | None = None,
                   progress: ProgressCallback | None = None,
                   label: str = "evaluate") -> dict[str, Any]:
    """Detect each annotated case; per-case errors and seconds, and their summaries."""
    from napari_msdl.detector.detect import detect

    progress = progress or no_progress
    cases = [c for c in cases if c.pose is not None]
    if not cases:
        raise ValueError("evaluation needs annotated cases (with a pose), got none")
    rows = []
    progress(label, 0, len(cases))
    for n, case in enumerate(cases):
        det = detect(case.load_volume(), model, device=device)
        rows.append({"id": case.id,
                     "position_error": position_error(det.pose, case.pose),
                     "corner_error": corner_error(det.pose, case.pose),
                     "seconds": det.timings["total"], "score": det.score})
        progress(label, n + 1, len(cases))
    return {"position_error": summary([r["position_error"] for r in rows]),
            "corner_error": summary([r["corner_error"] for r in rows]),
            "seconds": summary([r["seconds"] for r in rows]), "cases": rows}


def table(report: dict[str, Any], names: tuple[str, str] = ("MSDL", "Dense")) -> str:
    """Table I as Markdown: position and corner error (mm) and seconds per case."""
    runs = [report] + ([report["baseline"]] if "baseline" in report else [])
    cols = names[:len(runs)]
    head = ["", *[f"Position [mm] {c}" for c in cols], *[f"Corner [mm] {c}" for c in cols],
            *[f"Seconds {c}" for c in cols]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for stat in ("mean", "median", "std"):
        cells = [stat.capitalize() if stat != "std" else "STD"]
        for key, fmt in (("position_error", "{:.2f}"), ("corner_error", "{:.2f}"),
                         ("seconds", "{:.3f}")):
            cells += [fmt.format(r[key][stat]) for r in runs]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def evaluate_model(model: str | Path | None, data: str | Path, out: str | Path,
                   baseline_model: str | Path | None = None, device: str | None = None,
                   progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Evaluate a model (and optionally the dense baseline) on ``data``; write the report."""
    from napari_msdl.training.bundle import bundled_model_path, load_model

    ds = Dataset.open(data)
    cases = ds.annotated
    if not cases:
        raise ValueError(f"{ds.root}: no annotated case to evaluate")
    detector = load_model(model)
    report = evaluate_cases(detector, cases, device, progress, "evaluate")
    report["model"] = str(model if model is not None else bundled_model_path())
    report["data"] = str(Path(ds.root).resolve())
    if baseline_model is not None:
        dense = load_model(baseline_model)
        if not dense.dense:
            raise ValueError(f"{baseline_model}: the baseline must be a dense model "
                             "(train it with --dense)")
        base = evaluate_cases(dense, cases, device, progress, "evaluate baseline")
        base["model"] = str(baseline_model)
        base["kind"] = "dense"
        report["baseline"] = base
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    text = table(report)
    write_text_atomic(out / "report.json", json.dumps(report, indent=1) + "\n")
    md = (f"# Table I on {ds.name} ({len(cases)} cases)\n\nModel: `{report['model']}`"
          + (f"; dense baseline: `{baseline_model}`" if baseline_model else "")
          + "\n\nPosition error, mean corner error (mm) and detection seconds per case.\n\n"
          + text + "\n")
    write_text_atomic(out / "report.md", md)
    report["table"] = text
    return report
