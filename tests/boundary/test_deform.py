"""The deformation pulls the mean shape in a wrong box back toward the true mesh."""

import numpy as np
import pytest

from napari_msdl.boundary import boundary_evidence, segment
from napari_msdl.evaluation import mesh_error, perturb_pose
from napari_msdl.geometry import corner_error


@pytest.fixture(scope="module")
def start(unseen_case):
    pose = perturb_pose(unseen_case.pose, np.random.default_rng(3))
    assert corner_error(pose, unseen_case.pose) > 1.0
    return pose


@pytest.mark.parametrize("scorer", ["classifier", "intensity"])
def test_deformation_moves_the_mesh_toward_the_truth(tiny_model, unseen_case, start, scorer):
    seg = segment(unseen_case.volume, start, tiny_model, scorer=scorer)
    truth = unseen_case.mesh
    init, final = mesh_error(seg.mesh(initial=True), truth), mesh_error(seg.mesh(), truth)
    assert final < 0.8 * init, (init, final)
    np.testing.assert_allclose(seg.initial, tiny_model.shape_space.mean_mesh(start))
    # the stopping rule: every round but the last moved at least tol_mm, and the last
    # either fell below it or was the final round
    tol = tiny_model.deform.tol_mm
    assert 1 <= seg.iterations <= tiny_model.deform.iterations
    assert all(m >= tol for m in seg.moves[:-1])
    assert seg.moves[-1] < tol or seg.iterations == tiny_model.deform.iterations
    assert seg.ranges[0] == pytest.approx(tiny_model.deform.search_mm)
    # one search range per round, shrinking to no less than the floor
    assert len(seg.ranges) == seg.iterations == len(seg.moves)
    assert np.all(np.diff(seg.ranges) <= 1e-9)
    assert min(seg.ranges) >= tiny_model.deform.min_search_mm - 1e-9


def test_the_learned_classifier_beats_the_gradient(tiny_model, unseen_case, start):
    learned = segment(unseen_case.volume, start, tiny_model)
    gradient = segment(unseen_case.volume, start, tiny_model, scorer="gradient")
    assert mesh_error(learned.mesh(), unseen_case.mesh) < mesh_error(gradient.mesh(),
                                                                    unseen_case.mesh)


def test_deformation_is_deterministic_and_reports_progress(tiny_model, unseen_case, start):
    calls = []
    a = segment(unseen_case.volume, start, tiny_model, iterations=3,
                progress=lambda *args: calls.append(args))
    b = segment(unseen_case.volume, start, tiny_model, iterations=3)
    np.testing.assert_array_equal(a.vertices, b.vertices)
    assert calls[-1] == ("boundary", a.iterations, 3)


def test_bad_arguments_are_refused(tiny_model, unseen_case, start):
    with pytest.raises(ValueError, match="scorer"):
        segment(unseen_case.volume, start, tiny_model, scorer="magic")
    with pytest.raises(ValueError, match="initial mesh"):
        segment(unseen_case.volume, start, tiny_model, initial=np.zeros((5, 3)))
    with pytest.raises(TypeError, match="Volume"):
        segment(unseen_case.volume.data, start, tiny_model)


def test_box_of_the_segmentation_is_the_landmark_rule_of_its_mesh(tiny_model, unseen_case,
                                                                  start):
    from napari_msdl.boundary.deform import Segmentation
    from napari_msdl.valve import pose_from_mesh

    seg = segment(unseen_case.volume, start, tiny_model)
    box = seg.box()
    np.testing.assert_allclose(box.center, pose_from_mesh(seg.vertices).center)
    truth_box = Segmentation(unseen_case.mesh.vertices, seg.initial, seg.faces).box()
    np.testing.assert_allclose(truth_box.corners(), unseen_case.pose.corners(), atol=1e-9)
    assert Segmentation(seg.vertices[:100], seg.initial[:100], seg.faces[:10]).box() is None


def test_boundary_evidence_is_high_on_the_valve_and_low_beside_it(tiny_model, unseen_case):
    truth = np.asarray(unseen_case.mesh.vertices)
    on = boundary_evidence(unseen_case.volume, truth, unseen_case.pose, tiny_model)
    beside = [boundary_evidence(unseen_case.volume, truth + shift, unseen_case.pose,
                                tiny_model) for shift in ([8.0, 0, 0], [0, -8.0, 0])]
    assert 0.0 <= max(beside) < on <= 1.0
    assert on - max(beside) > 0.15, (on, beside)  # a tiny classifier: 0.79 vs 0.54
    with pytest.raises(ValueError, match="vertices must have shape"):
        boundary_evidence(unseen_case.volume, truth[:-1], unseen_case.pose, tiny_model)
