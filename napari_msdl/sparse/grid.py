"""The 18x18x18 sampling grid that every detector hypothesis is described by.

Input ``f`` of a stage's network (0 <= f < 5832) is the trilinear sample at grid point
``(i, j, k) = np.unravel_index(f, (18, 18, 18))`` (C order: ``f = i*324 + j*18 + k``),
placed at the unit-box offset ``(idx + 0.5) / 18 - 0.5`` along box axes x, y, z. So the
grid covers the box ``[-1/2, 1/2]^3`` with cell-centred points, and a box-to-world map
(:func:`napari_msdl.geometry.box_to_world_points`) turns offsets into world mm.
"""

from __future__ import annotations

import numpy as np

GRID_SIZE = 18
N_INPUTS = GRID_SIZE**3  # 5832, the seed's input size


def grid_ijk(n: int = GRID_SIZE) -> np.ndarray:
    """(n^3, 3) integer grid indices in input order."""
    return np.stack(np.unravel_index(np.arange(n**3), (n, n, n)), axis=-1).astype(np.int64)


def grid_offsets(n: int = GRID_SIZE) -> np.ndarray:
    """(n^3, 3) unit-box offsets in input order, in ``(-1/2, 1/2)``."""
    return (grid_ijk(n) + 0.5) / n - 0.5


def flat_to_ijk(flat, n: int = GRID_SIZE) -> np.ndarray:
    """Input indices (K,) to grid indices (K, 3)."""
    return np.stack(np.unravel_index(np.asarray(flat), (n, n, n)), axis=-1).astype(np.int64)


def ijk_to_offsets(ijk, n: int = GRID_SIZE) -> np.ndarray:
    """Grid indices (K, 3) to unit-box offsets (K, 3)."""
    return (np.asarray(ijk, dtype=np.float64) + 0.5) / n - 0.5
