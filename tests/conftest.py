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

NO_DISPLAY = ("no display: the GUI tests need an X display; install Xvfb (Debian: apt-get "
              "install xvfb) and pytest-xvfb, in the test extra, starts one by itself")


def pytest_collection_modifyitems(config, items):
    """Without a display napari aborts the whole run in Qt: skip the GUI tests instead, and
    say why."""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    skip = pytest.mark.skip(reason=NO_DISPLAY)
    for item in items:
        if "gui" in item.keywords or "make_napari_viewer" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_detector(tmp_path_factory):
    """A tiny detector trained once per session on ten small phantoms (seconds), with its
    dataset: ``(model_folder, dataset_folder)``. The bundle has no boundary model."""
    from napari_msdl.dataset import create_dataset, put_case
    from napari_msdl.phantoms import make_phantom
    from napari_msdl.training import tiny_config, train_bundle

    root = tmp_path_factory.mktemp("tiny-detector")
    ds = create_dataset(root / "data")
    for i in range(10):
        case = make_phantom(1000 + i, shape=(56, 56, 44), spacing=1.0)
        put_case(ds, f"c{i}", case.volume, case.pose, case.mesh)
    train_bundle(ds, root / "model", tiny_config(val_ids=("c9",)), boundary=None, seed=0,
                 command="test")
    return root / "model", root / "data"


TINY_BOUNDARY = dict(n_normal=9, normal_step_mm=1.0, n_tangent=3, tangent_step_mm=2.0)


@pytest.fixture(scope="session")
def tiny_valve_model(tiny_detector, tmp_path_factory):
    """The tiny detector's bundle plus a tiny boundary model trained on the same ten
    phantoms: a complete bundle folder (box and mesh)."""
    from napari_msdl.boundary import PatchSpec
    from napari_msdl.sparse import SparseTrainingConfig
    from napari_msdl.training import BoundaryConfig, ClassifierConfig, add_boundary

    folder = tmp_path_factory.mktemp("tiny-valve") / "model"
    config = BoundaryConfig(classifier=ClassifierConfig(
        patch=PatchSpec(**TINY_BOUNDARY), hidden=(16, 8), vertices_per_case=200, val_every=3,
        sparse=SparseTrainingConfig(pretrain_epochs=1, rounds=2, epochs_per_round=1,
                                    target_sparsity=0.7, batch_size=512)))
    add_boundary(tiny_detector[0], tiny_detector[1], folder, config, seed=0, command="test")
    return folder


BOUNDARY_SHAPE = (96, 96, 64)
BOUNDARY_SPACING = 1.0
TRAIN_SEEDS = (0, 1, 2, 4, 5, 8)
TEST_SEED = 7


@pytest.fixture(scope="session")
def train_cases():
    """Six 96x96x64 phantoms at 1 mm (boundary training)."""
    from napari_msdl.phantoms import make_phantom

    return [make_phantom(s, BOUNDARY_SHAPE, BOUNDARY_SPACING) for s in TRAIN_SEEDS]


@pytest.fixture(scope="session")
def unseen_case():
    """An unseen phantom of the same size."""
    from napari_msdl.phantoms import make_phantom

    return make_phantom(TEST_SEED, BOUNDARY_SHAPE, BOUNDARY_SPACING)


def as_tuples(cases):
    return [(c.volume, c.pose, c.mesh) for c in cases]


@pytest.fixture(scope="session")
def boundary_cases(train_cases):
    """The boundary training phantoms as ``(volume, pose, mesh)`` tuples."""
    return as_tuples(train_cases)


@pytest.fixture(scope="session")
def tiny_boundary_config():
    """Small enough to train in a few seconds; good enough to pull a mesh onto the wall."""
    from napari_msdl.boundary import PatchSpec
    from napari_msdl.sparse import SparseTrainingConfig
    from napari_msdl.training import BoundaryConfig, ClassifierConfig

    return BoundaryConfig(classifier=ClassifierConfig(
        patch=PatchSpec(**TINY_BOUNDARY), hidden=(16, 8), vertices_per_case=250, val_every=3,
        sparse=SparseTrainingConfig(pretrain_epochs=2, rounds=2, epochs_per_round=1,
                                    target_sparsity=0.7, batch_size=512)),
        shape_variance=0.98)


@pytest.fixture(scope="session")
def tiny_boundary(boundary_cases, tiny_boundary_config):
    """A boundary model trained with the tiny config, seed 0, and its training record."""
    from napari_msdl.training import train_boundary

    return train_boundary(boundary_cases, config=tiny_boundary_config, seed=0)


@pytest.fixture(scope="session")
def tiny_model(tiny_boundary):
    """The tiny boundary model."""
    return tiny_boundary[0]


@pytest.fixture(scope="session")
def look_alike():
    """A phantom beside a brighter, blurred copy of itself: a ring-shaped look-alike
    (left, x < 56 mm) that the tiny detector prefers to the valve (right), and the truth
    moved to the right."""
    import numpy as np
    from scipy import ndimage

    from napari_msdl.geometry import Pose
    from napari_msdl.phantoms import make_phantom
    from napari_msdl.volume import Volume

    case = make_phantom(2001, shape=(56, 56, 44), spacing=1.0)
    a = case.volume.data.astype(np.float32)
    look_alike = 1.5 * ndimage.gaussian_filter(a, 2.0)
    volume = Volume(np.concatenate([look_alike, a], axis=0), case.volume.spacing)
    truth = Pose(case.pose.center + [56.0, 0, 0], case.pose.angles, case.pose.size)
    return volume, truth
