"""The statistical shape space of the valve mesh: mean shape and PCA modes in box coordinates.

Every training mesh (one topology) is mapped into its own box (``pose.to_box``: the unit
cube ``[-1/2, 1/2]^3``, DESIGN.md's world-to-box transform), which removes position,
orientation and the anisotropic size. On top of that the shapes are aligned by a
generalized Procrustes analysis with **affine** maps: each shape is mapped by the
least-squares affine transform onto the current mean, the mean is recomputed and brought
back (affinely) onto the plain box mean, three times. The box rule uses extreme vertices
(docs/phantoms.md), so this removes what is left of the global placement and the PCA
modes hold shape only. The number of modes is the smallest that explains ``variance`` of
the aligned shapes' variance.

A shape instance is ``mean + modes.T @ (coefficients * sdev)`` in the box frame (the
coefficients in standard deviations), mapped into world mm by a pose.
:meth:`ShapeSpace.project` fits a world mesh: it alternates the weighted least-squares
affine map from the model into world and the clamped coefficients (the affine part
absorbs the error of a detected box, the coefficients the shape).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from napari_msdl._io import check_keys
from napari_msdl.geometry import Pose

_GPA_ITERATIONS = 3


@dataclass(frozen=True)
class ShapeFit:
    """What :meth:`ShapeSpace.project` found: ``vertices`` (world mm), ``coefficients``
    (standard deviations, clamped) and ``affine`` (4x4, box-frame model to world)."""

    vertices: np.ndarray
    coefficients: np.ndarray
    affine: np.ndarray


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit vertex normals (V, 3): the area-weighted sum of the adjacent face normals
    (a vertex in no face, or with a degenerate neighbourhood, gets (0, 0, 0))."""
    v = np.asarray(vertices, dtype=np.float64)
    tri = v[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    idx = faces.reshape(-1)
    rep = np.repeat(fn, 3, axis=0)
    n = np.stack([np.bincount(idx, rep[:, d], minlength=len(v)) for d in range(3)], axis=1)
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return np.divide(n, norm, out=np.zeros_like(n), where=norm > 1e-12)


def fit_affine(source: np.ndarray, target: np.ndarray,
               weights: np.ndarray | None = None) -> np.ndarray:
    """The 4x4 affine ``A`` minimising ``sum w |A [source 1] - target|^2`` (points (N, 3))."""
    src = np.concatenate([source, np.ones((len(source), 1))], axis=1)
    if weights is None:
        x, *_ = np.linalg.lstsq(src, target, rcond=None)
    else:
        sw = np.sqrt(np.asarray(weights, dtype=np.float64))[:, None]
        x, *_ = np.linalg.lstsq(src * sw, target * sw, rcond=None)
    a = np.eye(4)
    a[:3, :] = x.T
    return a


def apply_affine(a: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``a`` (4x4) applied to points (..., 3)."""
    return points @ a[:3, :3].T + a[:3, 3]


@dataclass(frozen=True, eq=False)
class ShapeSpace:
    """Mean shape (V, 3) and PCA ``modes`` (k, 3V, orthonormal rows) with their standard
    deviations ``sdev`` (k,), in the aligned box frame; ``faces`` (F, 3) the topology."""

    mean: np.ndarray
    modes: np.ndarray
    sdev: np.ndarray
    faces: np.ndarray
    variance: float
    explained: float
    n_train: int
    train_residual_mm: float
    """Mean vertex distance (mm) of the training meshes to their own projection."""

    def __post_init__(self) -> None:
        v = self.mean.shape[0]
        if self.mean.shape != (v, 3) or self.modes.shape[1:] != (3 * v,):
            raise ValueError(f"mean must be (V, 3) and modes (k, 3V); received "
                             f"{self.mean.shape} and {self.modes.shape}")
        if self.sdev.shape != (self.modes.shape[0],):
            raise ValueError(f"sdev must have one value per mode ({self.modes.shape[0]}), "
                             f"received shape {self.sdev.shape}")
        if (self.faces.ndim != 2 or self.faces.shape[1] != 3 or len(self.faces) == 0
                or self.faces.min() < 0 or self.faces.max() >= v):
            raise ValueError(f"faces must be (F, 3) indices below {v}, received "
                             f"shape {self.faces.shape}")
        if v > 1_000_000 or self.modes.shape[0] > 1000:
            raise ValueError(f"a shape space has at most 1,000,000 vertices and 1000 modes, "
                             f"received {v} and {self.modes.shape[0]}")
        for name in ("mean", "modes", "sdev"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise ValueError(f"shape space {name} must be finite")
        if np.any(self.sdev < 0):
            raise ValueError("shape space sdev must be >= 0")

    @property
    def n_vertices(self) -> int:
        return int(self.mean.shape[0])

    @property
    def n_modes(self) -> int:
        return int(self.modes.shape[0])

    # -- building ---------------------------------------------------------------------
    @classmethod
    def fit(cls, meshes: Sequence[np.ndarray], poses: Sequence[Pose], faces: np.ndarray,
            variance: float = 0.98, max_modes: int | None = None) -> ShapeSpace:
        """Learn the space from world meshes (each (V, 3), one topology) and their poses."""
        if len(meshes) != len(poses) or len(meshes) < 2:
            raise ValueError(f"need >= 2 meshes with one pose each, received {len(meshes)} "
                             f"meshes and {len(poses)} poses")
        if not 0.0 < variance <= 1.0:
            raise ValueError(f"variance must be in (0, 1], received {variance}")
        shapes = [np.asarray(m, dtype=np.float64) for m in meshes]
        if len({s.shape for s in shapes}) != 1 or shapes[0].ndim != 2 or shapes[0].shape[1] != 3:
            raise ValueError(f"meshes must share one (V, 3) topology, received shapes "
                             f"{sorted({s.shape for s in shapes})}")
        boxed = np.stack([p.to_box(s) for s, p in zip(shapes, poses, strict=True)])
        aligned = _affine_gpa(boxed)
        mean = aligned.mean(axis=0)
        centred = (aligned - mean).reshape(len(aligned), -1)
        _, sing, vt = np.linalg.svd(centred, full_matrices=False)
        var = sing**2 / max(len(aligned) - 1, 1)
        cum = np.cumsum(var) / max(var.sum(), 1e-300)
        k = int(np.searchsorted(cum, variance - 1e-12) + 1)
        k = min(k, len(var) if max_modes is None else max_modes, len(aligned) - 1)
        space = cls(mean=mean, modes=vt[:k].copy(), sdev=np.sqrt(var[:k]),
                    faces=np.asarray(faces, dtype=np.int64), variance=float(variance),
                    explained=float(cum[k - 1]), n_train=len(shapes), train_residual_mm=0.0)
        resid = [np.linalg.norm(space.project(s, p, clamp=np.inf).vertices - s, axis=1).mean()
                 for s, p in zip(shapes, poses, strict=True)]
        object.__setattr__(space, "train_residual_mm", float(np.mean(resid)))
        return space

    def spanning_shapes(self, sd: float = 2.0) -> list[np.ndarray]:
        """Box-frame shapes that span this space: the mean and the mean +- ``sd``
        standard deviations along each mode (fitting them again gives this space back;
        fitting them with new meshes keeps its variation while learning theirs)."""
        shapes = [self.mean.copy()]
        for k in range(self.n_modes):
            for sign in (-sd, sd):
                b = np.zeros(self.n_modes)
                b[k] = sign
                shapes.append(self.shape(b))
        return shapes

    # -- instances --------------------------------------------------------------------
    def shape(self, coefficients: np.ndarray | None = None) -> np.ndarray:
        """Box-frame vertices (V, 3) for coefficients in standard deviations (None: mean)."""
        if coefficients is None:
            return self.mean.copy()
        b = np.asarray(coefficients, dtype=np.float64).reshape(-1)
        if b.shape != (self.n_modes,):
            raise ValueError(f"expected {self.n_modes} coefficients, received {b.shape[0]}")
        return self.mean + ((b * self.sdev) @ self.modes).reshape(-1, 3)

    def mean_mesh(self, pose: Pose) -> np.ndarray:
        """The mean shape placed by ``pose`` (world mm): Table II's initialisation."""
        return pose.to_world(self.mean)

    def instance(self, coefficients: np.ndarray, pose: Pose) -> np.ndarray:
        """The shape with these coefficients (standard deviations) placed by ``pose``."""
        return pose.to_world(self.shape(coefficients))

    def normals(self, vertices: np.ndarray) -> np.ndarray:
        """Unit vertex normals of a mesh with this topology."""
        return vertex_normals(vertices, self.faces)

    # -- projection -------------------------------------------------------------------
    def project(self, vertices: np.ndarray, pose: Pose, clamp: float = 3.0,
                weights: np.ndarray | None = None, iterations: int = 3,
                fit_placement: bool = True) -> ShapeFit:
        """The nearest plausible mesh to ``vertices`` (world mm, (V, 3)).

        With ``fit_placement`` it alternates (``iterations`` times) the weighted
        least-squares affine map from the box-frame model into world and the weighted
        least-squares coefficients, clamped to ``+-clamp`` standard deviations; without,
        the model stays in ``pose``'s box and only the coefficients are fitted.
        """
        y = np.asarray(vertices, dtype=np.float64)
        if y.shape != self.mean.shape:
            raise ValueError(f"vertices must have shape {self.mean.shape}, received {y.shape}")
        w = None if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
        if w is not None and (w.shape != (self.n_vertices,) or np.any(w < 0) or w.sum() <= 0):
            raise ValueError(f"weights must be {self.n_vertices} non-negative values with a "
                             "positive sum")
        b = np.zeros(self.n_modes)
        affine = pose.box_to_world()
        basis = (self.modes * self.sdev[:, None]).T  # (3V, k): one coefficient = one sd
        for _ in range(max(1, iterations) if fit_placement else 1):
            if fit_placement:
                affine = fit_affine(self.shape(b), y, w)
            z = apply_affine(np.linalg.inv(affine), y)
            b = self._coefficients(z, basis, w)
            b = np.clip(b, -clamp, clamp)
        return ShapeFit(vertices=apply_affine(affine, self.shape(b)), coefficients=b,
                        affine=affine)

    def _coefficients(self, shape_box: np.ndarray, basis: np.ndarray,
                      weights: np.ndarray | None) -> np.ndarray:
        r = (shape_box - self.mean).reshape(-1)
        if weights is None:
            return (self.modes @ r) / self.sdev
        w3 = np.repeat(weights, 3)
        lhs = basis.T @ (basis * w3[:, None])
        return np.linalg.solve(lhs + 1e-9 * np.eye(self.n_modes), basis.T @ (w3 * r))

    # -- storage ----------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays to store (see :meth:`from_arrays`)."""
        return {"mean": self.mean, "modes": self.modes, "sdev": self.sdev, "faces": self.faces}

    def meta(self) -> dict:
        """The JSON-able scalars to store."""
        return {"variance": self.variance, "explained": self.explained,
                "n_train": self.n_train, "train_residual_mm": self.train_residual_mm,
                "n_modes": self.n_modes, "n_vertices": self.n_vertices,
                "alignment": "box, then affine generalized Procrustes"}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict) -> ShapeSpace:
        """Rebuild from :meth:`arrays` and :meth:`meta` (unknown meta keys refused)."""
        check_keys(meta, ("variance", "explained", "n_train", "train_residual_mm", "n_modes",
                          "n_vertices", "alignment"), "shape space")
        return cls(mean=np.asarray(arrays["mean"], np.float64),
                   modes=np.asarray(arrays["modes"], np.float64),
                   sdev=np.asarray(arrays["sdev"], np.float64),
                   faces=np.asarray(arrays["faces"], np.int64),
                   variance=float(meta["variance"]), explained=float(meta["explained"]),
                   n_train=int(meta["n_train"]),
                   train_residual_mm=float(meta["train_residual_mm"]))


def _affine_gpa(boxed: np.ndarray) -> np.ndarray:
    """Affine generalized Procrustes of (n, V, 3) box-frame shapes, the mean kept in the
    frame of the plain box mean."""
    reference = boxed.mean(axis=0)
    aligned = boxed.copy()
    mean = reference
    for _ in range(_GPA_ITERATIONS):
        aligned = np.stack([apply_affine(fit_affine(s, mean), s) for s in boxed])
        mean = aligned.mean(axis=0)
        mean = apply_affine(fit_affine(mean, reference), mean)
    return np.stack([apply_affine(fit_affine(s, mean), s) for s in boxed])
