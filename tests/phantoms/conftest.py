"""Seeded small phantoms shared by the phantom tests (generated once per session)."""

import pytest

from napari_msdl.phantoms import make_phantom

SMALL_SHAPE = (64, 64, 48)
SMALL_SPACING = 1.0
SEEDS = (0, 1, 2, 3, 4, 5)


@pytest.fixture(scope="session")
def small_cases():
    """Six 64x64x48 phantoms at 1 mm (seeds 0-5)."""
    return [make_phantom(s, SMALL_SHAPE, SMALL_SPACING) for s in SEEDS]


@pytest.fixture(scope="session")
def medium_cases():
    """Six 112x112x80 phantoms at 1 mm (seeds 10-15): room to place the valve freely."""
    return [make_phantom(s, (112, 112, 80), 1.0) for s in range(10, 16)]
