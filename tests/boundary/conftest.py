"""Seeded small phantoms and a tiny boundary model trained on them (once per session)."""

import pytest

from napari_msdl.boundary import BoundaryConfig, ClassifierConfig, PatchSpec, train_boundary
from napari_msdl.phantoms import make_phantom
from napari_msdl.sparse import SparseTrainingConfig

SHAPE = (96, 96, 64)
SPACING = 1.0
TRAIN_SEEDS = (0, 1, 2, 4, 5, 8)
TEST_SEED = 7

TINY = BoundaryConfig(
    classifier=ClassifierConfig(
        patch=PatchSpec(n_normal=9, normal_step_mm=1.0, n_tangent=3, tangent_step_mm=2.0),
        hidden=(16, 8), vertices_per_case=250, val_every=3,
        sparse=SparseTrainingConfig(pretrain_epochs=2, rounds=2, epochs_per_round=1,
                                    target_sparsity=0.7, batch_size=512)),
    shape_variance=0.98)
"""Small enough to train in a few seconds; good enough to pull a mesh onto the wall."""


@pytest.fixture(scope="session")
def train_cases():
    """Six 96x96x64 phantoms at 1 mm."""
    return [make_phantom(s, SHAPE, SPACING) for s in TRAIN_SEEDS]


@pytest.fixture(scope="session")
def unseen_case():
    """An unseen phantom of the same size."""
    return make_phantom(TEST_SEED, SHAPE, SPACING)


def as_tuples(cases):
    return [(c.volume, c.pose, c.mesh) for c in cases]


@pytest.fixture(scope="session")
def tiny_model(train_cases):
    """A boundary model with the tiny config, seed 0."""
    return train_boundary(as_tuples(train_cases), config=TINY, seed=0)
