"""Phantom domains: the generator's own ranges, and shifted ones that a model trained on
them has never seen (for adaptation: fine-tuning on a few cases of another domain).

A :class:`Domain` changes what :func:`~napari_msdl.phantoms.make_phantom` draws by factors
and offsets applied after drawing: the valve's lengths (a larger root), its leaflets and
wall, the speckle size (the point spread function), the display gain and dynamic range,
the tissue attenuation and the width of the echo sector. ``"phantom"`` is the identity;
``"shifted"`` is the domain of the adaptation benchmark (ranges in docs/phantoms.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from napari_msdl._io import check_number

LENGTHS = ("annulus_radius", "lvot_radius", "stj_radius", "aorta_radius", "lvot_height",
           "stj_height", "commissure_height", "aorta_height", "coaptation_height",
           "belly_closed", "belly_open", "commissure_gap")
"""The valve's lengths (mm) that ``anatomy_scale`` multiplies (the sinus bulges too)."""


@dataclass(frozen=True)
class Domain:
    """How a domain's cases differ from the generator's own (factors 1 and offsets 0 are
    the generator's ranges)."""

    name: str
    anatomy_scale: float = 1.0
    leaflet_thickness: float = 1.0
    wall_thickness: float = 1.0
    psf_scale: float = 1.0
    gain_db: float = 0.0
    dynamic_range_db: float = 0.0
    attenuation: float = 0.0
    sector_scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("anatomy_scale", "leaflet_thickness", "wall_thickness", "psf_scale",
                     "sector_scale"):
            check_number(f"domain {name}", getattr(self, name), 0.5, 2.0)
        check_number("domain gain_db", self.gain_db, -20.0, 20.0)
        check_number("domain dynamic_range_db", self.dynamic_range_db, -20.0, 20.0)
        check_number("domain attenuation", self.attenuation, -0.05, 0.2)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def valve(self, s):
        """A :class:`~napari_msdl.phantoms.anatomy.ValveShape` in this domain."""
        k = self.anatomy_scale
        changes = {name: getattr(s, name) * k for name in LENGTHS}
        changes.update(sinus_bulge=tuple(b * k for b in s.sinus_bulge),
                       aorta_bend=tuple(b / k for b in s.aorta_bend),
                       leaflet_thickness=s.leaflet_thickness * self.leaflet_thickness,
                       wall_thickness=s.wall_thickness * self.wall_thickness)
        return replace(s, **changes)

    def image(self, p):
        """:class:`~napari_msdl.phantoms.echo.ImageParams` in this domain."""
        return replace(p, psf_axial=p.psf_axial * self.psf_scale,
                       psf_lateral=p.psf_lateral * self.psf_scale, gain=p.gain + self.gain_db,
                       dynamic_range=p.dynamic_range + self.dynamic_range_db,
                       residual_attenuation=p.residual_attenuation + self.attenuation)

    def fov(self, f):
        """A :class:`~napari_msdl.phantoms.echo.FieldOfView` in this domain (a narrower or
        wider sector about the same apex)."""
        return replace(f, tan_u=f.tan_u * self.sector_scale, tan_v=f.tan_v * self.sector_scale)


DOMAINS = {
    "phantom": Domain("phantom"),
    "shifted": Domain("shifted", anatomy_scale=1.2, leaflet_thickness=1.5, wall_thickness=0.7,
                      psf_scale=1.5, gain_db=-4.0, dynamic_range_db=-8.0, attenuation=0.04,
                      sector_scale=0.85),
}
"""The domains by name: the generator's own, and the adaptation benchmark's."""


def domain(name: str | Domain) -> Domain:
    """The domain called ``name`` (``ValueError`` listing them when there is none)."""
    if isinstance(name, Domain):
        return name
    if name not in DOMAINS:
        raise ValueError(f"domain must be one of {list(DOMAINS)}, got {name!r}")
    return DOMAINS[name]
