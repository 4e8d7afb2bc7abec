"""The ``Volume`` type: a 3D array with its spacing and origin in mm.

Physical coordinates follow DESIGN.md: ``p[d] = origin[d] + index[d] * spacing[d]`` for
array axes d = 0, 1, 2 (the seed's x, y, z). napari shows a volume with
``scale=spacing`` and ``translate=origin``, so a physical point is a world coordinate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Volume:
    """A validated 3D image: ``data`` (3D, finite, non-empty), ``spacing`` (3, mm, > 0) and
    ``origin`` (3, mm). Raises ``ValueError`` saying what was received."""

    data: np.ndarray
    spacing: np.ndarray
    origin: np.ndarray

    def __init__(
        self,
        data: np.ndarray,
        spacing: Sequence[float] = (1.0, 1.0, 1.0),
        origin: Sequence[float] = (0.0, 0.0, 0.0),
    ):
        data = np.asarray(data)
        if data.ndim != 3:
            raise ValueError(
                f"a volume must be a 3D array, got {data.ndim}D with shape {data.shape}")
        if data.size == 0:
            raise ValueError(f"a volume must not be empty, got shape {data.shape}")
        if not (np.issubdtype(data.dtype, np.number) or data.dtype == bool):
            raise ValueError(f"a volume must hold numbers, got dtype {data.dtype}")
        if np.issubdtype(data.dtype, np.complexfloating):
            raise ValueError(f"a volume must be real-valued, got dtype {data.dtype}")
        if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
            bad = int(np.count_nonzero(~np.isfinite(data)))
            raise ValueError(f"a volume must be finite, got {bad} NaN or infinite values")
        spacing = np.array(spacing, dtype=np.float64).reshape(-1)
        origin = np.array(origin, dtype=np.float64).reshape(-1)
        if spacing.shape != (3,) or not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
            raise ValueError(
                f"spacing must be 3 positive finite values (mm), got {spacing.tolist()}")
        if origin.shape != (3,) or not np.all(np.isfinite(origin)):
            raise ValueError(f"origin must be 3 finite values (mm), got {origin.tolist()}")
        spacing.setflags(write=False)
        origin.setflags(write=False)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", origin)

    def __repr__(self) -> str:
        return (f"Volume(shape={self.shape}, dtype={self.data.dtype}, "
                f"spacing={self.spacing.tolist()}, origin={self.origin.tolist()})")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.data.shape)  # type: ignore[return-value]

    @property
    def extent(self) -> np.ndarray:
        """Physical size (mm) spanned by voxel centers: ``(shape - 1) * spacing``."""
        return (np.array(self.shape) - 1) * self.spacing

    def index_to_world(self, index) -> np.ndarray:
        """Voxel indices (..., 3), possibly fractional, to physical mm."""
        return self.origin + np.asarray(index, dtype=np.float64) * self.spacing

    def world_to_index(self, points) -> np.ndarray:
        """Physical mm (..., 3) to fractional voxel indices."""
        return (np.asarray(points, dtype=np.float64) - self.origin) / self.spacing

    def is_constant(self) -> bool:
        """True when every voxel has the same value (analysis steps refuse such volumes)."""
        flat = self.data.reshape(-1)
        return bool(np.all(flat == flat[0]))

    def require_contrast(self, what: str = "this step") -> None:
        """Raise ``ValueError`` if the volume is constant: nothing can be detected in it."""
        if self.is_constant():
            raise ValueError(f"{what} needs image contrast, but the volume is constant "
                             f"(every voxel is {self.data.reshape(-1)[0]!r})")
