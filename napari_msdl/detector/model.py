"""The trained detector in memory: hypothesis ranges, each stage's networks, defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from napari_msdl.detector.cascade import StageNets
from napari_msdl.detector.features import FeatureVolume
from napari_msdl.detector.hypotheses import OrientationSet, SizeSet, feature_volume
from napari_msdl.sparse.grid import GRID_SIZE
from napari_msdl.volume.volume import Volume

STAGES = ("position", "orientation", "scale")
"""The marginal spaces, in the order detection searches them."""


@dataclass(frozen=True)
class SearchParams:
    """How many hypotheses detection tries and keeps per stage (overridable per call).

    ``position_stride`` is in feature-volume voxels (``mean_size / 18`` mm);
    ``position_refine`` (voxels, 0 = off) then moves each kept position candidate to the
    best-scoring voxel within that many voxels of it (the precision of stride 1 at the
    cost of a few thousand hypotheses). The
    orientation stage tries the orientation set around each position candidate, then
    refines its ``orientation_refine`` best by rotations of half the set's step and keeps
    the best refinement of each of them before any second of one. Jitters
    (1, 7 or 15) are position offsets of half (coarse) or a quarter (refine, scale) of a
    position-grid step added to each candidate.
    """

    position_stride: int = 2
    position_refine: int = 1
    top_position: int = 60
    orientation_jitter: int = 1
    orientation_refine: int = 20
    refine_jitter: int = 7
    top_orientation: int = 30
    scale_jitter: int = 1
    top_scale: int = 20
    average: int = 10
    chunk: int = 8192

    def replace(self, **changes: Any) -> SearchParams:
        """A copy with ``changes`` (unknown names raise ``ValueError``)."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown search parameters {sorted(unknown)}; known: {sorted(known)}")
        values = {**asdict(self), **{k: v for k, v in changes.items() if v is not None}}
        for k, v in values.items():
            if int(v) != v or v < (0 if k in ("orientation_refine", "position_refine") else 1):
                raise ValueError(f"search parameter {k} must be a positive integer, got {v!r}")
        return SearchParams(**{k: int(v) for k, v in values.items()})

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchParams:
        return cls().replace(**{k: v for k, v in d.items() if k in {f.name for f in fields(cls)}})


@dataclass
class DetectorModel:
    """Everything detection needs: the ranges learned from the training poses, the three
    stages' networks and the search defaults, plus the card (provenance and figures)."""

    orientations: OrientationSet
    sizes: SizeSet
    stages: dict[str, StageNets]
    search: SearchParams = field(default_factory=SearchParams)
    card: dict[str, Any] = field(default_factory=dict)
    dense: bool = False

    def __post_init__(self) -> None:
        missing = [s for s in STAGES if s not in self.stages]
        if missing:
            raise ValueError(f"a detector model needs the stages {list(STAGES)}; missing {missing}")

    @property
    def mean_size(self) -> np.ndarray:
        """The training mean box size (mm): the position and orientation stages' box."""
        return self.sizes.mean

    @property
    def spacing(self) -> np.ndarray:
        """Spacing (mm per axis) of the feature volume: one pattern step of the mean box."""
        return self.sizes.mean / GRID_SIZE

    def feature_volume(self, volume: Volume) -> FeatureVolume:
        """``volume`` resampled and normalised as this model's networks were trained to
        read it (:func:`~napari_msdl.detector.hypotheses.feature_volume`)."""
        return feature_volume(volume, self.spacing)

    def sparsity(self) -> dict[str, dict[str, float]]:
        """Per stage and network, the share of the 5832 inputs its first layer ignores."""
        out = {}
        for name, nets in self.stages.items():
            labels = [f"cascade{i + 1}" for i in range(len(nets.cascade))] + ["main"]
            out[name] = {lab: 1.0 - len(inp) / GRID_SIZE**3
                         for lab, inp in zip(labels, nets.inputs, strict=True)}
        return out
