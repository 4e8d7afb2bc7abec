"""The seed's networks: sizes, forward vs forward_active, normalisation, config round trip."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from napari_msdl.sparse import (
    SADNN,
    NetworkConfig,
    SparseLinear,
    cascade_net_config,
    main_net_config,
)


def _sparsify(model: SADNN, density: float, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(model.first.mask.shape, generator=g) < density).float()
    mask[:, 0] = 1.0
    model.first.set_mask_(mask)


def test_seed_architectures():
    cascade, main = SADNN(cascade_net_config()), SADNN(main_net_config())
    assert isinstance(cascade.first, SparseLinear)
    assert cascade.first.weight.shape == (60, 5832)
    shapes = [tuple(m.weight.shape) for m in main.modules() if hasattr(m, "weight")]
    assert shapes == [(150, 5832), (80, 150), (50, 80), (1, 50)]
    assert SADNN(cascade_net_config()).forward(torch.randn(3, 5832)).shape == (3,)


def test_forward_and_forward_active_agree_on_the_full_grid():
    model = SADNN(main_net_config(), seed=1)
    _sparsify(model, 0.03, seed=2)
    x = torch.rand(20, 5832) * 200 + 50
    cols = model.active_inputs()
    assert cols.numel() < 5832
    full = model(x).detach()
    torch.testing.assert_close(model.forward_active(x[:, cols]), full, rtol=1e-4, atol=1e-4)


def test_dense_model_reads_everything():
    model = SADNN(NetworkConfig(n_inputs=64, hidden=(8,), dense=True), seed=0)
    assert not model.sparse_layers and "first.mask" not in model.state_dict()
    x = torch.randn(5, 64)
    assert model.active_inputs().tolist() == list(range(64))
    torch.testing.assert_close(model.forward_active(x), model(x).detach())


def test_normalisation_is_per_patch_over_the_active_union():
    model = SADNN(NetworkConfig(n_inputs=64, hidden=(8, 4)), seed=0)
    _sparsify(model, 0.2, seed=1)
    x = torch.randn(6, 64)
    ref = model(x).detach()
    gain = torch.tensor([[0.5], [2.0], [3.0], [10.0], [1.0], [7.0]])
    torch.testing.assert_close(model(x * gain + 40.0).detach(), ref, rtol=1e-3, atol=1e-3)
    unused = torch.ones(64, dtype=torch.bool)
    unused[model.active_inputs()] = False
    x2 = x.clone()
    x2[:, unused] = 1e4  # inputs no filter reads change nothing, not even the statistics
    torch.testing.assert_close(model(x2).detach(), ref)


def test_predict_proba_accepts_full_or_active_inputs():
    model = SADNN(NetworkConfig(n_inputs=27, hidden=(5,)), seed=0)
    _sparsify(model, 0.3, seed=0)
    x = np.random.default_rng(0).normal(size=(4, 27)).astype(np.float32)
    p_full = model.predict_proba(x)
    p_active = model.predict_proba(x[:, model.active_inputs().numpy()])
    assert isinstance(p_full, np.ndarray) and p_full.shape == (4,)
    np.testing.assert_allclose(p_full, p_active, rtol=1e-5)
    assert np.all((p_full > 0) & (p_full < 1))
    assert torch.is_tensor(model.predict_proba(torch.from_numpy(x)))
    with pytest.raises(ValueError, match="received"):
        model.predict_proba(x[:, :3])


def test_config_and_state_round_trip(tmp_path):
    model = SADNN(NetworkConfig(n_inputs=64, hidden=(9, 4)), seed=3)
    _sparsify(model, 0.25, seed=4)
    doc = json.loads(json.dumps(model.to_config()))
    state = model.state_dict()
    assert all(torch.is_tensor(v) for v in state.values()) and "first.mask" in state
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "net.safetensors")
    clone = SADNN.from_config(doc, seed=99)
    clone.load_state_dict(load_file(tmp_path / "net.safetensors"))
    assert clone.config == model.config
    x = torch.randn(8, 64)
    torch.testing.assert_close(clone(x), model(x))
    assert torch.equal(clone.active_inputs(), model.active_inputs())


def test_config_validation():
    assert NetworkConfig.from_dict(cascade_net_config().to_dict()) == cascade_net_config()
    with pytest.raises(ValueError, match="unknown"):
        NetworkConfig.from_dict({"hidden": [3], "layers": 2})
    with pytest.raises(ValueError, match="version"):
        NetworkConfig.from_dict({"hidden": [3], "version": 99})
    with pytest.raises(ValueError, match="hidden"):
        NetworkConfig(hidden=())


def test_seeded_construction():
    a = SADNN(NetworkConfig(n_inputs=27, hidden=(4,)), seed=5).state_dict()
    b = SADNN(NetworkConfig(n_inputs=27, hidden=(4,)), seed=5).state_dict()
    c = SADNN(NetworkConfig(n_inputs=27, hidden=(4,)), seed=6).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["first.weight"], c["first.weight"])


def test_bad_input_shape():
    model = SADNN(NetworkConfig(n_inputs=27, hidden=(4,)))
    with pytest.raises(ValueError, match=r"\(N, 27\)"):
        model(torch.zeros(3, 26))


def test_half_precision_samples_are_kept_half_and_scored_in_float32():
    from napari_msdl.sparse import SampleSet

    rng = np.random.default_rng(0)
    x = (rng.random((20, 5832)) * 4).astype(np.float16)
    data = SampleSet(x, np.zeros(20))
    assert data.x.dtype == torch.float16  # half the memory of float32
    net = SADNN(cascade_net_config(), seed=0)
    with torch.no_grad():
        np.testing.assert_allclose(net(data.x).numpy(), net(data.x.float()).numpy(), rtol=1e-6)


def test_taps_are_each_filters_nonzero_weights():
    """ActiveNet.taps(): per filter the positions and values of its nonzero first-layer
    weights (padded with zero weights), which rebuild the compacted layer exactly."""
    from napari_msdl.sparse.networks import ActiveNet

    model = SADNN(main_net_config(), seed=3)
    _sparsify(model, 0.004, seed=4)
    net = ActiveNet(model)
    taps = net.taps()
    dense = np.zeros((net.weight_t.shape[1], net.n_active), dtype=np.float32)
    for j in range(dense.shape[0]):
        np.add.at(dense[j], taps.tap_index[j], taps.tap_weight[j])
    np.testing.assert_array_equal(dense, net.weight_t.t().numpy())
    nonzero = (net.weight_t != 0).sum(0).numpy()
    assert taps.tap_index.shape[1] == nonzero.max() < net.n_active
    np.testing.assert_array_equal((taps.tap_weight != 0).sum(1), nonzero)
    np.testing.assert_array_equal(taps.bias, model.first.bias.detach().numpy())
    assert net.taps() is taps  # made once


def test_only_sparse_first_layers_are_fused():
    """A dense (or lightly pruned) first layer is faster as one dense product: the fused
    kernels take only layers whose filters each read at most 1/FUSE_BELOW of the inputs."""
    from napari_msdl.sparse.networks import FUSE_BELOW, ActiveNet

    sparse = SADNN(main_net_config(), seed=3)
    _sparsify(sparse, 0.004, seed=4)
    assert ActiveNet(sparse).fusable
    dense = SADNN(NetworkConfig(n_inputs=640, hidden=(8,), dense=True), seed=0)
    assert not ActiveNet(dense).fusable
    half = SADNN(main_net_config(), seed=5)
    _sparsify(half, 2.0 / FUSE_BELOW, seed=6)
    assert not ActiveNet(half).fusable
