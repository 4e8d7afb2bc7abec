"""Shared test setup: napari's settings and caches go to a temporary folder."""

import atexit
import os
import shutil
import tempfile

_state = tempfile.mkdtemp(prefix="napari-msdl-tests-")
os.chmod(_state, 0o700)
atexit.register(shutil.rmtree, _state, ignore_errors=True)
for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR"):
    os.environ.setdefault(var, _state)
os.environ.setdefault("NAPARI_CONFIG", os.path.join(_state, "napari-settings.yaml"))
os.environ.pop("QT_QPA_PLATFORM", None)


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_detector(tmp_path_factory):
    """A tiny detector trained once per session on ten small phantoms (seconds), with its
    dataset: ``(model_folder, dataset_folder)``. The folder has no boundary model."""
    from napari_msdl.phantoms import make_phantom
    from napari_msdl.training.datasets import create_dataset, put_case
    from napari_msdl.training.train import tiny_config, train_detector

    root = tmp_path_factory.mktemp("tiny-detector")
    ds = create_dataset(root / "data")
    for i in range(10):
        case = make_phantom(1000 + i, shape=(56, 56, 44), spacing=1.0)
        put_case(ds, f"c{i}", case.volume, case.pose, case.mesh)
    train_detector(ds, root / "model", tiny_config(val_ids=("c9",)), seed=0, command="test")
    return root / "model", root / "data"


@pytest.fixture(scope="session")
def tiny_valve_model(tiny_detector, tmp_path_factory):
    """The tiny detector's bundle plus a tiny boundary model trained on the same ten
    phantoms: a complete bundle folder (box and mesh)."""
    import shutil

    from napari_msdl.boundary import (
        BoundaryConfig,
        ClassifierConfig,
        PatchSpec,
        dataset_cases,
        train_boundary,
    )
    from napari_msdl.sparse import SparseTrainingConfig
    from napari_msdl.training.datasets import Dataset

    folder = tmp_path_factory.mktemp("tiny-valve") / "model"
    shutil.copytree(tiny_detector[0], folder)
    config = BoundaryConfig(classifier=ClassifierConfig(
        patch=PatchSpec(n_normal=9, normal_step_mm=1.0, n_tangent=3, tangent_step_mm=2.0),
        hidden=(16, 8), vertices_per_case=200, val_every=3,
        sparse=SparseTrainingConfig(pretrain_epochs=1, rounds=2, epochs_per_round=1,
                                    target_sparsity=0.7, batch_size=512)))
    train_boundary(dataset_cases(Dataset.open(tiny_detector[1])), config=config,
                   seed=0).save(folder)
    return folder
