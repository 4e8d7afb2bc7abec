"""The heart around the valve: its geometry (:class:`Neighbours`), the posed
:class:`Scene`, and the diffuse echogenicity of its regions.

Everything is defined in valve-local coordinates (see :mod:`.anatomy`) and posed with the
valve (``world = local @ rotation + translation``, rows of ``rotation`` are the local axes
in world). ``e_p`` is the posterior direction (towards the left atrium) in the local x-y
plane, ``e_b = e_z x e_p``.

:func:`region_echogenicity` gives the diffuse background at arbitrary points: dark blood
in the root lumen, left atrium (LA), left ventricle (LV), right ventricle (RV), right
ventricular outflow tract (RVOT) and mitral orifice; medium myocardium (the LV shell with
the septum, the RV wall); weaker connective tissue elsewhere; all with a smooth
multiplicative texture. The thin bright structures are point scatterers
(:mod:`.scatterers`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from napari_msdl.phantoms import anatomy
from napari_msdl.phantoms.anatomy import ValveShape

TEXTURE_CELL_MM = 6.0


@dataclass(frozen=True, eq=False)
class Neighbours:
    """Sampled geometry of the structures around the valve (local mm, unit vectors)."""

    posterior_angle: float
    la_center: tuple[float, float, float]
    la_semi: tuple[float, float, float]
    la_wall: float
    mv_center: tuple[float, float, float]
    mv_normal: tuple[float, float, float]
    mv_radius: float
    mv_opening: float
    aml_length: float
    pml_length: float
    lv_center: tuple[float, float, float]
    lv_axis: tuple[float, float, float]
    lv_semi: tuple[float, float]
    myo_thickness: float
    rv_center: tuple[float, float, float]
    rv_axis: tuple[float, float, float]
    rv_semi: tuple[float, float]
    rvot_start: tuple[float, float, float]
    rvot_end: tuple[float, float, float]
    rvot_radius: float
    rvot_wall: float
    pericardium_gap: float
    pericardium_thickness: float
    lvot_extension: float
    aorta_extension: float
    posterior_sheet: tuple[float, float, float]
    """Pericardium behind the LA: (distance beyond the LA along e_p, curvature 1/mm,
    thickness mm)."""
    patches: tuple[tuple[float, ...], ...]
    """Bright blobs: (x, y, z, radius mm, level dB, calcified 0/1); fat / fibrous tissue
    and mitral annular calcification."""

    def to_dict(self) -> dict:
        return {k: _listify(v) for k, v in asdict(self).items()}


def _listify(v):
    return [_listify(x) for x in v] if isinstance(v, (tuple, list)) else float(v)


@dataclass(frozen=True, eq=False)
class Scene:
    """Valve, neighbours, tissue levels (dB; 0 dB = a typical wall) and the pose."""

    valve: ValveShape
    neighbours: Neighbours
    levels: dict
    calcifications: tuple[tuple[int, float, float, float], ...]
    texture: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    bounds: tuple[np.ndarray, np.ndarray]
    """Local axis-aligned box around the imaged volume: nothing outside it is rendered."""

    def to_local(self, points: np.ndarray) -> np.ndarray:
        return transform(np.asarray(points, dtype=np.float64) - self.translation, self.rotation.T)

    def to_world(self, points: np.ndarray) -> np.ndarray:
        return transform(points, self.rotation) + self.translation

    def power(self, name: str) -> float:
        """A tissue level as linear power."""
        return float(10.0 ** (self.levels[name] / 10.0))


def transform(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``points @ matrix`` for (N, 3) points (einsum: much faster than BLAS at this shape)."""
    return np.einsum("ij,jk->ik", np.asarray(points, dtype=np.float64), matrix)


def _spheroid(q: np.ndarray, center, axis, semi_long: float, semi_short: float) -> np.ndarray:
    d = q - np.asarray(center)
    t = d @ np.asarray(axis)
    r2 = np.einsum("ij,ij->i", d, d) - t * t
    return (t / semi_long) ** 2 + r2 / semi_short**2


def _capsule_distance(q: np.ndarray, a, b) -> np.ndarray:
    a, b = np.asarray(a), np.asarray(b)
    ab = b - a
    t = np.clip((q - a) @ ab / (ab @ ab), 0.0, 1.0)
    return np.linalg.norm(q - (a + t[:, None] * ab), axis=1)


def _root_lumen(q: np.ndarray, scene: Scene) -> np.ndarray:
    s, n = scene.valve, scene.neighbours
    z_lo = -s.lvot_height - n.lvot_extension
    z_hi = s.stj_height + s.aorta_height + n.aorta_extension
    inside = np.zeros(len(q), dtype=bool)
    cand = np.flatnonzero((q[:, 2] > z_lo) & (q[:, 2] < z_hi))
    qc = q[cand]
    d = qc[:, :2] - anatomy.centerline(qc[:, 2], s)
    rho = np.hypot(d[:, 0], d[:, 1])
    near = rho < 1.6 * max(s.stj_radius, s.aorta_radius, s.annulus_radius) + max(s.sinus_bulge)
    cand, qc, d, rho = cand[near], qc[near], d[near], rho[near]
    theta = np.arctan2(d[:, 1], d[:, 0])
    inner = anatomy.root_radius(qc[:, 2], theta, s) - anatomy.WALL_INNER_FRACTION * \
        anatomy.wall_thickness(qc[:, 2], theta, s)
    inside[cand] = rho < inner
    return inside


def posterior_frame(n: Neighbours) -> np.ndarray:
    """Rows: e_p, e_b, e_z."""
    e_p = np.array([np.cos(n.posterior_angle), np.sin(n.posterior_angle), 0.0])
    e_z = np.array([0.0, 0.0, 1.0])
    return np.stack([e_p, np.cross(e_z, e_p), e_z])


def in_blood(scene: Scene, q: np.ndarray) -> np.ndarray:
    """Whether local points (N, 3) lie in a blood pool."""
    n = scene.neighbours
    frame = posterior_frame(n)
    la = transform(q - np.asarray(n.la_center), frame.T) / np.asarray(n.la_semi)
    blood = np.einsum("ij,ij->i", la, la) < 1.0
    blood |= _spheroid(q, n.lv_center, n.lv_axis, *n.lv_semi) < 1.0
    blood |= _spheroid(q, n.rv_center, n.rv_axis, *n.rv_semi) < 1.0
    blood |= _capsule_distance(q, n.rvot_start, n.rvot_end) < n.rvot_radius
    mv = q - np.asarray(n.mv_center)
    along = mv @ np.asarray(n.mv_normal)
    radial = np.sqrt(np.maximum(np.einsum("ij,ij->i", mv, mv) - along**2, 0.0))
    blood |= (radial < 0.95 * n.mv_radius) & (along > -12.0) & (along < 6.0)
    return blood | _root_lumen(q, scene)


def region_echogenicity(scene: Scene, points_world: np.ndarray) -> np.ndarray:
    """Diffuse echogenicity (linear power, float32) at world points (N, 3)."""
    n = scene.neighbours
    q = scene.to_local(points_world)
    blood = in_blood(scene, q)
    t = n.myo_thickness
    myo = _spheroid(q, n.lv_center, n.lv_axis, n.lv_semi[0] + t, n.lv_semi[1] + t) < 1.0
    w = 0.45 * t  # the RV wall is thinner
    myo |= _spheroid(q, n.rv_center, n.rv_axis, n.rv_semi[0] + w, n.rv_semi[1] + w) < 1.0
    power = np.where(blood, scene.power("blood"),
                     np.where(myo, scene.power("myocardium"), scene.power("tissue")))
    return (power * texture(scene, q, scene.levels["texture"])).astype(np.float32)


def texture(scene: Scene, q: np.ndarray, std_db: float) -> np.ndarray:
    """Smooth log-normal texture (``std_db`` dB standard deviation), fixed in local mm."""
    tex = scene.texture
    idx = q / TEXTURE_CELL_MM + (np.array(tex.shape) - 1) / 2.0
    field = ndimage.map_coordinates(tex, idx.T, order=1, mode="nearest")
    return 10.0 ** (std_db * field / 10.0)
