"""The trained detector in memory: hypothesis ranges, each stage's networks, defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import torch

from napari_msdl._io import check_keys, check_whole
from napari_msdl.detector.cascade import StageNets
from napari_msdl.detector.features import FeatureVolume
from napari_msdl.detector.hypotheses import OrientationSet, SizeSet, feature_volume
from napari_msdl.sparse.grid import GRID_SIZE
from napari_msdl.volume.volume import Volume

STAGES = ("position", "orientation", "scale")
"""The marginal spaces, in the order detection searches them."""

MAIN = "main"


def network_name(stage: str, level: int | None = None) -> str:
    """The one name of a detector network, used for its tensors, in cards, reports and
    widgets: ``"<stage>.cascade<k>"`` for cascade level ``k`` (1, 2, ..., in the order
    they filter) or ``"<stage>.main"`` for the main classifier (``level=None``)."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {list(STAGES)}, got {stage!r}")
    if level is None:
        return f"{stage}.{MAIN}"
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or level < 1:
        raise ValueError(f"cascade levels count from 1, got {level!r}")
    return f"{stage}.cascade{int(level)}"


def parse_network_name(name: str) -> tuple[str, int | None]:
    """``(stage, level)`` of a :func:`network_name` (level ``None`` for the main net)."""
    stage, _, net = str(name).partition(".")
    level = None
    if net != MAIN:
        digits = net[len("cascade"):] if net.startswith("cascade") else ""
        if not digits.isdigit():
            raise ValueError(f"not a network name: {name!r} (expected e.g. "
                             f"'position.cascade1' or 'scale.main')")
        level = int(digits)
    if network_name(stage, level) != name:
        raise ValueError(f"not a network name: {name!r}")
    return stage, level


SEARCH_LIMITS = {"position_stride": (1, 16), "position_refine": (0, 4),
                 "top_position": (1, 2000), "orientation_jitter": (1, 15),
                 "orientation_refine": (0, 500), "refine_jitter": (1, 15),
                 "top_orientation": (1, 2000), "scale_jitter": (1, 15), "top_scale": (1, 2000),
                 "average": (1, 500), "chunk": (64, 1_000_000), "position_pool": (1, 2000),
                 "modes": (0, 20), "mode_refine": (0, 500)}
"""The range of every search parameter: enough for any search, too little for a file to
ask for hours or gigabytes."""


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

    ``position_pool`` position candidates are kept in all (the first ``top_position`` go
    on to the orientation stage) and ``modes`` is how many other places among them
    :func:`~napari_msdl.detector.detect.other_modes` searches when asked to (verification
    by segmentation, :func:`napari_msdl.pipeline.find_valve`), each with
    ``mode_refine`` orientation refinements instead of ``orientation_refine`` (a place
    has a few position candidates, not ``top_position``).
    """

    position_stride: int = 2
    position_refine: int = 1
    top_position: int = 60
    orientation_jitter: int = 1
    orientation_refine: int = 10
    refine_jitter: int = 7
    top_orientation: int = 20
    scale_jitter: int = 1
    top_scale: int = 20
    average: int = 10
    chunk: int = 8192
    position_pool: int = 200
    modes: int = 6
    mode_refine: int = 5

    def __post_init__(self) -> None:
        for name, (low, high) in SEARCH_LIMITS.items():
            object.__setattr__(self, name, check_whole(f"search parameter {name}",
                                                       getattr(self, name), low, high))

    def replace(self, **changes: Any) -> SearchParams:
        """A copy with ``changes`` (unknown names raise ``ValueError``; None keeps a value)."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown search parameters {sorted(unknown)}; known: {sorted(known)}")
        return SearchParams(**{**asdict(self),
                               **{k: v for k, v in changes.items() if v is not None}})

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchParams:
        return cls().replace(**check_keys(d, [f.name for f in fields(cls)], "search parameter"))


@dataclass
class DetectorModel:
    """Everything detection needs: the ranges learned from the training poses, the three
    stages' networks and the search defaults (how they were trained is in the bundle's
    card, :mod:`napari_msdl.bundle`)."""

    orientations: OrientationSet
    sizes: SizeSet
    stages: dict[str, StageNets]
    search: SearchParams = field(default_factory=SearchParams)
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

    def networks(self) -> dict[str, torch.nn.Module]:
        """Every network by its :func:`network_name`, stage by stage, cascade levels in
        order before the main net."""
        out = {}
        for stage in STAGES:
            nets = self.stages[stage]
            for level, net in enumerate(nets.cascade, start=1):
                out[network_name(stage, level)] = net
            out[network_name(stage)] = nets.main
        return out

    def network(self, name: str) -> torch.nn.Module:
        """The network called ``name`` (``ValueError`` listing the names if there is none)."""
        nets = self.networks()
        if name not in nets:
            raise ValueError(f"no network {name!r} in this detector; it has {list(nets)}")
        return nets[name]

    def sparsity(self) -> dict[str, float]:
        """Per network, the share of the 5832 inputs its first layer ignores."""
        return {name: 1.0 - len(net.active_inputs()) / GRID_SIZE**3
                for name, net in self.networks().items()}
