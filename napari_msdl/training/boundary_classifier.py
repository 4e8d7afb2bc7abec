"""Training the boundary classifier: a SADNN on normal-aligned patches (Fig. 6).

Samples (the seed's "Boundary estimation" slide): for a random subset of each training
mesh's vertices, patches centred on the true boundary (positives, displaced along the
normal by at most ``positive_mm``) and at distances ``negative_mm`` along the normal,
on both sides (negatives). The patch is aligned with a normal tilted by up to
``tilt_deg`` and turned by a random roll about it, since during the deformation the
normal is that of the current mesh, not the true one. Vertices whose patch reads nothing
(outside the volume or the field of view) are left out.

The network is a :class:`~napari_msdl.sparse.SADNN` (sparse first layer, per-patch
normalisation) trained by Algorithm 1 (:func:`~napari_msdl.sparse.train_sadnn`), so its
sparse sampling pattern inside the patch is learned as the detector's are. Cases are
split by index into training and validation (every ``val_every``-th case), never by
patch. Everything is drawn from ``seed``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch

from napari_msdl._io import check_keys, check_number, check_whole
from napari_msdl._progress import Prefixed, no_progress
from napari_msdl.boundary.features import PatchSpec, sample_patches, tangent_frames
from napari_msdl.boundary.shape_space import vertex_normals
from napari_msdl.sparse import (
    SADNN,
    NetworkConfig,
    SampleSet,
    SparseTrainingConfig,
    train_sadnn,
)
from napari_msdl.sparse import evaluate as evaluate_net
from napari_msdl.training.stage import kept_map
from napari_msdl.volume import Volume

BOUNDARY_NET = "boundary"
"""The boundary classifier's name in progress reports and live curves."""


@dataclass(frozen=True)
class ClassifierConfig:
    """What the boundary classifier is trained on and how."""

    patch: PatchSpec = field(default_factory=PatchSpec)
    hidden: tuple[int, ...] = (48, 24)
    vertices_per_case: int = 400
    positives_per_vertex: int = 2
    negatives_per_vertex: int = 4
    positive_mm: float = 0.25
    negative_mm: tuple[float, float] = (1.0, 8.0)
    tilt_deg: float = 15.0
    val_every: int = 6
    sparse: SparseTrainingConfig = field(default_factory=lambda: SparseTrainingConfig(
        pretrain_epochs=3, rounds=5, epochs_per_round=2, target_sparsity=0.75,
        batch_size=256))

    def __post_init__(self) -> None:
        hidden = NetworkConfig(n_inputs=self.patch.n_inputs, hidden=self.hidden).hidden
        object.__setattr__(self, "hidden", hidden)
        if len(self.negative_mm) != 2:
            raise ValueError(f"negative_mm must be 2 distances (mm), got {self.negative_mm!r}")
        object.__setattr__(self, "negative_mm", tuple(
            check_number("negative_mm", x, 0.0, 100.0) for x in self.negative_mm))
        check_number("positive_mm", self.positive_mm, 0.0, 100.0)
        check_number("tilt_deg", self.tilt_deg, 0.0, 90.0)
        check_whole("vertices_per_case", self.vertices_per_case, 1, 100_000)
        check_whole("positives_per_vertex", self.positives_per_vertex, 1, 100)
        check_whole("negatives_per_vertex", self.negatives_per_vertex, 1, 100)
        check_whole("val_every", self.val_every, 2, 1000)
        lo, hi = self.negative_mm
        if not 0 <= self.positive_mm < lo <= hi:
            raise ValueError(f"need 0 <= positive_mm < negative_mm[0] <= negative_mm[1], "
                             f"received {self.positive_mm} and {self.negative_mm}")
        if min(self.vertices_per_case, self.positives_per_vertex,
               self.negatives_per_vertex) < 1 or self.val_every < 2:
            raise ValueError("vertices_per_case, positives_per_vertex and "
                             "negatives_per_vertex must be >= 1 and val_every >= 2")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["patch"] = self.patch.to_dict()
        d["sparse"] = self.sparse.to_dict()
        d["hidden"] = list(self.hidden)
        d["negative_mm"] = list(self.negative_mm)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ClassifierConfig:
        d = dict(check_keys(d, [f.name for f in fields(cls)], "boundary classifier config"))
        if "patch" in d:
            d["patch"] = PatchSpec.from_dict(d["patch"])
        if "sparse" in d:
            d["sparse"] = SparseTrainingConfig.from_dict(d["sparse"])
        return cls(**d)


def boundary_samples(volume: Volume, vertices: np.ndarray, faces: np.ndarray,
                     config: ClassifierConfig, rng: np.random.Generator,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Patches (N, n_inputs), labels (N,) and signed distances along the normal (N,) mm
    for one case with its true mesh."""
    v = np.asarray(vertices, dtype=np.float64)
    normals = vertex_normals(v, faces)
    ok = np.flatnonzero(np.linalg.norm(normals, axis=1) > 0.5)
    pick = rng.choice(ok, size=min(config.vertices_per_case, len(ok)), replace=False)
    n_pos, n_neg = config.positives_per_vertex, config.negatives_per_vertex
    per = n_pos + n_neg
    idx = np.repeat(pick, per)
    lo, hi = config.negative_mm
    d = np.concatenate([rng.uniform(-config.positive_mm, config.positive_mm, (len(pick), n_pos)),
                        rng.uniform(lo, hi, (len(pick), n_neg))
                        * rng.choice([-1.0, 1.0], (len(pick), n_neg))], axis=1).ravel()
    labels = np.tile(np.r_[np.ones(n_pos), np.zeros(n_neg)], len(pick))
    n = _tilt(normals[idx], np.deg2rad(config.tilt_deg), rng)
    t1, t2 = tangent_frames(n, roll=rng.uniform(0, 2 * np.pi, len(idx)))
    x = sample_patches(volume, v[idx] + d[:, None] * normals[idx], n, config.patch, t1, t2)
    keep = np.repeat((x.reshape(len(pick), per, -1) != 0).any(axis=2).all(axis=1), per)
    return x[keep], labels[keep].astype(np.float32), d[keep]


def _tilt(normals: np.ndarray, max_angle: float, rng: np.random.Generator) -> np.ndarray:
    """Each normal turned by an angle uniform in [0, max_angle] in a random direction."""
    t1, t2 = tangent_frames(normals, roll=rng.uniform(0, 2 * np.pi, len(normals)))
    ang = rng.uniform(0, max_angle, len(normals))[:, None]
    return np.cos(ang) * normals + np.sin(ang) * t1


@dataclass
class TrainedClassifier:
    """The trained network with its training figures."""

    network: SADNN
    report: dict


Samples = tuple[np.ndarray, np.ndarray, np.ndarray]


def fit_classifier(train: list[Samples], val: list[Samples],
                   config: ClassifierConfig | None = None, seed: int = 0,
                   progress: Callable[[str, int, int], None] | None = None,
                   init: SADNN | None = None, fine_tune: SparseTrainingConfig | None = None,
                   ) -> TrainedClassifier:
    """Train the SADNN with Algorithm 1 on per-case samples from :func:`boundary_samples`
    (training and validation cases apart); deterministic in ``seed``. ``init``
    (fine-tuning) starts from a copy of that network and keeps its map
    (:func:`~napari_msdl.training.stage.kept_map`)."""
    config = config or ClassifierConfig()
    if not train or not val:
        raise ValueError(f"the boundary classifier needs training and validation cases, "
                         f"received {len(train)} and {len(val)}")
    train_set, val_set = _stack(train, config), _stack(val, config)
    if init is None:
        net = SADNN(NetworkConfig(n_inputs=config.patch.n_inputs, hidden=config.hidden),
                    seed=seed)
    else:
        if init.config.n_inputs != config.patch.n_inputs:
            raise ValueError(f"the parent classifier reads {init.config.n_inputs} inputs, the "
                             f"patch has {config.patch.n_inputs}")
        net = copy.deepcopy(init)
    t0 = time.perf_counter()
    history = train_sadnn(net, train_set, val_set,
                          config.sparse if init is None else kept_map(net, fine_tune),
                          seed=seed, progress=Prefixed(progress or no_progress, BOUNDARY_NET))
    net.eval()
    val_d = np.concatenate([p[2] for p in val])
    report = {"cases": {"train": len(train), "val": len(val)},
              "samples": {"train": len(train_set), "val": len(val_set)},
              "val": evaluate_net(net, val_set), "train": evaluate_net(net, train_set),
              "val_by_distance": _by_distance(net, val_set, val_d),
              "active_inputs": int(net.active_inputs().numel()),
              "active_per_filter": float(net.first.n_active.mean()),
              "training_seconds": time.perf_counter() - t0, "history": history.curves()}
    return TrainedClassifier(net, report)


def _by_distance(net: SADNN, data: SampleSet, distance: np.ndarray) -> dict[str, float]:
    """Mean predicted probability in bins of |distance to the boundary| (mm)."""
    with torch.no_grad():
        p = torch.sigmoid(net(data.x)).numpy()
    edges = [0.0, 0.5, 1.5, 3.0, 5.0, np.inf]
    a = np.abs(distance)
    return {f"{lo:g}-{hi:g}mm": float(p[(a >= lo) & (a < hi)].mean())
            for lo, hi in zip(edges[:-1], edges[1:], strict=True)
            if np.any((a >= lo) & (a < hi))}


def _stack(parts: list, config: ClassifierConfig) -> SampleSet:
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    ratio = config.negatives_per_vertex / config.positives_per_vertex
    w = np.where(y > 0.5, ratio, 1.0).astype(np.float32)
    return SampleSet(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(w))
