"""Boundary deformation (Fig. 6): move the mesh along its normals onto the boundary.

Start from the mean shape placed by the (detected) box. Each iteration:

1. vertex normals of the current mesh;
2. for every vertex, ``2J + 1`` candidate positions ``x + j h n`` within the current
   search range, all patches of all vertices gathered at once
   (:func:`~napari_msdl.boundary.features.candidate_patches`), and scored: by the
   boundary classifier (its sparse first layer on the active inputs only), or, for the
   non-learned comparisons, by the image gradient magnitude or the intensity along the
   normal (a profile smoothed over ``profile_sigma_mm``);
3. each vertex's target is the score-weighted mean of its candidates (weights
   ``p ** sharpness``), its confidence the best score (0 where the patch reads nothing);
4. the displacements are smoothed over the mesh (confidence-weighted averages over each
   vertex and its neighbours, ``smooth_iterations`` times), and the result is projected
   onto the shape space: weighted by the confidence, then once more with each vertex's
   weight divided by ``1 + (r / robust_mm)^2`` (``r`` its distance to the first fit), so
   vertices that latched onto another structure barely pull. The last
   ``free_iterations`` skip the projection, keeping only the smoothing, so the mesh can
   leave the shape space by what the space misses;
5. the search range shrinks linearly from ``search_mm`` to ``min_search_mm``; the loop
   stops early once the mean vertex move falls below ``tol_mm``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.ndimage import gaussian_filter1d

from napari_msdl._io import check_number, check_whole, dataclass_from_dict
from napari_msdl._progress import no_progress
from napari_msdl.boundary.features import (
    PatchSpec,
    candidate_patches,
    sample_profiles,
    tangent_frames,
)
from napari_msdl.boundary.shape_space import vertex_normals
from napari_msdl.geometry import Pose
from napari_msdl.sparse.networks import ActiveNet
from napari_msdl.volume import Volume

if TYPE_CHECKING:
    import trimesh

    from napari_msdl.boundary.model import BoundaryModel

SCORERS = ("classifier", "gradient", "intensity")


@dataclass(frozen=True)
class DeformParams:
    """The deformation loop's knobs (see the module docstring)."""

    iterations: int = 6
    search_mm: float = 4.0
    min_search_mm: float = 1.0
    step_mm: float = 0.5
    sharpness: float = 4.0
    smooth_iterations: int = 4
    clamp: float = 3.0
    free_iterations: int = 1
    tol_mm: float = 0.02
    profile_sigma_mm: float = 1.0
    robust_mm: float = 1.0

    def __post_init__(self) -> None:
        check_whole("iterations", self.iterations, 1, 100)
        check_whole("smooth_iterations", self.smooth_iterations, 0, 100)
        check_whole("free_iterations", self.free_iterations, 0, 100)
        for name in ("search_mm", "min_search_mm", "step_mm", "sharpness", "clamp",
                     "profile_sigma_mm"):
            check_number(name, getattr(self, name), 0.0, 100.0, low_open=True)
        for name in ("tol_mm", "robust_mm"):
            check_number(name, getattr(self, name), 0.0, 100.0)
        if self.search_mm / self.step_mm > 1000:
            raise ValueError(f"search_mm / step_mm is {self.search_mm / self.step_mm:.0f} "
                             "candidates per side; at most 1000")
        if self.iterations < 1 or self.smooth_iterations < 0 or self.free_iterations < 0:
            raise ValueError(f"iterations must be >= 1 and smooth_iterations, "
                             f"free_iterations >= 0, received {self.iterations}, "
                             f"{self.smooth_iterations}, {self.free_iterations}")
        if not 0 < self.step_mm <= self.min_search_mm <= self.search_mm:
            raise ValueError(f"need 0 < step_mm <= min_search_mm <= search_mm, received "
                             f"{self.step_mm}, {self.min_search_mm}, {self.search_mm}")
        if self.sharpness <= 0 or self.clamp <= 0 or self.profile_sigma_mm <= 0:
            raise ValueError("sharpness, clamp and profile_sigma_mm must be > 0, received "
                             f"{self.sharpness}, {self.clamp}, {self.profile_sigma_mm}")
        if self.robust_mm < 0 or self.tol_mm < 0:
            raise ValueError(f"robust_mm and tol_mm must be >= 0 (0: off), received "
                             f"{self.robust_mm}, {self.tol_mm}")

    def ranges(self) -> np.ndarray:
        """The search half-range (mm) of each iteration."""
        return np.linspace(self.search_mm, self.min_search_mm, self.iterations)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DeformParams:
        return dataclass_from_dict(cls, d, "deformation parameter")


@dataclass
class Segmentation:
    """The deformed mesh (world mm), the initialisation it started from, and what the
    loop did: per-iteration search range and mean vertex move (mm), and its time."""

    vertices: np.ndarray
    initial: np.ndarray
    faces: np.ndarray
    ranges: list[float] = field(default_factory=list)
    moves: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def iterations(self) -> int:
        return len(self.moves)

    def box(self) -> Pose | None:
        """The 9-parameter box of the deformed mesh by the annotation's landmark rule
        (:func:`napari_msdl.valve.pose_from_mesh`), or ``None`` when the mesh does not
        have that rule's topology. Segmentation refines the detected box this way."""
        from napari_msdl.valve import TOPOLOGY, pose_from_mesh

        if not TOPOLOGY.matches(self.vertices):
            return None
        return pose_from_mesh(self.vertices)

    def mesh(self, initial: bool = False) -> trimesh.Trimesh:
        """The final (or initial) mesh as a ``trimesh.Trimesh`` (process=False)."""
        from napari_msdl.mesh import make_trimesh

        return make_trimesh(self.initial if initial else self.vertices, self.faces)


def segment(volume: Volume, pose: Pose, model: BoundaryModel, *, iterations: int | None = None,
            search_mm: float | None = None, scorer: str = "classifier",
            params: DeformParams | None = None, initial: np.ndarray | None = None,
            progress: Callable[[str, int, int], None] | None = None) -> Segmentation:
    """Deform the mean shape placed by ``pose`` (or ``initial``, world mm) onto the valve
    boundary in ``volume``.

    ``scorer`` is ``"classifier"`` (the learned boundary), ``"gradient"`` or
    ``"intensity"`` (the non-learned comparisons); ``iterations``, ``search_mm`` and
    ``params`` override the model's defaults. ``progress("boundary", done, total)`` is
    called after every round.
    """
    if scorer not in SCORERS:
        raise ValueError(f"scorer must be one of {SCORERS}, received {scorer!r}")
    if not isinstance(volume, Volume):
        raise TypeError(f"segment() needs a Volume, received {type(volume).__name__}")
    params = params or model.deform
    if iterations is not None:
        params = replace(params, iterations=iterations)
    if search_mm is not None:
        params = replace(params, search_mm=search_mm,
                         min_search_mm=min(params.min_search_mm, search_mm))
    progress = progress or no_progress
    t0 = time.perf_counter()
    space = model.shape_space
    x = space.mean_mesh(pose) if initial is None else np.array(initial, dtype=np.float64)
    if x.shape != space.mean.shape:
        raise ValueError(f"initial mesh must have shape {space.mean.shape}, received {x.shape}")
    result = Segmentation(vertices=x, initial=x.copy(), faces=space.faces)
    smoother = _smoothing_operator(space.faces, len(x))
    score = _classifier_scorer(model) if scorer == "classifier" else _profile_scorer(
        model.patch, params.profile_sigma_mm, scorer)
    ranges = params.ranges()
    for it, reach in enumerate(ranges):
        normals = vertex_normals(x, space.faces)
        t1, t2 = tangent_frames(normals, reference=pose.rotation[2])
        half = int(np.floor(reach / params.step_mm + 1e-9))
        offsets = np.arange(-half, half + 1) * params.step_mm
        p = score(volume, x, normals, t1, t2, half, params.step_mm)
        w = np.power(np.clip(p, 0.0, 1.0), params.sharpness)
        total = w.sum(axis=1)
        shift = np.divide(w @ offsets, total, out=np.zeros(len(x)), where=total > 1e-12)
        confidence = p.max(axis=1) + 1e-3
        moved = _smooth(smoother, shift[:, None] * normals, confidence,
                        params.smooth_iterations)
        target = x + moved
        if it < len(ranges) - params.free_iterations:
            fit = space.project(target, pose, clamp=params.clamp, weights=confidence).vertices
            if params.robust_mm > 0:
                r = np.linalg.norm(fit - target, axis=1) / params.robust_mm
                fit = space.project(target, pose, clamp=params.clamp,
                                    weights=confidence / (1 + r * r)).vertices
            target = fit
        move = float(np.linalg.norm(target - x, axis=1).mean())
        x = target
        result.ranges.append(float(reach))
        result.moves.append(move)
        progress("boundary", it + 1, len(ranges))
        if move < params.tol_mm:
            break
    result.vertices = x
    result.seconds = time.perf_counter() - t0
    return result


def boundary_evidence(volume: Volume, vertices: np.ndarray, pose: Pose,
                      model: BoundaryModel) -> float:
    """How surely the boundary classifier sees the valve's boundary at ``vertices`` (world
    mm, the model's topology; ``pose`` orients the patches as in :func:`segment`): the
    mean over vertices of its probability at the vertex itself, 0 where the patch reads
    no data. A mesh deformed onto the valve scores high; one placed on a look-alike, low
    (``benchmarks/verify_candidates.py`` measures whether it tells them apart)."""
    x = np.asarray(vertices, dtype=np.float64)
    if x.shape != model.shape_space.mean.shape:
        raise ValueError(f"vertices must have shape {model.shape_space.mean.shape}, "
                         f"received {x.shape}")
    normals = vertex_normals(x, model.shape_space.faces)
    t1, t2 = tangent_frames(normals, reference=pose.rotation[2])
    p = _classifier_scorer(model)(volume, x, normals, t1, t2, 0, model.deform.step_mm)
    return float(p[:, 0].mean())


def _smoothing_operator(faces: np.ndarray, n: int) -> sp.csr_matrix:
    """Vertex adjacency plus identity (unweighted), as CSR."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = np.concatenate([e, e[:, ::-1], np.repeat(np.arange(n)[:, None], 2, axis=1)])
    a = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    a.data[:] = 1.0
    return a


def _smooth(op: sp.csr_matrix, values: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """``k`` rounds of weighted neighbourhood averaging (normalised convolution)."""
    norm = op @ weights
    for _ in range(k):
        values = (op @ (weights[:, None] * values)) / norm[:, None]
    return values


Scorer = Callable[[Volume, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, float],
                  np.ndarray]


def _classifier_scorer(model: BoundaryModel) -> Scorer:
    """Probabilities (V, C) of the boundary classifier at every candidate (0 where the
    patch reads nothing: outside the volume or the field of view)."""
    net = ActiveNet(model.classifier)

    def score(volume, x, normals, t1, t2, half, step):
        patches = candidate_patches(volume, x, normals, model.patch, t1, t2, half, step,
                                    net.columns)
        z = net(patches.reshape(-1, patches.shape[2]))
        p = (1.0 / (1.0 + np.exp(-z))).reshape(patches.shape[:2])
        p[~(patches != 0).any(axis=2)] = 0.0
        return p

    return score


def _profile_scorer(patch: PatchSpec, sigma_mm: float, kind: str) -> Scorer:
    """Non-learned scores from the profile along the normal (averaged over the patch's
    tangent positions, smoothed by a Gaussian of ``sigma_mm``): ``"gradient"`` its
    derivative's magnitude, ``"intensity"`` its value (a bright wall or leaflet is a
    ridge). Scaled to [0, 1] by the 95th percentile of the per-vertex maxima over the
    mesh, so a vertex with only weak edges (or a dark profile) gets a low confidence."""

    def score(volume, x, normals, t1, t2, half, step):
        pad = int(np.ceil(3 * sigma_mm / step)) + 1
        offsets = np.arange(-half - pad, half + pad + 1) * step
        prof = sample_profiles(volume, x, normals, t1, t2, patch.tangent_offsets(), offsets)
        prof = gaussian_filter1d(prof.mean(axis=1), sigma_mm / step, axis=1)
        if kind == "gradient":
            prof = np.abs(np.gradient(prof, step, axis=1))
        s = prof[:, pad:pad + 2 * half + 1]
        scale = max(float(np.percentile(s.max(axis=1), 95)), 1e-6)
        return s / scale

    return score
