"""Geometry: the seed's four matrices, their composition, round trips and error measures."""

import itertools
import math

import numpy as np
import pytest
import torch

from napari_msdl.geometry import (
    BOX_EDGES,
    UNIT_CORNERS,
    Pose,
    angles_from_rotation,
    box_to_world_points,
    corner_error,
    mean_pose,
    position_error,
    rotation_matrices,
    rotation_x,
    rotation_y,
    rotation_z,
    scale_matrix,
    translation_matrix,
)

PHI = 0.3
C, S = math.cos(PHI), math.sin(PHI)


def test_translation_matrix_is_the_seeds_T_with_minus_center():
    t = translation_matrix([1.0, -2.0, 3.5])
    expected = [[1, 0, 0, -1.0], [0, 1, 0, 2.0], [0, 0, 1, -3.5], [0, 0, 0, 1]]
    np.testing.assert_array_equal(t, expected)


def test_scale_matrix_is_the_seeds_S_with_inverse_size():
    np.testing.assert_array_equal(
        scale_matrix([2.0, 4.0, 8.0]),
        [[0.5, 0, 0, 0], [0, 0.25, 0, 0], [0, 0, 0.125, 0], [0, 0, 0, 1]],
    )


def test_rotation_x_matches_the_seed_element_by_element():
    np.testing.assert_allclose(
        rotation_x(PHI), [[1, 0, 0, 0], [0, C, -S, 0], [0, S, C, 0], [0, 0, 0, 1]], atol=0)


def test_rotation_y_matches_the_seed_including_its_signs():
    # The seed's R_y has -sin in row 0 and +sin in row 2.
    np.testing.assert_allclose(
        rotation_y(PHI), [[C, 0, -S, 0], [0, 1, 0, 0], [S, 0, C, 0], [0, 0, 0, 1]], atol=0)


def test_rotation_z_matches_the_seed_element_by_element():
    np.testing.assert_allclose(
        rotation_z(PHI), [[C, -S, 0, 0], [S, C, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], atol=0)


def test_world_to_box_is_S_Rx_Ry_Rz_T_in_that_order():
    pose = Pose(center=[10, 20, 30], angles=[0.1, -0.4, 0.7], size=[20, 25, 30])
    m = (scale_matrix(pose.size) @ rotation_x(0.1) @ rotation_y(-0.4) @ rotation_z(0.7)
         @ translation_matrix(pose.center))
    np.testing.assert_allclose(pose.world_to_box(), m, atol=1e-15)
    wrong = (scale_matrix(pose.size) @ rotation_z(0.7) @ rotation_y(-0.4) @ rotation_x(0.1)
             @ translation_matrix(pose.center))
    assert not np.allclose(pose.world_to_box(), wrong)


def test_world_to_box_maps_the_box_onto_the_unit_cube():
    pose = Pose(center=[5, -3, 12], angles=[0.5, 0.2, -1.1], size=[22, 28, 19])
    corners_h = np.c_[pose.corners(), np.ones(8)]
    np.testing.assert_allclose((pose.world_to_box() @ corners_h.T).T[:, :3], UNIT_CORNERS,
                               atol=1e-12)
    np.testing.assert_allclose(pose.world_to_box() @ [*pose.center, 1], [0, 0, 0, 1], atol=1e-12)


def test_box_to_world_is_the_inverse():
    pose = Pose(center=[1, 2, 3], angles=[1.0, -0.3, 2.5], size=[3, 5, 7])
    np.testing.assert_allclose(pose.box_to_world() @ pose.world_to_box(), np.eye(4), atol=1e-12)
    np.testing.assert_allclose(pose.box_to_world(), np.linalg.inv(pose.world_to_box()), atol=1e-12)


def test_point_round_trip_world_box_world():
    rng = np.random.default_rng(0)
    pose = Pose(center=rng.normal(size=3) * 50, angles=rng.uniform(-3, 3, 3), size=[10, 20, 30])
    p = rng.normal(size=(100, 3)) * 40
    np.testing.assert_allclose(pose.to_world(pose.to_box(p)), p, atol=1e-10)


def test_corners_follow_itertools_product_order():
    pose = Pose(center=[0, 0, 0], angles=[0, 0, 0], size=[2, 4, 6])
    expected = np.array(list(itertools.product((-0.5, 0.5), repeat=3))) * [2, 4, 6]
    np.testing.assert_allclose(pose.corners(), expected)


def test_corners_of_a_rotated_box_by_hand():
    # phi_z = 90 degrees: the box x axis is row 0 of R = (cos, -sin, 0) = (0, -1, 0) in world.
    pose = Pose(center=[10, 0, 0], angles=[0, 0, math.pi / 2], size=[2, 4, 6])
    np.testing.assert_allclose(pose.axes[0], [0, -1, 0], atol=1e-15)
    # corner 0 is unit (-.5, -.5, -.5): -1 along box x (= +1 world y), -2 along box y
    # (box y axis = row 1 = (sin, cos, 0) = (1, 0, 0)), -3 along z.
    np.testing.assert_allclose(pose.corners()[0], [10 - 2, 1, -3], atol=1e-12)


def test_twelve_edges_each_join_corners_one_edge_apart():
    assert BOX_EDGES.shape == (12, 2)
    pose = Pose(center=[0, 0, 0], angles=[0.2, 0.3, 0.4], size=[2, 4, 6])
    lengths = np.sort(np.linalg.norm(pose.edges()[:, 0] - pose.edges()[:, 1], axis=1))
    np.testing.assert_allclose(lengths, [2] * 4 + [4] * 4 + [6] * 4)


def test_angles_round_trip_through_rotation():
    rng = np.random.default_rng(1)
    angles = np.c_[rng.uniform(-np.pi, np.pi, 200), rng.uniform(-1.5, 1.5, 200),
                   rng.uniform(-np.pi, np.pi, 200)]
    np.testing.assert_allclose(angles_from_rotation(rotation_matrices(angles)), angles, atol=1e-9)


def test_gimbal_lock_still_reproduces_the_rotation():
    r = rotation_matrices(np.array([0.4, np.pi / 2, 0.3]))
    np.testing.assert_allclose(rotation_matrices(angles_from_rotation(r)), r, atol=1e-9)


def test_rotation_matrices_equal_the_seed_product_and_accept_torch():
    a = np.array([0.3, -0.2, 1.2])
    seed = (rotation_x(a[0]) @ rotation_y(a[1]) @ rotation_z(a[2]))[:3, :3]
    np.testing.assert_allclose(rotation_matrices(a), seed, atol=1e-15)
    t = rotation_matrices(torch.tensor(np.stack([a, a])))
    assert isinstance(t, torch.Tensor) and t.shape == (2, 3, 3)
    np.testing.assert_allclose(t[1].numpy(), seed, atol=1e-12)


def test_batched_box_to_world_matches_pose():
    poses = [Pose(center=[i, 2 * i, 0], angles=[0.1 * i, 0.2, -0.3], size=[5, 6, 7 + i])
             for i in range(4)]
    centers = np.array([p.center for p in poses])
    rots = rotation_matrices(np.array([p.angles for p in poses]))
    sizes = np.array([p.size for p in poses])
    out = box_to_world_points(UNIT_CORNERS, centers, rots, sizes)
    for k, p in enumerate(poses):
        np.testing.assert_allclose(out[k], p.corners(), atol=1e-12)
    out_t = box_to_world_points(torch.tensor(UNIT_CORNERS), torch.tensor(centers),
                                torch.tensor(rots), torch.tensor(sizes))
    np.testing.assert_allclose(out_t.numpy(), out, atol=1e-12)


def test_position_error_by_hand():
    a = Pose(center=[0, 0, 0], angles=[0, 0, 0], size=[1, 1, 1])
    b = Pose(center=[3, 4, 0], angles=[1, 1, 1], size=[5, 5, 5])
    assert position_error(a, b) == pytest.approx(5.0)


def test_corner_error_by_hand_for_translation_and_scaling():
    a = Pose(center=[0, 0, 0], angles=[0, 0, 0], size=[2, 2, 2])
    assert corner_error(a, Pose(center=[1, 2, 2], angles=[0, 0, 0], size=[2, 2, 2])) \
        == pytest.approx(3.0)
    # doubling the size moves every corner from (+-1,+-1,+-1) to (+-2,+-2,+-2): sqrt(3) each.
    assert corner_error(a, Pose(center=[0, 0, 0], angles=[0, 0, 0], size=[4, 4, 4])) \
        == pytest.approx(math.sqrt(3))


def test_corner_error_of_a_rotation_by_hand():
    a = Pose(center=[0, 0, 0], angles=[0, 0, 0], size=[2, 2, 2])
    b = Pose(center=[0, 0, 0], angles=[0, 0, math.pi], size=[2, 2, 2])
    # 180 degrees about z maps (x, y, z) to (-x, -y, z): each corner moves 2*sqrt(2).
    assert corner_error(a, b) == pytest.approx(2 * math.sqrt(2))


def test_mean_pose_of_identical_poses_is_that_pose_and_weights_pull():
    p = Pose(center=[1, 2, 3], angles=[0.3, -0.2, 2.9], size=[4, 5, 6])
    assert mean_pose([p, p, p]).allclose(p, atol=1e-9)
    q = Pose(center=[3, 2, 3], angles=[0.3, -0.2, 2.9], size=[4, 5, 6])
    m = mean_pose([p, q], weights=[3, 1])
    np.testing.assert_allclose(m.center, [1.5, 2, 3])


def test_mean_pose_handles_angle_wrap_around():
    a = Pose(center=[0, 0, 0], angles=[0, 0, math.pi - 0.01], size=[1, 1, 1])
    b = Pose(center=[0, 0, 0], angles=[0, 0, -math.pi + 0.01], size=[1, 1, 1])
    m = mean_pose([a, b])
    assert abs(abs(m.angles[2]) - math.pi) < 1e-9


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"center": [0, 0], "angles": [0, 0, 0], "size": [1, 1, 1]}, "center"),
        ({"center": [0, 0, 0], "angles": [0, 0, np.nan], "size": [1, 1, 1]}, "finite"),
        ({"center": [0, 0, 0], "angles": [0, 0, 0], "size": [1, 0, 1]}, "positive"),
    ],
)
def test_bad_pose_is_refused_with_a_clear_message(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Pose(**kwargs)


def test_pose_dict_and_vector_round_trip():
    p = Pose(center=[1, 2, 3], angles=[0.1, 0.2, 0.3], size=[4, 5, 6])
    assert Pose.from_dict(p.to_dict()) == p
    assert Pose.from_vector(p.to_vector()) == p
    with pytest.raises(ValueError, match="missing"):
        Pose.from_dict({"center": [0, 0, 0]})
