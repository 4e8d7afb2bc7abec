"""evaluate_bundle: Table I per case and summarised, written as JSON and Markdown."""

import json

import numpy as np
import pytest

from napari_msdl.evaluation import evaluate_bundle, summary
from napari_msdl.evaluation.detection import failure_line, failures


def test_evaluate_writes_table_one(tiny_detector, tmp_path):
    model_dir, data_dir = tiny_detector
    report = evaluate_bundle(model_dir, data_dir, tmp_path / "report")
    doc = json.loads((tmp_path / "report" / "report.json").read_text())
    for key in ("position_error", "corner_error"):
        assert set(doc[key]) == {"mean", "median", "std", "n"} and doc[key]["n"] == 10
    assert len(doc["cases"]) == 10
    assert set(doc["cases"][0]) >= {"id", "position_error", "corner_error", "seconds"}
    assert np.isclose(doc["position_error"]["mean"],
                      np.mean([c["position_error"] for c in doc["cases"]]))
    assert "Mean" in report["table"] and (tmp_path / "report" / "report.md").is_file()
    lost = [c["id"] for c in doc["cases"] if c["position_error"] > 10.0]
    assert doc["failures"] == {"count": len(lost), "of": 10, "threshold_mm": 10.0, "ids": lost}
    assert f"| Failures (> 10 mm) | {len(lost)} of 10 |" in report["table"]
    md = (tmp_path / "report" / "report.md").read_text()
    assert f"Failures (position error > 10 mm): {len(lost)} of 10" in md


def test_failures_are_the_cases_more_than_10_mm_off_and_unmeasurable_ones():
    rows = [{"id": i, "position_error": e} for i, e in
            (("a", 0.5), ("b", 10.0), ("c", 10.01), ("d", float("nan")), ("e", 66.6))]
    assert failures(rows) == {"count": 3, "of": 5, "threshold_mm": 10.0, "ids": ["c", "d", "e"]}
    assert failure_line({"failures": failures(rows)}) == (
        "failures (position error > 10 mm): 3 of 5 (c, d, e)")
    assert failure_line({"failures": failures(rows[:2])}).endswith(": 0 of 2")


def test_a_summary_of_nothing_is_null_not_nan():
    assert summary([]) == {"mean": None, "median": None, "std": None, "n": 0}
    assert summary([1.0, 3.0]) == {"mean": 2.0, "median": 2.0, "std": 1.0, "n": 2}


def test_the_baseline_must_be_dense(tiny_detector, tmp_path):
    with pytest.raises(ValueError, match="dense"):
        evaluate_bundle(tiny_detector[0], tiny_detector[1], tmp_path / "r",
                        baseline=tiny_detector[0])


def test_meshes_of_another_topology_are_measured_surface_to_surface(tiny_valve_model,
                                                                     tmp_path):
    """A dataset whose true meshes are not the valve's topology (here spheres) still gets
    Table I and Tables II-III, the mesh error surface to surface, and the report says so."""
    import trimesh

    from napari_msdl.dataset import create_dataset, put_case
    from napari_msdl.phantoms import make_phantom

    ds = create_dataset(tmp_path / "spheres")
    for i in range(2):
        case = make_phantom(1000 + i, shape=(56, 56, 44), spacing=1.0)
        sphere = trimesh.creation.icosphere(subdivisions=2, radius=8.0)
        sphere.apply_translation(case.pose.center)
        put_case(ds, f"s{i}", case.volume, case.pose, sphere)
    report = evaluate_bundle(tiny_valve_model, ds.root, tmp_path / "report")
    assert report["position_error"]["n"] == 2
    assert report["other_topology"] == 2
    assert report["mesh_error_final"]["n"] == 2
    assert np.isfinite(report["mesh_error_final"]["mean"])
    assert "another topology" in (tmp_path / "report" / "report.md").read_text()
