"""Make the README's screenshots: ``xvfb-run -a python docs/make_screenshots.py [NAME ...]``.

Each screenshot opens a real napari window (it needs an OpenGL context, hence Xvfb) and
saves a PNG under docs/images/. Names: sample_3d, sample_2d, sample_ortho, detect_3d,
detect_2d, patterns.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "images"


def _viewer():
    import napari

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1400, 900)
    return viewer


def _sample(viewer, index=0):
    viewer.open_sample("napari-msdl", f"phantom-{index + 1}")
    return viewer.layers[0]


def _camera(viewer):
    return getattr(viewer, "scene", viewer).camera


def _focus_3d(viewer, image, center, angles=(-10, 30, 60), zoom=1.5):
    viewer.dims.ndisplay = 3
    viewer.reset_view()
    camera = _camera(viewer)
    camera.center = tuple(center)
    camera.angles = angles
    camera.zoom = camera.zoom * zoom


def _slice_through(viewer, center, axis=0):
    viewer.dims.ndisplay = 2
    viewer.reset_view()
    viewer.dims.set_point(axis, float(center[axis]))


def sample_3d():
    viewer = _viewer()
    image = _sample(viewer)
    pose = viewer.layers["true box"].metadata["pose"]
    image.depiction = "plane"
    image.plane = {"position": tuple(pose["center"]), "normal": (1.0, 0.0, 0.0)}
    mesh = viewer.layers["true mesh"]
    mesh.visible, mesh.opacity = True, 0.5
    viewer.layers["true mesh (2D cut)"].visible = False
    viewer.layers["true box (2D cut)"].visible = False
    _focus_3d(viewer, image, pose["center"], angles=(-15, 40, 50))
    viewer.screenshot(str(OUT / "sample_3d.png"), canvas_only=False)
    viewer.close()


def sample_2d():
    viewer = _viewer()
    _sample(viewer)
    pose = viewer.layers["true box"].metadata["pose"]
    _slice_through(viewer, np.round(pose["center"]))
    camera = _camera(viewer)
    camera.center = (0, *pose["center"][1:])
    camera.zoom = camera.zoom * 1.8
    viewer.screenshot(str(OUT / "sample_2d.png"), canvas_only=False)
    viewer.close()


def sample_ortho():
    """Three orthogonal slices through the valve, side by side (grid mode)."""
    import napari

    viewer = _viewer()
    _sample(viewer)
    pose = viewer.layers["true box"].metadata["pose"]
    image = viewer.layers[0]
    viewer.dims.ndisplay = 3
    image.depiction = "plane"
    for axis in range(3):
        normal = np.eye(3)[axis]
        layer = viewer.add_image(image.data, scale=image.scale, translate=image.translate,
                                 name=f"plane {axis}", colormap="gray", depiction="plane",
                                 blending="translucent", rendering="mip")
        layer.plane = {"position": tuple(pose["center"]), "normal": tuple(normal)}
    image.visible = False
    viewer.layers["true mesh"].visible = True
    for name in ("true mesh (2D cut)", "true box (2D cut)"):
        viewer.layers[name].visible = False
    mesh = viewer.layers["true mesh"]
    mesh.opacity = 0.5
    _focus_3d(viewer, image, pose["center"], angles=(-25, 35, 140), zoom=1.3)
    viewer.screenshot(str(OUT / "sample_ortho.png"), canvas_only=False)
    viewer.close()
    del napari


SHOTS = {f.__name__: f for f in (sample_3d, sample_2d, sample_ortho)}

if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[1:] or list(SHOTS):
        SHOTS[name]()
        print("wrote", OUT / f"{name}.png")
