"""``train_boundary``: the shape space and the boundary classifier from annotated cases.

One pass over the cases (they may stream from disk or from the phantom generator): each
case's mesh and pose are kept for the shape space and its classifier samples are drawn;
then the shape space is fitted and the classifier trained (Algorithm 1).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from napari_msdl._io import check_keys, check_number
from napari_msdl._progress import no_progress
from napari_msdl.boundary import BoundaryModel, DeformParams, ShapeSpace
from napari_msdl.bundle import TrainingRecord
from napari_msdl.dataset import Dataset
from napari_msdl.geometry import Pose
from napari_msdl.sparse import SparseTrainingConfig
from napari_msdl.training.boundary_classifier import (
    ClassifierConfig,
    boundary_samples,
    fit_classifier,
)
from napari_msdl.volume import Volume

CaseTuple = tuple[Volume, Pose, object]
"""``(volume, pose, mesh)``: the mesh a trimesh or a (V, 3) vertex array (world mm)."""


@dataclass(frozen=True)
class BoundaryConfig:
    """Shape space, classifier and deformation settings of a boundary model."""

    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    shape_variance: float = 0.98
    deform: DeformParams = field(default_factory=DeformParams)

    def __post_init__(self) -> None:
        check_number("shape_variance", self.shape_variance, 0.0, 1.0, low_open=True)

    def to_dict(self) -> dict:
        return {"classifier": self.classifier.to_dict(), "shape_variance": self.shape_variance,
                "deform": self.deform.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> BoundaryConfig:
        """The configuration :meth:`to_dict` wrote; unknown keys are refused."""
        d = dict(check_keys(d, ("classifier", "shape_variance", "deform"),
                            "boundary training configuration"))
        if "classifier" in d:
            d["classifier"] = ClassifierConfig.from_dict(d["classifier"])
        if "deform" in d:
            d["deform"] = DeformParams.from_dict(d["deform"])
        return cls(**d)


def dataset_cases(dataset) -> Iterator[CaseTuple]:
    """``(volume, pose, mesh)`` for every case of a :class:`~napari_msdl.dataset.Dataset`
    that has both a pose and a mesh, read one at a time."""
    for case in dataset:
        if case.pose is not None and case.mesh is not None:
            volume = case.load_volume()
            volume.require_contrast(f"training case {case.id!r} ({case.image})")
            yield volume, case.pose, case.load_mesh()


def _vertices(mesh) -> np.ndarray:
    v = np.asarray(getattr(mesh, "vertices", mesh), dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"a case mesh must be a trimesh or (V, 3) vertices, received {v.shape}")
    return v


def train_boundary(cases: Iterable[CaseTuple] | Dataset, faces: np.ndarray | None = None,
                   config: BoundaryConfig | None = None, seed: int = 0,
                   progress: Callable[[str, int, int], None] | None = None,
                   command: str | None = None, init: BoundaryModel | None = None,
                   fine_tune: SparseTrainingConfig | None = None
                   ) -> tuple[BoundaryModel, TrainingRecord]:
    """Train a :class:`BoundaryModel` from ``(volume, pose, mesh)`` cases or a Dataset;
    returns it and the record of its training (for the bundle's card).

    ``faces`` defaults to the first mesh's faces (all meshes share one topology).
    Deterministic in ``seed``. ``progress(stage, done, total)`` is called per case
    (``"boundary samples"``) and by Algorithm 1; raising
    :class:`~napari_msdl._progress.Cancelled` from it stops the job. The record's figures
    hold the classifier's validation figures (loss, accuracy, AUC, mean probability by
    distance to the boundary), the shape space's modes and residual, and the timings.

    ``init`` fine-tunes a trained boundary model instead (its topology, patch and
    deformation kept): the shape space is fitted to the new meshes together with shapes
    spanning the parent's space (:meth:`~napari_msdl.boundary.ShapeSpace.spanning_shapes`),
    so a few meshes add their variation without losing the parent's; the classifier
    starts from the parent's weights and map (``fine_tune``'s epochs). A mesh of another
    topology raises :class:`TopologyMismatch`.
    """
    config = config or BoundaryConfig()
    progress = progress or no_progress
    data: dict = {}
    if isinstance(cases, Dataset):
        data = {"dataset": str(cases.root.resolve()), "name": cases.name}
        cases = dataset_cases(cases)
    total = len(cases) if hasattr(cases, "__len__") else None
    if init is not None:
        faces = init.faces
        config = replace(config, deform=init.deform,
                         classifier=replace(config.classifier, patch=init.patch))
    ccfg = config.classifier
    rng = np.random.default_rng(seed)
    meshes, poses, parts = [], [], {True: [], False: []}
    t0 = time.perf_counter()
    for i, (volume, pose, mesh) in enumerate(cases):
        v = _vertices(mesh)
        if init is not None:
            init.check_topology(mesh, f"case {i}")
        if faces is None:
            if not hasattr(mesh, "faces"):
                raise ValueError("pass faces= when the cases give vertex arrays, not meshes")
            faces = np.asarray(mesh.faces, dtype=np.int64)
        if meshes and v.shape != meshes[0].shape:
            raise ValueError(f"case {i}: mesh has {len(v)} vertices, the first had "
                             f"{len(meshes[0])}: all meshes must share one topology")
        meshes.append(v)
        poses.append(pose)
        case_rng = np.random.default_rng(rng.integers(2**63))
        parts[i % ccfg.val_every == ccfg.val_every - 1].append(
            boundary_samples(volume, v, faces, ccfg, case_rng))
        progress("boundary samples", i + 1, max(total or 0, i + 1))
    if len(meshes) < ccfg.val_every:
        raise ValueError(f"training a boundary model needs at least {ccfg.val_every} cases with "
                         f"a pose and a mesh, received {len(meshes)}")
    sampling_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    if init is None:
        space = ShapeSpace.fit(meshes, poses, faces, variance=config.shape_variance)
    else:
        kept = init.shape_space.spanning_shapes()
        space = ShapeSpace.fit(meshes + [poses[0].to_world(k) for k in kept],
                               poses + [poses[0]] * len(kept), faces,
                               variance=config.shape_variance)
    shape_s = time.perf_counter() - t0
    trained = fit_classifier(parts[False], parts[True], ccfg, seed=seed, progress=progress,
                             init=None if init is None else init.classifier,
                             fine_tune=fine_tune)
    seconds = {"sampling": sampling_s, "shape_space": shape_s,
               "classifier": trained.report["training_seconds"]}
    record = TrainingRecord(
        command=command, seed=seed, config=config.to_dict(),
        data={**data, "cases": len(meshes)}, seconds=round(sum(seconds.values()), 1),
        figures={"shape_space": space.meta(), "classifier": trained.report,
                 "seconds": seconds})
    model = BoundaryModel(shape_space=space, classifier=trained.network, patch=ccfg.patch,
                          deform=config.deform)
    return model, record
