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
    """A tiny detector trained once per session on six small phantoms (seconds), with its
    dataset: ``(model_folder, dataset_folder)``."""
    from napari_msdl.phantoms import make_phantom
    from napari_msdl.training.datasets import create_dataset, put_case
    from napari_msdl.training.train import tiny_config, train_detector

    root = tmp_path_factory.mktemp("tiny-detector")
    ds = create_dataset(root / "data")
    for i in range(6):
        case = make_phantom(1000 + i, shape=(56, 56, 44), spacing=1.0)
        put_case(ds, f"c{i}", case.volume, case.pose, case.mesh)
    train_detector(ds, root / "model", tiny_config(val_ids=("c5",)), seed=0, command="test")
    return root / "model", root / "data"
