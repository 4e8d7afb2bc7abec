"""Fine-tuning a bundle on a few cases of another domain: it keeps its boundary model and
each network's sparsity map, records its parent, and finds the new domain's valves better
than its parent does."""

from dataclasses import replace

import numpy as np
import pytest

from napari_msdl.bundle import load_bundle
from napari_msdl.dataset import create_dataset, put_case
from napari_msdl.detector import detect
from napari_msdl.geometry import position_error
from napari_msdl.phantoms import make_phantom
from napari_msdl.phantoms.domains import DOMAINS
from napari_msdl.training import fine_tune_bundle, fine_tune_config
from napari_msdl.training.stage import FINE_TUNE

NEW_DOMAIN = replace(DOMAINS["shifted"], sector_scale=1.0, anatomy_scale=1.15)
"""The adaptation domain at the tiny model's scale (larger roots, thicker leaflets, coarser
speckle, darker; the full sector, as small volumes have little room)."""
SHAPE = (64, 64, 56)
QUICK = replace(FINE_TUNE, pretrain_epochs=2, epochs_per_round=2)


def _new_domain_case(seed):
    return make_phantom(seed, shape=SHAPE, spacing=1.0, domain=NEW_DOMAIN)


@pytest.fixture(scope="module")
def new_domain_data(tmp_path_factory):
    ds = create_dataset(tmp_path_factory.mktemp("new-domain") / "data")
    for i in range(6):
        case = _new_domain_case(2000 + i)
        put_case(ds, f"n{i}", case.volume, case.pose, case.mesh)
    return ds


@pytest.fixture(scope="module")
def fine_tuned(tiny_valve_model, new_domain_data, tmp_path_factory):

    from napari_msdl.sparse import SparseTrainingConfig
    from napari_msdl.training import BoundaryConfig, ClassifierConfig

    parent = load_bundle(tiny_valve_model)
    config = fine_tune_config(parent, new_domain_data, 0)
    config = replace(config, augment=replace(config.augment, copies=4))
    boundary = BoundaryConfig(classifier=ClassifierConfig(
        patch=parent.boundary.patch, hidden=(16, 8), vertices_per_case=200, val_every=3,
        sparse=SparseTrainingConfig(pretrain_epochs=1, rounds=1, epochs_per_round=1,
                                    batch_size=512)))
    out = tmp_path_factory.mktemp("fine-tuned") / "model"
    fine_tune_bundle(parent, new_domain_data, out, config, boundary, seed=0,
                     command="test", fine_tune=QUICK)
    return parent, load_bundle(out)


def test_a_fine_tuned_bundle_finds_the_new_domain_better_than_its_parent(fine_tuned):
    parent, tuned = fine_tuned
    held_out = [_new_domain_case(3000 + i) for i in range(4)]
    errors = {name: np.array([position_error(detect(c.volume, m.detector).pose, c.pose)
                              for c in held_out])
              for name, m in (("parent", parent), ("tuned", tuned))}
    assert errors["tuned"].mean() < 0.6 * errors["parent"].mean(), errors
    assert errors["tuned"].mean() < 5.0, errors


def test_a_fine_tuned_bundle_records_its_parent_and_keeps_its_boundary(fine_tuned,
                                                                        tiny_valve_model,
                                                                        new_domain_data):
    parent, tuned = fine_tuned
    entry = tuned.card.history[-1]
    assert entry.action == "fine-tuned"
    assert entry.parent == str(tiny_valve_model)
    assert entry.parameters["dataset"] == str(new_domain_data.root.resolve())
    assert entry.parameters["augment_copies"] == 4
    assert entry.parameters["fine_tune"]["epochs_per_round"] == QUICK.epochs_per_round
    assert "target_active_inputs" not in entry.parameters["fine_tune"]  # each keeps its own
    assert entry.parameters["boundary"] == "fine-tuned on 6 meshes"
    # with a boundary model, the validation cases are detected again as find_valve does
    from napari_msdl.training.bundle_training import VERIFIED

    verified = tuned.card.detector.figures[VERIFIED]
    n_val = tuned.card.detector.data["val_cases"]
    assert verified["position_error"]["n"] == verified["failures"]["of"] == n_val
    assert entry.figures[VERIFIED] == verified
    assert verified["seconds"]["mean"] > tuned.card.detector.figures["validation"][
        "seconds"]["mean"]  # the segmentation it adds
    assert [e.action for e in tuned.card.history[:-1]] == [e.action for e in parent.card.history]
    assert tuned.boundary is not None
    np.testing.assert_array_equal(tuned.boundary.faces, parent.boundary.faces)
    assert tuned.boundary.patch == parent.boundary.patch


def test_a_fine_tuned_bundle_keeps_every_networks_sparsity_map(fine_tuned):
    parent, tuned = fine_tuned
    before, after = parent.detector.networks(), tuned.detector.networks()
    assert list(before) == list(after)
    changed = 0
    for name, net in before.items():
        for a, b in zip(net.sparse_layers, after[name].sparse_layers, strict=True):
            np.testing.assert_array_equal(a.mask.numpy(), b.mask.numpy(), err_msg=name)
        weights = zip(net.state_dict().values(), after[name].state_dict().values(), strict=True)
        changed += any(not np.array_equal(w0.numpy(), w1.numpy()) for w0, w1 in weights)
    assert changed == len(before), "every network was trained"


def test_meshes_of_another_topology_keep_the_parents_boundary_and_say_why(
        tiny_valve_model, tmp_path):
    import trimesh

    ds = create_dataset(tmp_path / "spheres")
    for i in range(2):
        case = _new_domain_case(2100 + i)
        sphere = trimesh.creation.icosphere(subdivisions=2, radius=8.0)
        sphere.apply_translation(case.pose.center)
        put_case(ds, f"s{i}", case.volume, case.pose, sphere)
    parent = load_bundle(tiny_valve_model)
    config = fine_tune_config(parent, ds, 0)
    config = replace(config, augment=replace(config.augment, copies=0))
    tuned = fine_tune_bundle(parent, ds, None, config, seed=0,
                             fine_tune=replace(FINE_TUNE, pretrain_epochs=1,
                                               epochs_per_round=1))
    reason = tuned.card.history[-1].parameters["boundary"]
    assert reason.startswith("kept the parent's") and "s0" in reason, reason
    assert tuned.boundary is parent.boundary


def test_a_dense_model_cannot_be_fine_tuned(tiny_valve_model, new_domain_data, monkeypatch):
    parent = load_bundle(tiny_valve_model)
    monkeypatch.setattr(parent.detector, "dense", True)
    with pytest.raises(ValueError, match="dense baseline cannot be fine-tuned"):
        fine_tune_bundle(parent, new_domain_data, None)
