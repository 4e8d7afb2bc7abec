"""make_phantom: determinism, exact ground truth, the mesh on the wall, variation, and no
trivial rule that finds the valve."""

import json

import numpy as np
import pytest
from scipy import ndimage

from napari_msdl.phantoms import make_phantom
from napari_msdl.phantoms.generator import (
    MAX_ROLL_DEG,
    MAX_TILT_DEG,
    sample_geometry,
    sample_rotation,
    sample_valve,
)
from napari_msdl.valve import ANNULUS_ROW, N_THETA, STJ_ROW, TOPOLOGY, pose_from_mesh
from napari_msdl.volume import sample

from .conftest import SMALL_SHAPE, SMALL_SPACING


def test_same_seed_same_case_bit_for_bit(small_cases):
    a = small_cases[2]
    b = make_phantom(2, SMALL_SHAPE, SMALL_SPACING)
    np.testing.assert_array_equal(a.volume.data, b.volume.data)
    np.testing.assert_array_equal(a.volume.spacing, b.volume.spacing)
    np.testing.assert_array_equal(a.mesh.vertices, b.mesh.vertices)
    assert a.pose == b.pose
    assert json.dumps(a.params) == json.dumps(b.params)


def test_different_seeds_differ(small_cases):
    for a, b in zip(small_cases, small_cases[1:], strict=False):
        assert not np.array_equal(a.volume.data, b.volume.data)
        assert not np.allclose(a.mesh.vertices, b.mesh.vertices)
        assert a.pose != b.pose


def test_volume_geometry_and_type(small_cases):
    for case in small_cases:
        assert case.volume.shape == SMALL_SHAPE
        assert case.volume.data.dtype == np.uint8
        np.testing.assert_array_equal(case.volume.spacing, [1.0, 1.0, 1.0])
        np.testing.assert_array_equal(case.volume.origin, [0.0, 0.0, 0.0])
        assert case.fov.apex[2] <= 0.0  # the probe sits on or above the z = 0 face
        assert 50 < case.volume.data.max() and case.volume.data[case.fov_mask()].mean() > 20


def test_outside_the_field_of_view_is_zero(small_cases, medium_cases):
    for case in small_cases + medium_cases:
        mask = case.fov_mask()
        assert np.all(case.volume.data[~mask] == 0)
        assert 0.15 < mask.mean() < 0.95


def test_topology_is_the_same_in_every_case(small_cases):
    for case in small_cases:
        assert len(case.mesh.vertices) == TOPOLOGY.n_vertices
        np.testing.assert_array_equal(case.mesh.faces, TOPOLOGY.faces)


def test_pose_is_the_box_of_the_mesh(small_cases, medium_cases):
    for case in small_cases + medium_cases:
        assert case.pose == pose_from_mesh(case.mesh.vertices)
        unit = case.pose.to_box(case.mesh.vertices[TOPOLOGY.valve])
        assert np.all(np.abs(unit) <= 0.5 + 1e-9)


def test_params_are_json_ready(small_cases):
    params = json.loads(json.dumps(small_cases[0].params))
    assert params["seed"] == 0 and params["shape"] == list(SMALL_SHAPE)
    for key in ("valve", "neighbours", "levels", "image", "fov", "orientation"):
        assert key in params


def _wall_and_lumen(case):
    """Mean intensity on the root mesh (annulus..STJ rows) and 4.5 mm inside the lumen."""
    v = np.asarray(case.mesh.vertices)
    rows = v[: N_THETA * (STJ_ROW + 1)].reshape(STJ_ROW + 1, N_THETA, 3)[ANNULUS_ROW:]
    axis = case.pose.rotation[2]
    inward = rows.mean(axis=1, keepdims=True) - rows
    inward -= (inward @ axis)[..., None] * axis
    inward /= np.linalg.norm(inward, axis=-1, keepdims=True)
    wall, lumen = rows.reshape(-1, 3), (rows + 4.5 * inward).reshape(-1, 3)
    ok = case.fov.contains(wall) & case.fov.contains(lumen)
    assert ok.sum() > 200
    return sample(case.volume, wall[ok]).mean(), sample(case.volume, lumen[ok]).mean()


def test_the_mesh_lies_on_the_bright_wall(small_cases, medium_cases):
    for case in small_cases + medium_cases:
        wall, lumen = _wall_and_lumen(case)
        assert wall > lumen + 40, (case.seed, wall, lumen)


def test_the_valve_is_not_at_the_volume_centre(medium_cases):
    centres = np.array([c.pose.center for c in medium_cases])
    middle = (np.array(medium_cases[0].volume.shape) - 1) / 2 * medium_cases[0].volume.spacing
    offsets = np.linalg.norm(centres - middle, axis=1)
    assert np.median(offsets) > 10.0
    assert np.all(centres.std(axis=0)[:2] > 5.0)


def test_the_valve_is_not_simply_the_brightest_blob(medium_cases):
    hits = 0
    for case in medium_cases:
        smooth = ndimage.gaussian_filter(case.volume.data.astype(np.float32), 3.0)
        peak = np.array(np.unravel_index(np.argmax(smooth), smooth.shape)) * case.volume.spacing
        hits += bool(np.all(np.abs(case.pose.to_box(peak)) <= 0.5))
    assert hits <= len(medium_cases) // 2


def test_anatomy_and_pose_vary_within_the_documented_ranges():
    rngs = [np.random.default_rng(s) for s in range(300)]
    valves = [sample_valve(r) for r in rngs]
    radii = np.array([v.annulus_radius for v in valves])
    opening = np.array([v.leaflet_opening for v in valves])
    heights = np.array([v.stj_height for v in valves])
    assert 10.0 <= radii.min() < 10.5 and 13.5 < radii.max() <= 14.0
    assert opening.min() < 0.05 and opening.max() > 0.95
    assert 16.0 <= heights.min() and heights.max() <= 26.0 and heights.std() > 1.5
    rolls, tilts = zip(*[(info["roll_deg"], info["tilt_deg"])
                         for _, info in (sample_rotation(r) for r in rngs)], strict=True)
    assert -MAX_ROLL_DEG <= min(rolls) < -35 and 35 < max(rolls) <= MAX_ROLL_DEG
    assert 0 <= min(tilts) and 30 < max(tilts) <= MAX_TILT_DEG


PAPER_SHAPES = ((100, 100, 50), (250, 250, 150))
"""The paper's volumes: 100x100x50 to 250x250x150 voxels at 0.75 to 1 mm (DESIGN.md)."""


def test_drawn_geometry_spans_the_paper_ranges():
    draws = [sample_geometry(np.random.default_rng(s)) for s in range(200)]
    shapes = np.array([d[0] for d in draws])
    spacings = np.array([d[1] for d in draws])
    assert np.all(shapes >= PAPER_SHAPES[0]) and np.all(shapes <= PAPER_SHAPES[1])
    assert np.all((spacings >= 0.75) & (spacings <= 1.0))
    # the draws cover the range, not a corner of it
    assert np.all(shapes.min(0) < np.array(PAPER_SHAPES[0]) * 1.15)
    assert np.all(shapes.max(0) > np.array(PAPER_SHAPES[1]) * 0.9)
    assert spacings.min() < 0.78 and spacings.max() > 0.97


def test_poses_of_cases_vary(small_cases, medium_cases):
    cases = small_cases + medium_cases
    axes = np.array([c.pose.rotation for c in cases])
    tilt = np.degrees(np.arccos(np.clip(axes[:, 2, 2], -1, 1)))
    assert np.all(tilt <= MAX_TILT_DEG + 3.0) and tilt.std() > 3.0
    sizes = np.array([c.pose.size for c in cases])
    assert np.all((sizes[:, :2] > 20.0) & (sizes[:, :2] < 44.0))
    assert np.all((sizes[:, 2] > 15.0) & (sizes[:, 2] < 30.0))
    assert sizes.std(axis=0).min() > 1.0


def test_default_shape_is_drawn_from_the_seed():
    case = make_phantom(11)
    assert list(case.volume.shape) == case.params["shape"]
    assert np.all(np.array(case.volume.shape) >= PAPER_SHAPES[0])
    assert 0.75 <= case.volume.spacing[0] <= 1.0
    assert case.pose == pose_from_mesh(case.mesh.vertices)


@pytest.mark.parametrize("shape, spacing, match", [
    ((64, 64), 1.0, "shape"), ((64, 64, 8), 1.0, "shape"), ((64, 64, 48), 0.0, "spacing"),
    ((64, 64, 48), float("nan"), "spacing")])
def test_bad_geometry_is_refused(shape, spacing, match):
    with pytest.raises(ValueError, match=match):
        make_phantom(0, shape, spacing)
