"""The evaluation report: Tables I-III of a bundle on an annotated dataset.

:func:`evaluate_bundle` detects every annotated case (and, with a dense baseline bundle,
detects again with it), segments each case that has a mesh from its detected box when the
bundle has a boundary model, and writes ``OUT/report.json`` and ``OUT/report.md``::

    {"position_error": {"mean", "median", "std", "n"}, "corner_error": {...},
     "seconds": {...}, "cases": [{"id", "position_error", "corner_error", "seconds",
     "score", "pose"}, ...], "model": .., "data": ..,
     "baseline": {... the same for the dense baseline, when asked ...},
     "mesh_error_init": {...}, "mesh_error_final": {...}, "table3": {ROW: {...}},
     "segmentation_cases": [...], ...}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from napari_msdl._io import OutputKind, check_output, dumps_json, write_text_atomic
from napari_msdl._progress import ProgressCallback, no_progress
from napari_msdl.bundle import ValveModel, load_bundle
from napari_msdl.dataset import Case, Dataset
from napari_msdl.evaluation.detection import (
    FAILURE_MM,
    detected_row,
    detection_row,
    failure_line,
    summarize_detections,
)
from napari_msdl.evaluation.segmentation import segmentation_row, summarize_segmentation
from napari_msdl.geometry import Pose

REPORT_FILES = ("report.json", "report.md")


def is_report(folder: Path) -> bool:
    """True when ``folder`` holds only what an evaluation writes."""
    return all(p.name in REPORT_FILES for p in Path(folder).iterdir())


REPORT_OUTPUT = OutputKind("report folder", folder=True, recognise=is_report)
TABLE3_DENSE = "dense-baseline detection + mean shape + learned boundary deformation"
STATS = ("mean", "median", "std")


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _stat_name(stat: str) -> str:
    return "STD" if stat == "std" else stat.capitalize()


def table(report: dict[str, Any], names: tuple[str, str] = ("MSDL", "Dense")) -> str:
    """Table I as Markdown: position and corner error (mm) and seconds per case."""
    runs = [report] + ([report["baseline"]] if "baseline" in report else [])
    cols = names[:len(runs)]
    head = ["", *[f"Position [mm] {c}" for c in cols], *[f"Corner [mm] {c}" for c in cols],
            *[f"Seconds {c}" for c in cols]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for stat in STATS:
        cells = [_stat_name(stat)]
        for key, fmt in (("position_error", "{:.2f}"), ("corner_error", "{:.2f}"),
                         ("seconds", "{:.3f}")):
            cells += [_cell(r[key][stat], fmt) for r in runs]
        lines.append("| " + " | ".join(cells) + " |")
    fails = [f"{r['failures']['count']} of {r['failures']['of']}" for r in runs]
    lines.append(f"| Failures (> {FAILURE_MM:g} mm) | " + " | ".join(
        fails + ["-"] * (2 * len(runs))) + " |")
    return "\n".join(lines)


def segmentation_tables(report: dict[str, Any]) -> str:
    """Table II (mesh error of the initialisation and after deformation) and Table III (the
    final error of each refinement from the same detected boxes), as Markdown."""
    lines = ["## Table II: mesh error [mm] (from the detected boxes)", "",
             "|  | Initialization | Final |", "|---|---|---|"]
    for stat in STATS:
        lines.append(f"| {_stat_name(stat)} | "
                     f"{_cell(report['mesh_error_init'][stat], '{:.2f}')} | "
                     f"{_cell(report['mesh_error_final'][stat], '{:.2f}')} |")
    if report.get("other_topology"):
        lines += ["", f"{report['other_topology']} of the true meshes have another topology "
                  "than the model's; their errors are surface to surface, as every mesh "
                  "error is, but the model cannot learn from them (docs/formats.md)."]
    lines += ["", "## Table III: segmentation error [mm]", "", "|  | Mean | Median | STD |",
              "|---|---|---|---|"]
    for name, row in (report.get("table3") or {}).items():
        lines.append(f"| {name} | " + " | ".join(_cell(row[s], "{:.2f}") for s in STATS) + " |")
    if "mesh_box_position_error" in report:
        lines += ["", "## The box from the segmented mesh (the annotation's landmark rule) [mm]",
                  "", "|  | Position | Corner |", "|---|---|---|"]
        for stat in STATS:
            lines.append(f"| {_stat_name(stat)} | "
                         f"{_cell(report['mesh_box_position_error'][stat], '{:.2f}')} | "
                         f"{_cell(report['mesh_box_corner_error'][stat], '{:.2f}')} |")
    return "\n".join(lines)


def _path(model: ValveModel | str | Path | None) -> Path | None:
    if isinstance(model, ValveModel):
        return model.path
    return None if model is None else Path(model)


def _bundle(model: ValveModel | str | Path | None) -> ValveModel:
    return model if isinstance(model, ValveModel) else load_bundle(model)


def evaluate_bundle(model: ValveModel | str | Path | None, data: str | Path | Dataset,
                    out: str | Path, baseline: ValveModel | str | Path | None = None,
                    device: str | None = None, verify: bool = True,
                    progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Tables I-III of ``model`` (a bundle, its folder, or None for the bundled model) on
    ``data``, with a dense ``baseline`` bundle side by side when given; writes the report
    into the folder ``out`` and returns it (``report["table"]`` is Table I as text).
    ``verify``: boxes verified by segmentation, as :func:`~napari_msdl.pipeline.find_valve`
    does (False: the detector's own boxes)."""
    ds = data if isinstance(data, Dataset) else Dataset.open(data)
    cases = ds.annotated
    if not cases:
        raise ValueError(f"{ds.root}: no annotated case to evaluate")
    check_output(out, REPORT_OUTPUT, inputs=[ds.root, *(_path(m) for m in (model, baseline))])
    ours = _bundle(model)
    dense = None if baseline is None else _bundle(baseline)
    if dense is not None and not dense.detector.dense:
        raise ValueError(f"{dense.path}: the baseline must be a dense model (train it with "
                         "--dense)")
    progress = progress or no_progress
    rows: dict[str, list] = {"ours": [], "dense": [], "seg": [], "dense_seg": []}
    progress("evaluate", 0, len(cases))
    for n, case in enumerate(cases):  # each image is read once for every measurement
        volume = case.load_volume()
        row, segmentation = detected_row(ours, case, volume, device, verify)
        rows["ours"].append(row)
        if dense is not None:
            rows["dense"].append(detection_row(dense.detector, case, volume, device))
        if ours.boundary is not None and case.mesh is not None:
            mesh = case.load_mesh()
            rows["seg"].append(_segment_case(ours, case, volume, mesh, rows["ours"][-1],
                                             ("gradient", "intensity"), segmentation))
            if dense is not None:
                rows["dense_seg"].append(_segment_case(ours, case, volume, mesh,
                                                       rows["dense"][-1], ()))
        progress("evaluate", n + 1, len(cases))
    report = summarize_detections(rows["ours"])
    report["model"] = str(ours.path)
    report["verified"] = bool(verify and ours.boundary is not None)
    report["data"] = str(Path(ds.root).resolve())
    if dense is not None:
        report["baseline"] = {**summarize_detections(rows["dense"]), "model": str(dense.path),
                              "kind": "dense"}
    if rows["seg"]:
        _add_segmentation(report, rows["seg"], rows["dense_seg"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    text = table(report)
    write_text_atomic(out / "report.json", dumps_json(report))
    md = (f"# Table I on {ds.name} ({len(cases)} cases)\n\nModel: `{report['model']}`"
          + (f"; dense baseline: `{dense.path}`" if dense is not None else "")
          + "\n\nPosition error, mean corner error (mm) and detection seconds per case ("
          + ("boxes verified by segmentation, its time included" if report["verified"]
             else "the detector's boxes, unverified") + ").\n\n"
          + text + "\n\n" + failure_line(report).capitalize() + ".\n")
    if "mesh_error_final" in report:
        md += "\n" + segmentation_tables(report) + "\n"
    write_text_atomic(out / "report.md", md)
    report["table"] = text
    return report


def _segment_case(model: ValveModel, case: Case, volume, mesh, detected: dict[str, Any],
                  baselines: tuple[str, ...], segmentation=None) -> dict[str, Any]:
    """The segmentation row of one case from its detected box (a Table I row), given its
    mesh when detection made it."""
    return segmentation_row(volume, Pose.from_dict(detected["pose"]), case.pose, mesh,
                            model.boundary, case.id, "given", baselines, segmentation)


def _add_segmentation(report: dict[str, Any], rows: list[dict[str, Any]],
                      dense_rows: list[dict[str, Any]]) -> None:
    """Tables II and III from the segmentation rows of the detected boxes:
    ``mesh_error_init``, ``mesh_error_final``, ``table3`` (with the row of the dense
    baseline's boxes segmented by our boundary model, when there are ``dense_rows``)."""
    seg = summarize_segmentation(rows)
    for key in ("mesh_error_init", "mesh_error_final", "mesh_error_gradient",
                "mesh_error_intensity", "table3", "improved", "deform_seconds",
                "mesh_box_position_error", "mesh_box_corner_error", "other_topology"):
        if key in seg:
            report[key] = seg[key]
    report["segmentation_cases"] = rows
    if dense_rows:
        dense = summarize_segmentation(dense_rows)
        report["baseline"]["mesh_error_init"] = dense["mesh_error_init"]
        report["baseline"]["mesh_error_final"] = dense["mesh_error_final"]
        report["table3"][TABLE3_DENSE] = dense["mesh_error_final"]
