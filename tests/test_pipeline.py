"""find_valve: the box, verified by segmentation, then the mesh when the bundle has a boundary
model."""

import numpy as np
import pytest

from napari_msdl.bundle import load_bundle
from napari_msdl.evaluation import mesh_error
from napari_msdl.phantoms import make_phantom
from napari_msdl.pipeline import find_valve


def test_bundle_without_boundary_gives_only_the_box(tiny_detector):
    model = load_bundle(tiny_detector[0])
    assert model.boundary is None
    case = make_phantom(2000, shape=(56, 56, 44), spacing=1.0)
    result = find_valve(case.volume, model)
    assert result.segmentation is None and "mesh" not in result.to_dict()


def test_bundle_with_boundary_segments_a_mesh_of_the_valve_topology(tiny_valve_model):
    model = load_bundle(tiny_valve_model)
    case = make_phantom(2000, shape=(56, 56, 44), spacing=1.0)
    stages = []
    result = find_valve(case.volume, model, progress=lambda s, d, t: stages.append(s))
    seg = result.segmentation
    assert seg.vertices.shape == case.mesh.vertices.shape
    np.testing.assert_array_equal(seg.faces, case.mesh.faces)
    assert "boundary" in stages and "position" in " ".join(stages)
    assert np.isfinite(mesh_error(seg.mesh(), case.mesh))
    assert result.to_dict()["timings"]["boundary"] == seg.seconds


@pytest.fixture(scope="module")
def verified_look_alike(tiny_valve_model, look_alike):
    """find_valve on the look-alike volume (made once: three tests read it)."""
    return find_valve(look_alike[0], load_bundle(tiny_valve_model))


def test_verification_keeps_the_valve_where_the_detector_takes_a_brighter_look_alike(
        tiny_valve_model, look_alike, verified_look_alike):
    from napari_msdl.detector import detect
    from napari_msdl.geometry import position_error

    model = load_bundle(tiny_valve_model)
    volume, truth = look_alike
    assert position_error(detect(volume, model.detector).pose, truth) > 10  # the old way
    unverified = find_valve(volume, model, verify=False)
    assert unverified.verification is None
    assert position_error(unverified.detection.pose, truth) > 10
    result = verified_look_alike
    v = result.verification
    assert v.searched and v.chosen > 0
    from napari_msdl.pipeline import VERIFY_OTHERS

    # the others weighed are the places the detector is surest of, and more were searched
    others = [a.detector_evidence for a in v.answers[1:]]
    assert 1 <= len(others) <= VERIFY_OTHERS < v.places
    assert others == sorted(others, reverse=True) and min(others) > 0
    assert position_error(result.detection.pose, truth) < 5
    scores = [a.score for a in v.answers]
    assert v.chosen == int(np.argmax(scores))
    # the kept answer's box, mesh and stages are what the result and its JSON hold
    kept = v.answers[v.chosen]
    assert result.detection.pose == kept.detection.pose
    assert result.segmentation is kept.segmentation
    doc = result.to_dict()
    assert doc["verification"]["chosen"] == v.chosen and len(doc["verification"]["answers"]) \
        == len(v.answers)
    assert doc["timings"]["total"] == result.detection.timings["total"]
    assert result.seconds > result.detection.timings["total"] + v.seconds - 1e-9
    # the feature volume is not held on to
    assert result.detection.search is None and all(a.detection.search is None
                                                   for a in v.answers)


def test_a_clear_first_answer_is_kept_without_searching(tiny_valve_model, look_alike,
                                                       monkeypatch):
    import napari_msdl.pipeline as pipeline

    monkeypatch.setattr(pipeline, "VERIFY_BELOW", 0.0)
    model = load_bundle(tiny_valve_model)
    volume, _ = look_alike
    result = find_valve(volume, model)
    assert not result.verification.searched and result.verification.chosen == 0
    assert result.detection.pose == find_valve(volume, model, verify=False).detection.pose


def test_verification_score_weighs_boundary_evidence_and_clipped_detector_evidence():
    from napari_msdl.pipeline import DETECTOR_CLIP, DETECTOR_WEIGHT, verification_score

    assert verification_score(0.7, 0.0) == 0.7
    assert verification_score(0.7, -50.0) == 0.7  # a rejected box adds nothing
    assert np.isclose(verification_score(0.7, 10.0), 0.7 + 10 * DETECTOR_WEIGHT)
    assert verification_score(0.5, 1e6) == verification_score(0.5, DETECTOR_CLIP)
    # a much clearer mesh outweighs a surer detector at the clip
    assert verification_score(0.5 + DETECTOR_CLIP * DETECTOR_WEIGHT + 0.01, 0.0) > \
        verification_score(0.5, 1e6)



def test_the_places_weighed_are_the_surest_with_positive_evidence():
    from napari_msdl.pipeline import VERIFY_OTHERS, places_to_weigh

    assert VERIFY_OTHERS == 2
    assert places_to_weigh([3.0, -1.0, 10.0, 5.0]) == [2, 3]
    assert places_to_weigh([-1.0, 0.0]) == [] and places_to_weigh([]) == []
    assert places_to_weigh([4.0]) == [0]


def test_the_summary_says_what_verification_did(verified_look_alike):
    from dataclasses import replace

    v = verified_look_alike.verification
    line = v.summary()
    assert f"searched {v.places} other places" in line and "kept another place" in line
    assert "kept the detector's box" in replace(v, chosen=0).summary()
    assert replace(v, places=0).summary() == \
        f"verified: boundary evidence {v.answers[0].boundary_evidence:.2f}"
