"""``make_phantom``: one seeded synthetic TEE case with its exact box and valve mesh.

One ``np.random.default_rng(seed)`` is threaded through every draw, in a fixed order, so
the same seed (and shape, spacing) gives the same case bit for bit. The ranges of every
parameter are listed in docs/phantoms.md.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from napari_msdl.geometry import Pose
from napari_msdl.phantoms import anatomy
from napari_msdl.phantoms.anatomy import ValveShape
from napari_msdl.phantoms.domains import Domain
from napari_msdl.phantoms.domains import domain as get_domain
from napari_msdl.phantoms.echo import FieldOfView, ImageParams, render
from napari_msdl.phantoms.scene import TEXTURE_CELL_MM, Neighbours, Scene
from napari_msdl.valve import TOPOLOGY, pose_from_mesh, valve_mesh
from napari_msdl.volume import Volume

SHAPE_RANGE = ((100, 100, 50), (250, 250, 150))
SPACING_RANGE = (0.75, 1.0)
MAX_TILT_DEG = 35.0
MAX_ROLL_DEG = 40.0


@dataclass(frozen=True, eq=False)
class PhantomCase:
    """A phantom: ``volume`` (uint8), its exact ``pose``, the valve ``mesh`` (mm), the
    sampled ``params`` (JSON-ready) and the ``seed``."""

    seed: int
    volume: Volume
    pose: Pose
    mesh: Any
    params: dict
    fov: FieldOfView

    def fov_mask(self) -> np.ndarray:
        """Voxels inside the TEE field of view (everything else is 0)."""
        return self.fov.mask(self.volume.shape, self.volume.spacing, self.volume.origin)


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _unit(v) -> tuple[float, float, float]:
    v = np.asarray(v, dtype=np.float64)
    return tuple(float(x) for x in v / np.linalg.norm(v))


MAX_VOXELS = 30_000_000
"""The largest phantom made (about 3x the paper's largest volume, 250 x 250 x 150): the
generator holds a few float arrays of the volume's size, about 40 bytes per voxel."""
SPACING_LIMITS = (0.1, 5.0)


def check_geometry(shape, spacing) -> tuple[tuple[int, int, int] | None, np.ndarray | None]:
    """``shape`` (3 whole numbers >= 16, at most :data:`MAX_VOXELS` in all) and
    ``spacing`` (mm, in :data:`SPACING_LIMITS`), either None (drawn per case); a
    ``ValueError`` naming the parameter otherwise, before any work."""
    out_shape = None
    if shape is not None:
        try:
            shape_arr = np.asarray(shape, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as e:
            raise ValueError(f"shape must be 3 whole numbers >= 16 (voxels), got "
                             f"{shape!r}") from e
        whole = (shape_arr.shape == (3,) and np.all(np.isfinite(shape_arr))
                 and np.all(shape_arr == np.round(shape_arr)))
        if not whole or np.any(shape_arr < 16):
            raise ValueError(f"shape must be 3 whole numbers >= 16 (voxels), got {shape!r}")
        if float(np.prod(shape_arr)) > MAX_VOXELS:
            raise ValueError(f"shape {tuple(int(n) for n in shape_arr)} has "
                             f"{np.prod(shape_arr):.3g} voxels; a phantom has at most "
                             f"{MAX_VOXELS:,} (the paper's largest volume has 9.4 M)")
        out_shape = tuple(int(n) for n in shape_arr)
    sp = None
    if spacing is not None:
        try:
            sp = np.broadcast_to(np.asarray(spacing, dtype=np.float64).reshape(-1), (3,)).copy()
        except (TypeError, ValueError) as e:
            raise ValueError(f"spacing must be a positive number of mm, got {spacing!r}") from e
        lo, hi = SPACING_LIMITS
        if not np.all(np.isfinite(sp)) or np.any(sp < lo) or np.any(sp > hi):
            raise ValueError(f"spacing must be {lo} to {hi} mm, got {spacing!r}")
    return out_shape, sp



def sample_geometry(rng: np.random.Generator) -> tuple[tuple[int, int, int], float]:
    """Volume shape and isotropic spacing within the paper's ranges."""
    zoom = rng.random()
    lo, hi = np.array(SHAPE_RANGE[0]), np.array(SHAPE_RANGE[1])
    jitter = rng.normal(0, 0.08, 3)
    shape = np.clip(np.round(lo + (hi - lo) * np.clip(zoom + jitter, 0, 1)), lo, hi).astype(int)
    return tuple(int(n) for n in shape), round(_u(rng, *SPACING_RANGE), 3)


def sample_fov(rng: np.random.Generator, shape, spacing) -> FieldOfView:
    """A pyramid whose base covers most of the volume; the apex is on or above z = 0."""
    ext = (np.asarray(shape) - 1) * spacing
    tan_u, tan_v = np.tan(np.deg2rad(rng.uniform(32, 45, 2)))
    cover = _u(rng, 0.9, 1.15)
    apex_xy = ext[:2] / 2 + rng.uniform(-0.08, 0.08, 2) * ext[:2]
    need = cover * max(ext[0] / 2 / tan_u, ext[1] / 2 / tan_v)
    if need >= ext[2]:
        apex_z = ext[2] - need
    else:
        apex_z = 0.0
        tan_u, tan_v = cover * ext[0] / 2 / ext[2], cover * ext[1] / 2 / ext[2]
    bottom = ext[2] - apex_z
    return FieldOfView(apex=(float(apex_xy[0]), float(apex_xy[1]), float(apex_z)),
                       tan_u=float(tan_u), tan_v=float(tan_v),
                       r_max=float(bottom * _u(rng, 1.0, 1.12)), d_min=_u(rng, 2.0, 6.0))


def sample_valve(rng: np.random.Generator) -> ValveShape:
    """Valve anatomy within the documented ranges."""
    r_ann = _u(rng, 10.0, 14.0)
    h_stj = float(np.clip(1.7 * r_ann + rng.normal(0, 1.5), 16.0, 26.0))
    spans = 2 * np.pi / 3 + rng.uniform(-0.2, 0.2, 3)
    spans *= 2 * np.pi / spans.sum()
    r_stj = r_ann * _u(rng, 0.95, 1.2)
    h_com = h_stj * _u(rng, 0.82, 0.95)
    bulge = r_ann * _u(rng, 0.22, 0.36) * rng.uniform(0.85, 1.15, 3)
    return ValveShape(
        annulus_radius=r_ann, lvot_radius=r_ann * _u(rng, 0.95, 1.1), stj_radius=r_stj,
        aorta_radius=r_stj * _u(rng, 1.0, 1.12), lvot_height=_u(rng, 6.0, 10.0),
        stj_height=h_stj, commissure_height=h_com, aorta_height=_u(rng, 8.0, 14.0),
        commissure_angles=(0.0, float(spans[0]), float(spans[0] + spans[1])),
        sinus_bulge=tuple(float(b) for b in bulge),
        sinus_peak=_u(rng, 0.35, 0.5), sinus_sharpness=_u(rng, 0.6, 1.2),
        ellipticity=_u(rng, 0.0, 0.12), ellipse_angle=_u(rng, 0, np.pi),
        lvot_tilt=tuple(float(t) for t in rng.uniform(-0.15, 0.15, 2)),
        aorta_bend=tuple(float(b) for b in rng.uniform(-0.004, 0.004, 2)),
        wall_thickness=_u(rng, 1.5, 3.0), wall_variation=_u(rng, 0.0, 0.3),
        wall_angle=_u(rng, 0, 2 * np.pi), leaflet_opening=float(rng.beta(0.6, 0.6)),
        coaptation_height=h_com * _u(rng, 0.55, 0.75), leaflet_thickness=_u(rng, 0.8, 1.6),
        hinge_exponent=_u(rng, 0.7, 1.3), belly_closed=_u(rng, 2.0, 5.0),
        belly_open=_u(rng, 0.5, 2.0), open_radius=_u(rng, 0.8, 0.95),
        commissure_gap=_u(rng, 1.0, 2.5))


def sample_neighbours(rng: np.random.Generator, s: ValveShape) -> Neighbours:
    """The left atrium, mitral valve, ventricles, RVOT and pericardium around the valve."""
    ang = np.pi + _u(rng, -0.35, 0.35)
    e_p = np.array([np.cos(ang), np.sin(ang), 0.0])
    e_z = np.array([0.0, 0.0, 1.0])
    e_b = np.cross(e_z, e_p)
    r_out = max(s.annulus_radius, s.stj_radius) + max(s.sinus_bulge) + s.wall_thickness
    la_semi = np.array([_u(rng, 14, 20), _u(rng, 18, 26), _u(rng, 18, 26)])
    la_c = (r_out + _u(rng, 2, 6) + la_semi[0]) * e_p + _u(rng, -4, 8) * e_z + _u(rng, -5, 5) * e_b
    g = np.deg2rad(_u(rng, 10, 30))
    mv_n = -np.cos(g) * e_z - np.sin(g) * e_p
    mv_c = la_c + 0.85 * la_semi[2] * mv_n - _u(rng, 2, 6) * e_p
    mv_r = _u(rng, 12, 16)
    lvot_bottom = np.array([*anatomy.centerline(-s.lvot_height - 4, s), -s.lvot_height - 4])
    base = 0.5 * (lvot_bottom + mv_c)
    gl = np.deg2rad(_u(rng, 15, 40))
    lv_axis = np.asarray(_unit(-np.cos(gl) * e_z - np.sin(gl) * e_p + _u(rng, -0.2, 0.2) * e_b))
    lv_semi = (_u(rng, 38, 50), _u(rng, 20, 27))
    lv_c = base + lv_axis * lv_semi[0] * _u(rng, 0.7, 0.85)
    myo = _u(rng, 8, 13)
    rv_semi = (_u(rng, 30, 42), _u(rng, 12, 18))
    rv_c = lv_c - e_p * (lv_semi[1] + myo + rv_semi[1] + _u(rng, 2, 6)) + lv_axis * _u(rng, -8, 4)
    rvot_r = _u(rng, 9, 13)
    kappa = np.deg2rad(_u(rng, 25, 65))
    rvot_dir = np.cos(kappa) * e_b * rng.choice([-1.0, 1.0]) + np.sin(kappa) * e_z
    rvot_a = -(r_out + _u(rng, 3, 8) + rvot_r) * e_p + _u(rng, -10, 0) * e_z - 15 * rvot_dir
    rvot_b = rvot_a + rvot_dir * _u(rng, 40, 60)
    t3 = lambda v: tuple(float(x) for x in v)  # noqa: E731
    return Neighbours(
        posterior_angle=float(ang), la_center=t3(la_c), la_semi=t3(la_semi),
        la_wall=_u(rng, 1.5, 3.0),
        mv_center=t3(mv_c), mv_normal=_unit(mv_n), mv_radius=mv_r,
        mv_opening=float(np.clip(1 - s.leaflet_opening + rng.normal(0, 0.15), 0, 1)),
        aml_length=_u(rng, 20, 27), pml_length=_u(rng, 11, 16), lv_center=t3(lv_c),
        lv_axis=t3(lv_axis), lv_semi=lv_semi, myo_thickness=myo, rv_center=t3(rv_c),
        rv_axis=_unit(lv_axis + rng.normal(0, 0.15, 3)), rv_semi=rv_semi, rvot_start=t3(rvot_a),
        rvot_end=t3(rvot_b), rvot_radius=rvot_r, rvot_wall=_u(rng, 1.5, 3.0),
        pericardium_gap=_u(rng, 1, 4), pericardium_thickness=_u(rng, 2, 4),
        lvot_extension=_u(rng, 6, 12), aorta_extension=_u(rng, 25, 45),
        posterior_sheet=(_u(rng, 2, 8), _u(rng, 0.0, 0.006), _u(rng, 2, 4)),
        patches=_sample_patches(rng, r_out, mv_c, mv_n, mv_r, e_p))


def _sample_patches(rng, r_out, mv_center, mv_normal, mv_radius, e_p) -> tuple:
    """3-8 bright fat / fibrous blobs 4-25 mm outside the root wall, and in 30 % of cases
    1-3 spots of mitral annular calcification on the posterior mitral annulus."""
    out = []
    for _ in range(int(rng.integers(3, 9))):
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        c = d * (r_out + _u(rng, 4, 25)) + np.array([0.0, 0.0, _u(rng, -5, 25)])
        out.append((*c, _u(rng, 3.0, 7.0), _u(rng, -6, 2), 0.0))
    if rng.random() < 0.3:
        m1 = e_p - np.dot(e_p, mv_normal) * mv_normal
        m1 /= np.linalg.norm(m1)
        m2 = np.cross(mv_normal, m1)
        for _ in range(int(rng.integers(1, 4))):
            a = _u(rng, -1.2, 1.2)
            c = mv_center + mv_radius * (np.cos(a) * m1 + np.sin(a) * m2)
            out.append((*c, _u(rng, 1.5, 3.5), _u(rng, 6, 12), 1.0))
    return tuple(tuple(float(x) for x in p) for p in out)


def sample_levels(rng: np.random.Generator) -> dict[str, float]:
    """Tissue echogenicity (dB re. a typical wall), texture (dB) and attenuation (1/mm)."""
    ranges = {"blood": (-60, -44), "tissue": (-32, -24), "myocardium": (-24, -14),
              "wall": (-2, 2), "leaflet": (-2, 3), "calcium": (8, 14), "la_wall": (-6, 0),
              "rvot_wall": (-5, 1), "mitral": (-5, 0), "pericardium": (1, 8),
              "texture": (1.5, 3.5), "surface_texture": (2.0, 5.0), "mu_wall": (0.01, 0.05),
              "mu_calcium": (0.8, 1.6)}
    return {k: _u(rng, *r) for k, r in ranges.items()}


def sample_calcifications(rng: np.random.Generator) -> tuple[tuple[int, float, float, float], ...]:
    """No calcium (65 %) or 1-4 spots on the leaflets: (leaflet, u, v, radius mm)."""
    if rng.random() >= 0.35:
        return ()
    return tuple((int(rng.integers(3)), _u(rng, 0.15, 0.85), _u(rng, 0.05, 0.6), _u(rng, 1.0, 2.5))
                 for _ in range(int(rng.integers(1, 5))))


def sample_image(rng: np.random.Generator, fov: FieldOfView) -> ImageParams:
    """Acquisition and display settings within the documented ranges."""
    n_drop = int(rng.choice([0, 1, 2], p=[0.35, 0.4, 0.25]))
    depth_top = max(fov.d_min, -fov.apex[2])
    drops = tuple((_u(rng, -0.8, 0.8) * fov.tan_u, _u(rng, -0.8, 0.8) * fov.tan_v,
                   _u(rng, 0.15, 0.4) * fov.tan_u, _u(rng, 0.15, 0.4) * fov.tan_v,
                   depth_top + _u(rng, 0.0, 0.7) * (fov.r_max - depth_top), _u(rng, 0.05, 0.4))
                  for _ in range(n_drop))
    return ImageParams(
        psf_axial=_u(rng, 0.5, 0.85), psf_lateral=_u(rng, 0.6, 1.1), dynamic_range=_u(rng, 45, 60),
        gain=_u(rng, -10, -2), gamma=_u(rng, 0.8, 1.25), residual_attenuation=_u(rng, -0.03, 0.1),
        tgc_knots=tuple(float(x) for x in rng.normal(0, 1.5, 6)), tgc_gain=_u(rng, 0.15, 0.3),
        lateral_falloff=_u(rng, 0, 6), noise_level=_u(rng, -85, -72),
        clutter_level=_u(rng, -24, -10), clutter_length=_u(rng, 4, 12),
        specular_floor=_u(rng, 0.15, 0.5), specular_power=_u(rng, 1, 2), dropouts=drops)


def sample_rotation(rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float]]:
    """Local-to-world rotation (rows: local axes in world): the root axis within 35 degrees
    of depth (+z), rotated about it by at most 40 degrees."""
    roll = np.deg2rad(_u(rng, -MAX_ROLL_DEG, MAX_ROLL_DEG))
    tilt = np.deg2rad(MAX_TILT_DEG) * np.sqrt(rng.random())
    direction = _u(rng, 0, 2 * np.pi)
    c, s = np.cos(roll), np.sin(roll)
    r_roll = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    axis = np.array([np.cos(direction), np.sin(direction), 0.0])
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    r_tilt = np.eye(3) + np.sin(tilt) * k + (1 - np.cos(tilt)) * k @ k
    info = {"roll_deg": float(np.rad2deg(roll)), "tilt_deg": float(np.rad2deg(tilt)),
            "tilt_direction_deg": float(np.rad2deg(direction))}
    return (r_tilt @ r_roll).T, info


def place_valve(rng: np.random.Generator, local: np.ndarray, rotation: np.ndarray,
                fov: FieldOfView, extent: np.ndarray) -> tuple[np.ndarray, float, bool]:
    """A translation putting the valve in the field of view: mostly entirely inside; in
    about 15 % of cases deliberately clipped (70-97 % of the valve inside)."""
    pts = local[TOPOLOGY.valve] @ rotation
    margin = np.minimum(5.0, extent / 4)
    cand = margin + rng.random((256, 3)) * (extent - 2 * margin)
    clip = bool(rng.random() < 0.15)
    inside_vol = np.zeros((len(cand), len(pts)), dtype=bool)
    frac = np.zeros(len(cand))
    for i, t in enumerate(cand):
        p = pts + t
        inside_vol[i] = fov.contains(p) & np.all((p >= 0) & (p <= extent), axis=1)
        frac[i] = inside_vol[i].mean()
    ok = np.flatnonzero((frac >= 0.7) & (frac < 0.97)) if clip else np.flatnonzero(frac >= 0.995)
    best = int(ok[0]) if len(ok) else int(np.argmax(frac))
    return cand[best], float(frac[best]), clip


def make_phantom(seed: int, shape=None, spacing=None,
                 domain: str | Domain = "phantom") -> PhantomCase:
    """A synthetic 3D TEE case with its exact box and valve mesh.

    ``shape`` (voxels) and ``spacing`` (mm, one value or three) are drawn from the seed
    within 100x100x50..250x250x150 and 0.75..1 mm when None. The origin is (0, 0, 0);
    array axis 2 is depth (the probe sits on or above the z = 0 face). The valve is always
    placed in the field of view; in a volume too small to hold it, part of it is clipped.
    ``domain`` (a name in :data:`~napari_msdl.phantoms.domains.DOMAINS` or a
    :class:`~napari_msdl.phantoms.domains.Domain`) shifts the drawn anatomy and image.
    """
    dom = get_domain(domain)
    rng = np.random.default_rng(int(seed))
    drawn_shape, drawn_spacing = sample_geometry(rng)
    shape, spacing = check_geometry(drawn_shape if shape is None else shape,
                                     drawn_spacing if spacing is None else spacing)
    origin = np.zeros(3)
    fov = dom.fov(sample_fov(rng, shape, spacing))
    valve = dom.valve(sample_valve(rng))
    neighbours = sample_neighbours(rng, valve)
    levels = sample_levels(rng)
    calcium = sample_calcifications(rng)
    rotation, orientation = sample_rotation(rng)
    local = anatomy.valve_vertices(valve)
    extent = (np.asarray(shape) - 1) * spacing
    translation, inside, clipped = place_valve(rng, local, rotation, fov, extent)
    vertices = local @ rotation + translation
    mesh = valve_mesh(vertices)
    pose = pose_from_mesh(mesh.vertices)
    n_tex = int(np.ceil(2 * 110 / TEXTURE_CELL_MM)) + 1
    texture = ndimage.gaussian_filter(rng.standard_normal((n_tex,) * 3), 1.0)
    texture /= texture.std()
    corners = np.array(list(itertools.product(*zip(origin, origin + extent, strict=True))))
    local_corners = (corners - translation) @ rotation.T
    bounds = (local_corners.min(axis=0) - 3.0, local_corners.max(axis=0) + 3.0)
    scene = Scene(valve=valve, neighbours=neighbours, levels=levels, calcifications=calcium,
                  texture=texture, rotation=rotation, translation=translation, bounds=bounds)
    image = dom.image(sample_image(rng, fov))
    data = render(scene, fov, image, shape, spacing, origin, rng)
    params = {
        "seed": int(seed), "shape": list(shape), "spacing": [float(s) for s in spacing],
        "origin": origin.tolist(), "fov": fov.to_dict(), "valve": valve.to_dict(),
        "neighbours": neighbours.to_dict(), "levels": levels,
        "calcifications": [list(c) for c in calcium], "orientation": orientation,
        "rotation": rotation.tolist(), "translation": translation.tolist(),
        "valve_inside_fov": inside, "clipped_by_design": clipped, "image": image.to_dict(),
        "domain": dom.name,
    }
    return PhantomCase(seed=int(seed), volume=Volume(data, spacing, origin), pose=pose,
                       mesh=mesh, params=params, fov=fov)
