"""The boundary classifier: samples, fast inference, training figures, determinism."""

import numpy as np
import torch

from napari_msdl.sparse.networks import ActiveNet
from napari_msdl.training import ClassifierConfig, train_boundary
from napari_msdl.training.boundary_classifier import boundary_samples
from napari_msdl.valve import TOPOLOGY


def test_samples_have_positives_on_the_boundary_and_negatives_off_it(train_cases):
    c = train_cases[0]
    cfg = ClassifierConfig(vertices_per_case=100)
    x, y, d = boundary_samples(c.volume, c.mesh.vertices, TOPOLOGY.faces, cfg,
                               np.random.default_rng(0))
    assert x.shape == (len(y), cfg.patch.n_inputs) and x.dtype == np.float32
    assert np.all(np.abs(d[y == 1]) <= cfg.positive_mm)
    lo, hi = cfg.negative_mm
    assert np.all((np.abs(d[y == 0]) >= lo) & (np.abs(d[y == 0]) <= hi))
    assert np.sum(y == 0) == 2 * np.sum(y == 1)
    assert np.any(d[y == 0] < 0) and np.any(d[y == 0] > 0)


def test_the_inference_path_equals_the_network_on_full_patches(tiny_model):
    """What segmentation scores with (the active inputs only) is what training trained."""
    net = tiny_model.classifier
    fast = ActiveNet(net)
    full = np.random.default_rng(0).uniform(0, 255, (500, net.config.n_inputs))
    full = full.astype(np.float32)
    expected = net(torch.from_numpy(full)).detach().numpy()
    np.testing.assert_allclose(fast(full[:, fast.columns]), expected, rtol=1e-4, atol=1e-4)


def test_trained_classifier_separates_boundary_from_background(tiny_boundary,
                                                               tiny_boundary_config):
    rep = tiny_boundary[1].figures["classifier"]
    assert rep["val"]["auc"] > 0.85
    by_d = rep["val_by_distance"]
    assert by_d["0-0.5mm"] > by_d["1.5-3mm"] > by_d["5-infmm"]
    n_inputs = tiny_boundary_config.classifier.patch.n_inputs
    assert rep["active_per_filter"] < n_inputs  # a sparse first layer


def test_training_is_deterministic_in_the_seed(tiny_model, boundary_cases,
                                               tiny_boundary_config):
    again, _ = train_boundary(boundary_cases, config=tiny_boundary_config, seed=0)
    for k, v in tiny_model.classifier.state_dict().items():
        assert torch.equal(v, again.classifier.state_dict()[k]), k
    np.testing.assert_array_equal(again.shape_space.modes, tiny_model.shape_space.modes)


def test_the_classifier_s_rounds_are_reported_under_its_name(boundary_cases,
                                                             tiny_boundary_config):
    """The Train widget plots curves per network: the boundary classifier's rounds come
    as ``boundary: <phase>``, with their losses."""
    stages, figures = [], []

    class Recorder:
        def __call__(self, stage, done, total):
            stages.append(stage)

        def figures(self, stage, values):
            figures.append((stage, values))

    train_boundary(boundary_cases[:3], config=tiny_boundary_config, seed=0,
                   progress=Recorder())
    assert "boundary: pretrain" in stages
    rounds = [s for s, v in figures if "train_loss" in v]
    assert rounds and all(s.startswith("boundary: ") for s in rounds), rounds
