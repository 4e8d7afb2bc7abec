"""SparseLinear: the mask, its enforcement under Adam, the inference paths, the pattern."""

import numpy as np
import pytest
import torch

from napari_msdl.sparse import SparseLinear
from napari_msdl.sparse.grid import grid_offsets


def _random_mask(layer: SparseLinear, density: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(layer.mask.shape, generator=g) < density).float()
    mask[:, 0] = 1.0  # every filter keeps at least one input
    layer.set_mask_(mask)
    return mask


def test_starts_dense_and_matches_linear():
    layer = SparseLinear(20, 5, seed=0)
    assert torch.equal(layer.mask, torch.ones(5, 20))
    assert layer.density == 1.0 and layer.n_active.tolist() == [20] * 5
    x = torch.randn(7, 20)
    expected = torch.nn.functional.linear(x, layer.weight, layer.bias)
    torch.testing.assert_close(layer(x), expected)


def test_seeded_init_is_deterministic():
    a, b, c = SparseLinear(30, 4, seed=3), SparseLinear(30, 4, seed=3), SparseLinear(30, 4, seed=4)
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    assert not torch.equal(a.weight, c.weight)


def test_masked_weights_get_no_gradient():
    layer = SparseLinear(16, 3, seed=0)
    mask = _random_mask(layer, 0.3, seed=1)
    layer(torch.randn(9, 16)).pow(2).sum().backward()
    assert torch.all(layer.weight.grad[mask == 0] == 0)
    assert torch.any(layer.weight.grad[mask == 1] != 0)


def test_masked_weights_stay_exactly_zero_under_adam_with_old_state():
    layer = SparseLinear(16, 4, seed=0)
    opt = torch.optim.Adam(layer.parameters(), lr=1e-2, weight_decay=1e-3)
    x = torch.randn(32, 16)
    for _ in range(3):  # build Adam moments on every weight while dense
        opt.zero_grad()
        layer(x).pow(2).mean().backward()
        opt.step()
    mask = _random_mask(layer, 0.25, seed=2)
    layer.apply_mask_(opt)
    state = opt.state[layer.weight]
    assert torch.all(state["exp_avg"][mask == 0] == 0)
    assert torch.all(state["exp_avg_sq"][mask == 0] == 0)
    for _ in range(5):
        opt.zero_grad()
        layer(x).pow(2).mean().backward()
        opt.step()
        layer.apply_mask_(opt)
        assert torch.all(layer.weight[mask == 0] == 0)
    assert torch.all(layer.weight[mask == 1] != 0)


def test_set_mask_validates():
    layer = SparseLinear(8, 2)
    with pytest.raises(ValueError, match="shape"):
        layer.set_mask_(np.ones((3, 8)))
    with pytest.raises(ValueError, match="0 and 1"):
        layer.set_mask_(np.full((2, 8), 0.5))


@pytest.mark.parametrize("method", ["union", "gather"])
def test_forward_active_matches_forward(method):
    layer = SparseLinear(64, 6, seed=0)
    _random_mask(layer, 0.1, seed=3)
    x = torch.randn(50, 64)
    cols = layer.active_inputs()
    assert torch.equal(cols, torch.sort(cols).values)
    assert cols.tolist() == sorted(set(np.nonzero(layer.mask.numpy())[1].tolist()))
    weight, bias = layer.compact()
    assert weight.shape == (6, cols.numel())
    torch.testing.assert_close(layer.forward_active(x[:, cols], method=method), layer(x),
                               rtol=1e-5, atol=1e-5)


def test_forward_active_rejects_wrong_width():
    layer = SparseLinear(27, 2)
    _random_mask(layer, 0.2, seed=0)
    with pytest.raises(ValueError, match="active inputs"):
        layer.forward_active(torch.zeros(3, 27))
    with pytest.raises(ValueError, match="method"):
        layer.forward_active(torch.zeros(3, layer.active_inputs().numel()), method="csr")


def test_pattern_export_on_the_grid():
    layer = SparseLinear(64, 3, seed=0)  # a 4^3 grid
    mask = _random_mask(layer, 0.2, seed=4)
    patterns = layer.pattern()
    assert [p.filter for p in patterns] == [0, 1, 2]
    offsets = grid_offsets(4)
    for p in patterns:
        np.testing.assert_array_equal(p.inputs, np.nonzero(mask[p.filter].numpy())[0])
        np.testing.assert_array_equal(p.ijk, np.stack(np.unravel_index(p.inputs, (4, 4, 4)), 1))
        np.testing.assert_allclose(p.offsets, offsets[p.inputs])
        np.testing.assert_allclose(p.weights, layer.weight[p.filter, p.inputs].detach().numpy())
        assert p.n_active == layer.n_active[p.filter]
        assert p.bias == pytest.approx(layer.bias[p.filter].item())
    counts = layer.usage_counts()
    assert counts.shape == (4, 4, 4)
    np.testing.assert_array_equal(counts.ravel(), mask.sum(0).numpy().astype(int))


def test_pattern_of_the_detector_grid():
    layer = SparseLinear(5832, 2, seed=0)
    _random_mask(layer, 0.02, seed=5)
    p = layer.filter_pattern(1)
    assert p.ijk.max() <= 17 and np.all(np.abs(p.offsets) < 0.5)
    assert layer.usage_counts().shape == (18, 18, 18)


def test_pattern_needs_a_cube():
    with pytest.raises(ValueError, match="cube"):
        SparseLinear(50, 2).pattern()
