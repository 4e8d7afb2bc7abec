"""Point scatterers that fill the thin bright structures of the phantom.

The root wall (continued into the LVOT and the ascending aorta beyond the mesh), the
three aortic leaflets, calcified spots, the left atrial wall, the mitral leaflets, the
RVOT wall, the pericardium (around the LV apex and behind the LA) and bright fat /
fibrous patches. Points are drawn uniformly in each structure's parameter domain and
offset across its thickness; each carries ``weight`` = power x the volume it stands for
(mm^3), a unit ``normal`` (zero for diffuse scatterers such as calcium) and ``optical`` =
attenuation coefficient x volume, from which the renderer casts shadows. Points outside
the scene's bounds (the imaged volume) are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_msdl.phantoms import anatomy
from napari_msdl.phantoms.scene import (
    Neighbours,
    Scene,
    in_blood,
    posterior_frame,
    texture,
    transform,
)

MAX_POINTS_PER_PART = 400_000


@dataclass
class Scatterers:
    """Point scatterers in world mm."""

    points: np.ndarray
    weight: np.ndarray
    normal: np.ndarray
    optical: np.ndarray


class _Parts:
    def __init__(self, scene: Scene, rng: np.random.Generator, density: float):
        self.scene, self.rng, self.density = scene, rng, density
        self.items: list[tuple[np.ndarray, ...]] = []

    def count(self, volume_mm3: float) -> int:
        return int(np.clip(self.density * volume_mm3, 50, MAX_POINTS_PER_PART))

    def inside(self, points: np.ndarray) -> np.ndarray:
        lo, hi = self.scene.bounds
        return np.all((points >= lo) & (points <= hi), axis=1)

    def add(self, points, power, dvol, normal, mu: float) -> None:
        """Scatterers of echogenicity ``power`` standing for ``dvol`` mm^3 each, attenuating
        with ``mu`` (1/mm)."""
        keep = self.inside(points)
        dvol = np.broadcast_to(dvol, keep.shape)[keep]
        power = np.broadcast_to(power, keep.shape)[keep]
        self.items.append((points[keep], power * dvol, normal[keep], mu * dvol))

    def shell(self, surface, normal, thickness: float, level: str, lo_frac: float = 0.5) -> None:
        """Offset points of a surface (``normal`` unit, ``surface`` area per point in
        ``weight``) across ``thickness``."""
        points, area = surface
        offset = (self.rng.random(len(points)) - lo_frac) * thickness
        dvol = area * thickness
        self.add(points + offset[:, None] * normal, self.scene.power(level), dvol, normal,
                 self.scene.levels["mu_wall"])


def surface_scatterers(scene: Scene, rng: np.random.Generator, density: float) -> Scatterers:
    """All scatterers of the scene (``density`` points per mm^3), in world coordinates."""
    parts = _Parts(scene, rng, density)
    _root_wall(parts)
    _aortic_leaflets(parts)
    _left_atrium(parts)
    _mitral_leaflets(parts)
    _rvot(parts)
    _pericardium(parts)
    _patches(parts)
    pts, w, nrm, opt = (np.concatenate(x) for x in zip(*parts.items, strict=True))
    w = w * texture(scene, pts, scene.levels["surface_texture"])
    return Scatterers(points=scene.to_world(pts), weight=w, normal=transform(nrm, scene.rotation),
                      optical=opt)


def _root_wall(parts: _Parts) -> None:
    s, n, rng = parts.scene.valve, parts.scene.neighbours, parts.rng
    lo, hi = parts.scene.bounds
    z_lo = max(-s.lvot_height - n.lvot_extension, lo[2])
    z_hi = min(s.stj_height + s.aorta_height + n.aorta_extension, hi[2])
    if z_hi <= z_lo:
        return
    length = z_hi - z_lo
    r_mean = s.annulus_radius + np.mean(s.sinus_bulge) * 0.5
    m = parts.count(2 * np.pi * r_mean * length * s.wall_thickness)
    z = z_lo + rng.random(m) * length
    th = rng.random(m) * 2 * np.pi
    wt = anatomy.wall_thickness(z, th, s)
    nrm = anatomy.root_normals(z, th, s)
    off = (rng.random(m) - anatomy.WALL_INNER_FRACTION) * wt
    pts = anatomy.root_surface(z, th, s) + off[:, None] * nrm
    dvol = anatomy.root_radius(z, th, s) * 2 * np.pi * length * wt / m
    start = -s.lvot_height - n.lvot_extension
    fade = np.clip((z - start) / max(n.lvot_extension, 1e-6), 0.3, 1.0)
    parts.add(pts, parts.scene.power("wall") * fade, dvol, nrm, parts.scene.levels["mu_wall"])


def _leaflet_frame(k: int, u: np.ndarray, v: np.ndarray, s) -> tuple[np.ndarray, np.ndarray]:
    h = 1e-3
    p = anatomy.leaflet_surface(k, u, v, s)
    du = anatomy.leaflet_surface(k, u + h, v, s) - anatomy.leaflet_surface(k, u - h, v, s)
    dv = anatomy.leaflet_surface(k, u, v + h, s) - anatomy.leaflet_surface(k, u, v - h, s)
    return p, np.cross(du, dv) / (4 * h * h)


def _aortic_leaflets(parts: _Parts) -> None:
    scene, rng = parts.scene, parts.rng
    s = scene.valve
    for k in range(3):
        m = parts.count(450.0 * s.leaflet_thickness)
        p0, cross = _leaflet_frame(k, rng.random(m), rng.random(m), s)
        area = np.linalg.norm(cross, axis=1)
        parts.shell((p0, area / m), cross / np.maximum(area, 1e-12)[:, None],
                    s.leaflet_thickness, "leaflet")
    for k, u, v, radius in scene.calcifications:
        m = parts.count(4.2 * radius**3)
        center = anatomy.leaflet_surface(k, np.array([u]), np.array([v]), s)[0]
        d = rng.normal(size=(m, 3))
        d *= (radius * rng.random(m) ** (1 / 3) / np.linalg.norm(d, axis=1))[:, None]
        dvol = 4 / 3 * np.pi * radius**3 / m
        parts.add(center + d, scene.power("calcium"), dvol, np.zeros((m, 3)),
                  scene.levels["mu_calcium"])


def _ellipsoid_surface(parts: _Parts, center, semi, frame, m):
    """Points on an ellipsoid (semi-axes along the rows of ``frame``) within the scene's
    bounds, their unit normals and the area each stands for."""
    d = parts.rng.normal(size=(m, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    pts = np.asarray(center) + transform(d * semi, frame)
    keep = parts.inside(pts)
    grad = d[keep] / semi
    scale = np.linalg.norm(grad, axis=1)
    return (pts[keep], transform(grad / scale[:, None], frame),
            4 * np.pi * np.prod(semi) * scale / m)


def _left_atrium(parts: _Parts) -> None:
    n = parts.scene.neighbours
    semi = np.asarray(n.la_semi)
    m = parts.count(4 * np.pi * np.prod(semi) ** (2 / 3) * n.la_wall)
    pts, nrm, area = _ellipsoid_surface(parts, n.la_center, semi, posterior_frame(n), m)
    rel = pts - np.asarray(n.mv_center)
    along = rel @ np.asarray(n.mv_normal)
    radial = np.linalg.norm(rel - along[:, None] * np.asarray(n.mv_normal), axis=1)
    keep = radial > 0.95 * n.mv_radius
    parts.shell((pts[keep], area[keep]), nrm[keep], n.la_wall, "la_wall")


def mitral_leaflet(n: Neighbours, anterior: bool, psi: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Points of the anterior (AML) or posterior (PML) mitral leaflet; ``psi`` in [0, 1]
    runs along its annulus arc, ``v`` in [0, 1] from the annulus to the free edge."""
    normal = np.asarray(n.mv_normal)
    e_p = posterior_frame(n)[0]
    towards_aorta = -e_p + np.dot(e_p, normal) * normal
    m1 = towards_aorta / np.linalg.norm(towards_aorta)
    m2 = np.cross(normal, m1)
    half = np.deg2rad(62.0)
    ang = -half + psi * 2 * half if anterior else half + psi * (2 * np.pi - 2 * half)
    rim = np.cos(ang)[:, None] * m1 + np.sin(ang)[:, None] * m2
    c = np.asarray(n.mv_center)
    hinge = c + n.mv_radius * rim
    length = n.aml_length if anterior else n.pml_length
    closed = c + 6.0 * normal - 0.3 * n.mv_radius * m1 + \
        (0.9 * n.mv_radius * np.sin(ang))[:, None] * m2
    opened = hinge + length * (0.95 * normal + 0.2 * rim)
    o = n.mv_opening
    free = (1 - o) * closed + o * opened
    billow = (1 - o) * 3.0 * np.sin(np.pi * v)[:, None] * normal
    return (1 - v)[:, None] * hinge + v[:, None] * free - billow


def _mitral_leaflets(parts: _Parts) -> None:
    n, rng, h = parts.scene.neighbours, parts.rng, 1e-3
    for anterior in (True, False):
        length = n.aml_length if anterior else n.pml_length
        m = parts.count(length * n.mv_radius * 2.5 * 1.5)
        psi, v = rng.random(m), rng.random(m)
        p = mitral_leaflet(n, anterior, psi, v)
        dpsi = mitral_leaflet(n, anterior, psi + h, v) - mitral_leaflet(n, anterior, psi - h, v)
        dv = mitral_leaflet(n, anterior, psi, v + h) - mitral_leaflet(n, anterior, psi, v - h)
        cross = np.cross(dpsi, dv) / (4 * h * h)
        area = np.linalg.norm(cross, axis=1)
        parts.shell((p, area / m), cross / np.maximum(area, 1e-12)[:, None], 1.5, "mitral")


def _rvot(parts: _Parts) -> None:
    """The RVOT wall: a tube whose ends fade into the RV and the pulmonary artery."""
    n, rng = parts.scene.neighbours, parts.rng
    a, b = np.asarray(n.rvot_start), np.asarray(n.rvot_end)
    length = np.linalg.norm(b - a)
    axis = (b - a) / length
    e1 = np.cross(axis, [0.0, 0.0, 1.0] if abs(axis[2]) < 0.9 else [1.0, 0.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    m = parts.count(2 * np.pi * n.rvot_radius * length * n.rvot_wall)
    t, ang = rng.random(m), rng.random(m) * 2 * np.pi
    nrm = np.cos(ang)[:, None] * e1 + np.sin(ang)[:, None] * e2
    surf = a + (t * length)[:, None] * axis + n.rvot_radius * nrm
    area = 2 * np.pi * n.rvot_radius * length / m * np.sin(np.pi * t) ** 0.5
    parts.shell((surf, area), nrm, n.rvot_wall, "rvot_wall", lo_frac=0.3)


def _pericardium(parts: _Parts) -> None:
    """A bright cup around the LV apex and a curved sheet behind the left atrium."""
    n, rng = parts.scene.neighbours, parts.rng
    grow = n.myo_thickness + n.pericardium_gap
    semi = np.array([n.lv_semi[1] + grow, n.lv_semi[1] + grow, n.lv_semi[0] + grow])
    ax = np.asarray(n.lv_axis)
    e1 = np.cross(ax, [1.0, 0.0, 0.0] if abs(ax[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    frame = np.stack([e1, np.cross(ax, e1), ax])
    m = parts.count(2 * np.pi * semi[0] * semi[2] * n.pericardium_thickness)
    pts, nrm, area = _ellipsoid_surface(parts, n.lv_center, semi, frame, m)
    keep = (pts - np.asarray(n.lv_center)) @ ax > 0.15 * semi[2]
    parts.shell((pts[keep], area[keep]), nrm[keep], n.pericardium_thickness, "pericardium")

    gap, curvature, thickness = n.posterior_sheet
    e_p, e_b, e_z = posterior_frame(n)
    size = 90.0
    m = parts.count(size * size * thickness)
    b, z = (rng.random(m) - 0.5) * size, (rng.random(m) - 0.5) * size
    depth = np.dot(n.la_center, e_p) + n.la_semi[0] + gap - curvature * (b * b + z * z)
    pts = depth[:, None] * e_p + b[:, None] * e_b + (z + n.la_center[2])[:, None] * e_z
    keep = parts.inside(pts)
    b, z = b[keep], z[keep]
    nrm = e_p + 2 * curvature * (b[:, None] * e_b + z[:, None] * e_z)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    parts.shell((pts[keep], np.full(len(b), size * size / m)), nrm, thickness, "pericardium")


def _patches(parts: _Parts) -> None:
    """Diffuse bright blobs: fat or fibrous tissue (not inside blood pools) and mitral
    annular calcification (casting shadows)."""
    scene, rng = parts.scene, parts.rng
    for x, y, z, radius, level, calcified in scene.neighbours.patches:
        vol = 4 / 3 * np.pi * radius**3
        m = parts.count(vol)
        d = rng.normal(size=(m, 3))
        d *= (radius * rng.random(m) ** (1 / 3) / np.linalg.norm(d, axis=1))[:, None]
        pts = np.array([x, y, z]) + d
        keep = np.ones(m, dtype=bool) if calcified else ~in_blood(scene, pts)
        mu = scene.levels["mu_calcium" if calcified else "mu_wall"]
        parts.add(pts[keep], 10 ** (level / 10), vol / m, np.zeros((int(keep.sum()), 3)), mu)
