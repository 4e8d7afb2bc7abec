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


def detect_case(model: DetectorModel, case: Case, volume, device: str | None = None
                ) -> dict[str, Any]:
    """One row of Table I: detect in ``volume`` (the case's image, already read) and
    measure the box against the case's pose."""
    from napari_msdl.detector.detect import detect

    det = detect(volume, model, device=device)
    return {"id": case.id, "position_error": position_error(det.pose, case.pose),
            "corner_error": corner_error(det.pose, case.pose),
            "seconds": det.timings["total"], "score": det.score, "pose": det.pose.to_dict()}


def summarize_cases(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Table I's summaries of per-case rows, with the rows."""
    return {"position_error": summary([r["position_error"] for r in rows]),
            "corner_error": summary([r["corner_error"] for r in rows]),
            "seconds": summary([r["seconds"] for r in rows]), "cases": rows}


def _annotated(cases: list[Case]) -> list[Case]:
    cases = [c for c in cases if c.pose is not None]
    if not cases:
        raise ValueError("evaluation needs annotated cases (with a pose), got none")
    return cases


def evaluate_cases(model: DetectorModel, cases: list[Case], device: str | None = None,
                   progress: ProgressCallback | None = None,
                   label: str = "evaluate") -> dict[str, Any]:
    """Detect each annotated case; per-case errors and seconds, and their summaries."""
    progress = progress or no_progress
    cases = _annotated(cases)
    rows = []
    progress(label, 0, len(cases))
    for n, case in enumerate(cases):
        rows.append(detect_case(model, case, case.load_volume(), device))
        progress(label, n + 1, len(cases))
    return summarize_cases(rows)


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
    from napari_msdl.boundary import BoundaryModel
    from napari_msdl.training.bundle import bundled_model_path, load_model

    ds = Dataset.open(data)
    cases = ds.annotated
    if not cases:
        raise ValueError(f"{ds.root}: no annotated case to evaluate")
    detector = load_model(model)
    dense = None
    if baseline_model is not None:
        dense = load_model(baseline_model)
        if not dense.dense:
            raise ValueError(f"{baseline_model}: the baseline must be a dense model "
                             "(train it with --dense)")
    folder = Path(model) if model is not None else bundled_model_path()
    boundary = BoundaryModel.load(folder) if BoundaryModel.present(folder) else None
    progress = progress or no_progress
    rows: dict[str, list] = {"ours": [], "dense": [], "seg": [], "dense_seg": []}
    progress("evaluate", 0, len(cases))
    for n, case in enumerate(cases):  # each image is read once for every measurement
        volume = case.load_volume()
        rows["ours"].append(detect_case(detector, case, volume, device))
        if dense is not None:
            rows["dense"].append(detect_case(dense, case, volume, device))
        if boundary is not None and case.mesh is not None:
            mesh = case.load_mesh()
            rows["seg"].append(_segment_case(boundary, case, volume, mesh, rows["ours"][-1],
                                             ("gradient", "intensity")))
            if dense is not None:
                rows["dense_seg"].append(_segment_case(boundary, case, volume, mesh,
                                                       rows["dense"][-1], ()))
        progress("evaluate", n + 1, len(cases))
    report = summarize_cases(rows["ours"])
    report["model"] = str(model if model is not None else bundled_model_path())
    report["data"] = str(Path(ds.root).resolve())
    if dense is not None:
        report["baseline"] = {**summarize_cases(rows["dense"]), "model": str(baseline_model),
                              "kind": "dense"}
    if rows["seg"]:
        _add_segmentation(report, rows["seg"], rows["dense_seg"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    text = table(report)
    write_text_atomic(out / "report.json", json.dumps(report, indent=1) + "\n")
    md = (f"# Table I on {ds.name} ({len(cases)} cases)\n\nModel: `{report['model']}`"
          + (f"; dense baseline: `{baseline_model}`" if baseline_model else "")
          + "\n\nPosition error, mean corner error (mm) and detection seconds per case.\n\n"
          + text + "\n")
    if "mesh_error_final" in report:
        md += "\n" + segmentation_tables(report) + "\n"
    write_text_atomic(out / "report.md", md)
    report["table"] = text
    return report


TABLE3_DENSE = "dense-baseline detection + mean shape + learned boundary deformation"


def _segment_case(boundary, case: Case, volume, mesh, detected: dict[str, Any],
                  baselines: tuple[str, ...]) -> dict[str, Any]:
    """The segmentation row of one case from its detected box (a Table I row)."""
    from napari_msdl.boundary.evaluate import segmentation_row
    from napari_msdl.geometry import Pose

    return segmentation_row(volume, Pose.from_dict(detected["pose"]), case.pose, mesh,
                            boundary, case.id, "given", baselines)


def _add_segmentation(report: dict[str, Any], rows: list[dict[str, Any]],
                      dense_rows: list[dict[str, Any]]) -> None:
    """Tables II and III from the segmentation rows of the detected boxes:
    ``mesh_error_init``, ``mesh_error_final``, ``table3`` (with the row of the dense
    baseline's boxes segmented by our boundary model, when there are ``dense_rows``)."""
    from napari_msdl.boundary.evaluate import summarize

    seg = summarize(rows)
    for key in ("mesh_error_init", "mesh_error_final", "mesh_error_gradient",
                "mesh_error_intensity", "table3", "improved", "deform_seconds",
                "mesh_box_position_error", "mesh_box_corner_error"):
        if key in seg:
            report[key] = seg[key]
    report["segmentation_cases"] = rows
    if dense_rows:
        dense = summarize(dense_rows)
        report["baseline"]["mesh_error_init"] = dense["mesh_error_init"]
        report["baseline"]["mesh_error_final"] = dense["mesh_error_final"]
        report["table3"][TABLE3_DENSE] = dense["mesh_error_final"]


def segmentation_tables(report: dict[str, Any]) -> str:
    """Table II (mesh error of the initialisation and after deformation) and Table III (the
    final error of each refinement from the same detected boxes), as Markdown."""
    lines = ["## Table II: mesh error [mm] (from the detected boxes)", "",
             "|  | Initialization | Final |", "|---|---|---|"]
    for stat in ("mean", "median", "std"):
        lines.append(f"| {stat.capitalize() if stat != 'std' else 'STD'} | "
                     f"{report['mesh_error_init'][stat]:.2f} | "
                     f"{report['mesh_error_final'][stat]:.2f} |")
    lines += ["", "## Table III: segmentation error [mm]", "", "|  | Mean | Median | STD |",
              "|---|---|---|---|"]
    for name, row in (report.get("table3") or {}).items():
        lines.append(f"| {name} | {row['mean']:.2f} | {row['median']:.2f} | {row['std']:.2f} |")
    if "mesh_box_position_error" in report:
        lines += ["", "## The box from the segmented mesh (the annotation's landmark rule) [mm]",
                  "", "|  | Position | Corner |", "|---|---|---|"]
        for stat in ("mean", "median", "std"):
            lines.append(f"| {stat.capitalize() if stat != 'std' else 'STD'} | "
                         f"{report['mesh_box_position_error'][stat]:.2f} | "
                         f"{report['mesh_box_corner_error'][stat]:.2f} |")
    return "\n".join(lines)
