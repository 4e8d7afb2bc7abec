"""Detection mechanics on an untrained (random) model: API, errors, progress, cancel."""

import numpy as np
import pytest
import torch

from napari_msdl._progress import Cancelled
from napari_msdl.detector import STAGES, Detection, DetectorModel, SearchParams, detect
from napari_msdl.detector.cascade import StageNets
from napari_msdl.detector.hypotheses import OrientationSet, SizeSet
from napari_msdl.geometry import rotation_matrices
from napari_msdl.sparse import SADNN, cascade_net_config, main_net_config, sparsify_step
from napari_msdl.sparse.networks import ActiveNet
from napari_msdl.volume.volume import Volume


def random_model(threshold: float = -1e9) -> DetectorModel:
    rng = np.random.default_rng(0)
    rots = rotation_matrices(rng.normal(scale=0.2, size=(20, 3)))
    sizes = np.array([20.0, 18.0, 14.0]) * np.exp(rng.normal(scale=0.05, size=(20, 3)))
    stages = {}
    for k, name in enumerate(STAGES):
        cascade = SADNN(cascade_net_config(), seed=k)
        sparsify_step(cascade.first, 0.997)
        main = SADNN(main_net_config(), seed=10 + k)
        sparsify_step(main.first, 0.999)
        stages[name] = StageNets([cascade], [threshold], main)
    return DetectorModel(OrientationSet.learn(rots, 20.0), SizeSet.learn(sizes, 0.15), stages,
                         SearchParams(top_position=5, top_orientation=5, top_scale=5,
                                      orientation_refine=2, average=3, chunk=512))


@pytest.fixture(scope="module")
def model():
    return random_model()


@pytest.fixture(scope="module")
def volume():
    rng = np.random.default_rng(1)
    return Volume(rng.integers(0, 200, (30, 28, 26), dtype=np.uint8), spacing=(1.2, 1.2, 1.4))


def test_detection_result_and_json(model, volume):
    det = detect(volume, model, device="cpu")
    assert isinstance(det, Detection)
    assert det.corners.shape == (8, 3)
    np.testing.assert_allclose(det.corners, det.pose.corners())
    d = det.to_dict()
    assert set(d["pose"]) == {"center", "angles", "size"}
    assert len(d["corners"]) == 8 and all(len(c) == 3 for c in d["corners"])
    assert 0.0 <= d["score"] <= 1.0
    assert set(STAGES) | {"prepare", "total"} <= set(d["timings"])
    for name in STAGES:
        stage = det.stages[name]
        assert len(stage.scores) == len(stage.centers) == 5
        assert np.all(np.diff(stage.evidence) <= 1e-9)  # best first (by summed logits)
        assert stage.hypotheses >= len(stage.scores)
    assert det.stages["position"].hypotheses > 100


def test_top_per_group_keeps_every_groups_best_before_any_seconds():
    from napari_msdl.detector.stages import top_indices_per_group

    logits = np.array([9.0, 8.5, 8.0, 7.5, 1.0, 0.5, 3.0, 2.0])
    groups = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    # plain top 3 would be all of group 0; each group's best comes in first
    np.testing.assert_array_equal(top_indices_per_group(logits, 3, groups), [0, 6, 4])
    np.testing.assert_array_equal(top_indices_per_group(logits, 5, groups), [0, 1, 2, 6, 4])
    # fewer slots than groups: the best groups' leaders, best first
    np.testing.assert_array_equal(top_indices_per_group(logits, 2, groups), [0, 6])
    assert len(top_indices_per_group(logits, 0, groups)) == 0


def test_orientation_refine_ranks_each_refined_candidates_family_as_a_group(model, volume,
                                                                           monkeypatch):
    import sys

    from napari_msdl.detector.stages import top_indices_per_group

    detect_module = sys.modules["napari_msdl.detector.stages"]

    calls = []

    def spy(logits, k, groups):
        calls.append((len(logits), k, groups.copy()))
        return top_indices_per_group(logits, k, groups)

    monkeypatch.setattr(detect_module, "top_indices_per_group", spy)
    det = detect(volume, model, device="cpu", orientation_refine=3, top_orientation=4)
    (n, k, groups), = calls  # only the refinement step groups its hypotheses
    assert k == 4 and n == 3 * 27 * 7  # 27 rotations x 7 jitters around each of 3 boxes
    np.testing.assert_array_equal(np.bincount(groups), [27 * 7] * 3)
    assert np.all(np.diff(groups) >= 0)  # each family contiguous, as the hypotheses are
    assert len(det.stages["orientation"].evidence) == 4


def det_pool(volume, model):
    return detect(volume, model, device="cpu", position_refine=0).pool


def test_position_refine_moves_candidates_to_their_best_neighbour(model, volume):
    from napari_msdl.detector.stages import _best_per_candidate, _neighbourhoods

    coarse = detect(volume, model, device="cpu", position_refine=0).stages["position"]
    fine = detect(volume, model, device="cpu", position_refine=1).stages["position"]
    assert fine.evidence[0] >= coarse.evidence[0]  # the identity is among the neighbours
    # every candidate of the pool is refined (the kept ones are among them)
    assert fine.hypotheses == coarse.hypotheses + 27 * len(det_pool(volume, model))
    fv = model.feature_volume(volume)
    vox = np.array([[fv.pad, fv.pad, fv.pad], [fv.pad + 4, fv.pad + 4, fv.pad + 4]])
    near = _neighbourhoods(fv, vox, 1).reshape(2, 27, 3)
    np.testing.assert_array_equal(near[:, 0], vox)  # identity first
    assert near.min() >= fv.pad  # clipped inside the searchable volume
    logits = np.zeros(54)
    logits[5], logits[27 + 3] = 2.0, 3.0  # candidate 1's best beats candidate 0's
    np.testing.assert_array_equal(_best_per_candidate(logits, 2, near.reshape(-1, 3)), [30, 5])
    same = np.tile(near[:1], (2, 1, 1)).reshape(-1, 3)  # two candidates, one neighbourhood
    logits[27 + 3], logits[27 + 5] = 0.0, 3.0  # both refine onto the voxel at offset 5
    np.testing.assert_array_equal(_best_per_candidate(logits, 2, same), [32])  # kept once


def test_detection_is_deterministic_and_top_k_counts(model, volume):
    a = detect(volume, model, device="cpu")
    b = detect(volume, model, device="cpu", top_k={"position": 3, "scale": 4})
    c = detect(volume, model, device="cpu")
    assert a.pose.allclose(c.pose, atol=0)
    assert len(b.stages["position"].scores) == 3 and len(b.stages["scale"].scores) == 4


def test_bad_volumes_and_parameters_are_refused(model):
    with pytest.raises(ValueError, match="3D"):
        detect(np.zeros((20, 20)), model)
    with pytest.raises(ValueError, match="constant"):
        detect(Volume(np.full((20, 20, 20), 3.0)), model)
    with pytest.raises(ValueError, match="finite"):
        detect(np.full((20, 20, 20), np.nan), model)
    with pytest.raises(ValueError, match="top_k"):
        detect(Volume(np.arange(8000.0).reshape(20, 20, 20)), model, top_k={"shape": 3})
    tiny = np.zeros((20, 20, 20))
    tiny[:4, :4, :4] = np.arange(64.0).reshape(4, 4, 4)  # data far smaller than a valve box
    with pytest.raises(ValueError, match="smaller than a valve"):
        detect(Volume(tiny), model)


def test_progress_per_stage_and_chunk_and_cancel(model, volume):
    calls = []
    detect(volume, model, device="cpu", progress=lambda s, d, t: calls.append((s, d, t)))
    stages = [c[0] for c in calls]
    for name in ("prepare", *STAGES):
        assert name in stages
    assert sum(1 for c in calls if c[0] == "position") > 2  # per chunk, not only per stage

    scoring = ["position", "position refine", "orientation", "orientation refine", "scale"]
    assert [s for s in dict.fromkeys(stages) if s != "prepare"] == scoring
    for name in scoring:  # every scoring step checks for Cancel
        def cancel(stage, done, total, name=name):
            if stage == name and done > 0:
                raise Cancelled(stage)

        with pytest.raises(Cancelled, match=name):
            detect(volume, model, device="cpu", progress=cancel)


def test_the_inference_path_with_gathered_statistics_equals_training_forward():
    """Detection hands ActiveNet the patch statistics its gathers accumulated; the logits
    must be those of the network on the full patches."""
    net = SADNN(main_net_config(), seed=3)
    sparsify_step(net.first, 0.97)
    net.eval()
    cols = net.active_inputs()
    x = torch.rand(64, 5832) * 3
    ref = net(x).detach().numpy()
    xa = x[:, cols].contiguous()
    std, mean = torch.std_mean(xa.double(), dim=1, correction=0)
    compiled = ActiveNet(net)
    np.testing.assert_array_equal(compiled.columns, cols.numpy())
    np.testing.assert_allclose(compiled(xa, mean.float(), std.float()), ref, rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(compiled(xa), ref, rtol=1e-4, atol=1e-4)


def test_the_position_pool_holds_the_kept_candidates_and_more(model, volume):
    from napari_msdl.detector.stages import refine_positions

    det = detect(volume, model, device="cpu", position_pool=40)
    pos, pool = det.stages["position"], det.pool
    assert len(pos) == 5 and len(pool) > len(pos)
    assert np.all(np.diff(pool.evidence) <= 1e-9)
    # the candidates the orientation stage expands are the pool's, as they were without it
    alone = detect(volume, model, device="cpu", position_pool=1)
    np.testing.assert_array_equal(alone.stages["position"].centers, pos.centers)
    assert alone.pose.allclose(det.pose, atol=0)
    keys = {tuple(c) for c in pool.voxels}
    assert all(tuple(c) in keys for c in pos.voxels)
    # refining the stride's 5 best again gives the same candidates
    coarse = detect(volume, model, device="cpu", position_refine=0).stages["position"]
    again = refine_positions(det.search, coarse)
    np.testing.assert_array_equal(again.voxels, pos.voxels)


def test_other_modes_are_places_apart_from_the_detection_and_each_other(model, volume):
    from napari_msdl.detector import other_modes
    from napari_msdl.detector.detect import MODE_RADIUS_MM

    big = Volume(np.random.default_rng(2).integers(0, 200, (60, 56, 30), dtype=np.uint8),
                 spacing=(1.2, 1.2, 1.4))
    det = detect(big, model, device="cpu", position_pool=200)
    others = other_modes(det, 4)
    assert 1 <= len(others) <= 4
    leads = [det.pose.center] + [o.stages["position"].centers[0] for o in others]
    for i, o in enumerate(others):
        p = o.stages["position"]
        # every member of a place is within the radius of its best, and far from the box
        assert np.all(np.linalg.norm(p.centers - p.centers[0], axis=1) <= MODE_RADIUS_MM)
        assert np.all(np.linalg.norm(p.centers - det.pose.center, axis=1) > MODE_RADIUS_MM)
        for j in range(1, i + 1):  # a later place's best is outside every earlier place
            assert np.linalg.norm(leads[i + 1] - leads[j]) > MODE_RADIUS_MM
        assert len(o.stages["scale"]) >= 1 and o.timings["total"] > 0
    # best place first, by its best position candidate's evidence
    firsts = [o.stages["position"].evidence[0] for o in others]
    assert firsts == sorted(firsts, reverse=True)
    assert other_modes(det, 0) == []
    det.search = None
    with pytest.raises(ValueError, match="other_modes"):
        other_modes(det)


def test_position_refinement_goes_coarse_to_fine_from_any_stride():
    """Refinement steps halve from half the stride to 1 voxel, so every voxel between the
    grid points can be reached (stride 2: one step, as before)."""
    from napari_msdl.detector.stages import _neighbourhoods, refine_steps

    assert refine_steps(2, 1) == [(1, 1)]
    assert refine_steps(3, 1) == [(1, 1)]
    assert refine_steps(4, 1) == [(2, 1), (1, 1)]
    assert refine_steps(8, 2) == [(4, 1), (2, 1), (1, 2)]
    for stride in (2, 3, 4, 8):
        reach = sum(step * radius for step, radius in refine_steps(stride, 1))
        assert reach >= stride // 2  # half the gap between grid points
    fv = type("FV", (), {"data": np.zeros((40, 40, 40)), "pad": 5})()
    near = _neighbourhoods(fv, np.array([[20, 20, 20]]), 1, step=2)
    assert near.shape == (27, 3) and near[0].tolist() == [20, 20, 20]
    assert set(np.unique(near - 20)) == {-2, 0, 2}


def test_fused_and_gathered_first_layers_detect_the_same_box(model, volume, monkeypatch):
    """The CPU's fused sparse first layers and the gather-then-multiply path (the GPU's,
    and the CPU's for dense layers) are one detector: the same candidates, the same box."""
    import napari_msdl.sparse.networks as networks

    assert all(net.fusable for nets in model.stages.values() for net in nets._compiled)
    fused = detect(volume, model, device="cpu")
    monkeypatch.setattr(networks, "FUSE_BELOW", 10 ** 9)
    assert not any(net.fusable for nets in model.stages.values() for net in nets._compiled)
    gathered = detect(volume, model, device="cpu")
    np.testing.assert_allclose(fused.pose.center, gathered.pose.center, atol=1e-4)
    np.testing.assert_allclose(fused.pose.size, gathered.pose.size, atol=1e-4)
    for name in STAGES:
        np.testing.assert_allclose(fused.stages[name].evidence, gathered.stages[name].evidence,
                                   rtol=1e-3, atol=1e-3)
