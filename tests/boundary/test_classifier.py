"""The boundary classifier: samples, fast inference, training figures, determinism."""

import numpy as np
import torch

from napari_msdl.boundary import CompiledClassifier, train_boundary
from napari_msdl.boundary.classifier import ClassifierConfig, boundary_samples
from napari_msdl.phantoms import TOPOLOGY

from .conftest import TINY, as_tuples


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


def test_compiled_classifier_equals_the_network(tiny_model):
    net = tiny_model.classifier
    fast = CompiledClassifier.from_network(net)
    x = np.random.default_rng(0).uniform(0, 255, (500, len(fast.columns))).astype(np.float32)
    expected = net.forward_active(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(fast.logits(x), expected, rtol=1e-4, atol=1e-4)


def test_trained_classifier_separates_boundary_from_background(tiny_model):
    rep = tiny_model.card["classifier"]
    assert rep["val"]["auc"] > 0.85
    by_d = rep["val_by_distance"]
    assert by_d["0-0.5mm"] > by_d["1.5-3mm"] > by_d["5-infmm"]
    assert rep["active_per_filter"] < TINY.classifier.patch.n_inputs  # sparse first layer


def test_training_is_deterministic_in_the_seed(tiny_model, train_cases):
    again = train_boundary(as_tuples(train_cases), config=TINY, seed=0)
    for k, v in tiny_model.classifier.state_dict().items():
        assert torch.equal(v, again.classifier.state_dict()[k]), k
    np.testing.assert_array_equal(again.shape_space.modes, tiny_model.shape_space.modes)
