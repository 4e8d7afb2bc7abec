"""Tables II and III figures from evaluate_segmentation."""

import numpy as np
import pytest

from napari_msdl.evaluation import evaluate_segmentation, perturb_pose
from napari_msdl.evaluation.segmentation import TABLE3_BASELINES, TABLE3_LEARNED
from napari_msdl.geometry import corner_error, position_error


def test_report_has_tables_two_and_three(tiny_model, unseen_case, train_cases):
    cases = [(c.volume, c.pose, c.mesh) for c in (unseen_case, train_cases[0])]
    poses = [perturb_pose(c[1], np.random.default_rng(i)) for i, c in enumerate(cases)]
    r = evaluate_segmentation(cases, tiny_model, poses, ids=["a", "b"])
    assert r["n_cases"] == 2 and [c["id"] for c in r["cases"]] == ["a", "b"]
    for key in ("mesh_error_init", "mesh_error_final", "mesh_error_gradient",
                "mesh_error_intensity"):
        vals = [c[key] for c in r["cases"]]
        assert r[key]["mean"] == pytest.approx(np.mean(vals))
        assert r[key]["median"] == pytest.approx(np.median(vals))
    assert set(r["table3"]) == {TABLE3_LEARNED, *TABLE3_BASELINES.values()}
    assert r["improved"] == sum(c["mesh_error_final"] < c["mesh_error_init"] for c in r["cases"])
    assert r["cases"][0]["position_error"] == pytest.approx(position_error(poses[0],
                                                                           cases[0][1]))
    boxes = [c["mesh_box_corner_error"] for c in r["cases"]]
    assert r["mesh_box_corner_error"]["mean"] == pytest.approx(np.mean(boxes))


def test_true_pose_is_used_without_poses_or_detector(tiny_model, unseen_case):
    case = [(unseen_case.volume, unseen_case.pose, unseen_case.mesh)]
    r = evaluate_segmentation(case, tiny_model, baselines=())
    assert r["cases"][0]["pose_source"] == "truth"
    assert r["cases"][0]["corner_error"] == 0.0
    assert "mesh_error_gradient" not in r and len(r["table3"]) == 1
    with pytest.raises(ValueError, match="baselines"):
        evaluate_segmentation(case, tiny_model, baselines=("snake",))


def test_perturbation_is_like_the_detector_target(unseen_case):
    rng = np.random.default_rng(0)
    poses = [perturb_pose(unseen_case.pose, rng) for _ in range(200)]
    pos = np.mean([position_error(p, unseen_case.pose) for p in poses])
    corner = np.mean([corner_error(p, unseen_case.pose) for p in poses])
    assert 1.2 < pos < 2.0 and 2.0 < corner < 4.0
    # the corners' mean offset is the center's (they are symmetric about it), so by the
    # triangle inequality the mean corner error is never below the position error
    assert corner > pos
    # the center moves by N(0, 1 mm) per axis: the mean distance is E|chi_3| = 2 sqrt(2/pi)
    assert pos == pytest.approx(2 * np.sqrt(2 / np.pi), abs=0.15)  # 3 standard errors
    still = perturb_pose(unseen_case.pose, rng, center_mm=0, angle_deg=0, size_fraction=0)
    assert corner_error(still, unseen_case.pose) == pytest.approx(0.0, abs=1e-9)
