"""Make the README's screenshots: ``xvfb-run -a python docs/make_screenshots.py [NAME ...]``.

Each screenshot opens a real napari window (it needs an OpenGL context, hence Xvfb) and
saves a PNG under docs/images/. Names: sample_3d, sample_2d, sample_ortho, patterns,
detect_3d_2d, edit_mesh. Widgets use the bundled model, or the model folder in $MSDL_MODEL.
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


def _shot(viewer, name):
    """Let Qt lay out the docks, then save the whole window as docs/images/NAME.png."""
    from qtpy.QtWidgets import QApplication

    for _ in range(5):
        QApplication.processEvents()
    viewer.screenshot(str(OUT / f"{name}.png"), canvas_only=False)


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
    _shot(viewer, "sample_3d")
    viewer.close()


def sample_2d():
    viewer = _viewer()
    _sample(viewer)
    pose = viewer.layers["true box"].metadata["pose"]
    _slice_through(viewer, np.round(pose["center"]))
    camera = _camera(viewer)
    camera.center = (0, *pose["center"][1:])
    camera.zoom = camera.zoom * 1.8
    _shot(viewer, "sample_2d")
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
    _shot(viewer, "sample_ortho")
    viewer.close()
    del napari


def _choose_model(widget):
    """Point a widget with a bundled/path model choice at $MSDL_MODEL, when it is set
    (else the widget keeps the bundled model)."""
    import os

    path = os.environ.get("MSDL_MODEL")
    if path:
        widget.use_bundled.value = False
        widget.model_path.value = path


def patterns():
    """The Sparsity patterns widget: one main-classifier filter placed in the true box."""
    from napari_msdl._napari.widgets.sparsity_patterns import SparsityPatternsWidget

    viewer = _viewer()
    image = _sample(viewer)
    pose = viewer.layers["true box"].metadata["pose"]
    for name in ("true mesh (2D cut)", "true box (2D cut)", "true box axes"):
        viewer.layers[name].visible = False
    image.depiction = "plane"
    image.plane = {"position": tuple(pose["center"]), "normal": (0.0, 0.0, 1.0)}
    image.opacity = 0.6
    widget = SparsityPatternsWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Sparsity patterns", area="right")
    _choose_model(widget)
    widget.load()
    widget.stage.value = "orientation"
    widget.network.value = "orientation.main"
    widget.filter.value = 0
    widget.placement.value = viewer.layers["true box"]
    widget.show_pattern()
    widget.filter.value = -1
    widget.show_pattern()
    viewer.layers["orientation main: all filters"].visible = False
    viewer.layers["orientation main: filters per grid point"].visible = False
    _focus_3d(viewer, image, pose["center"], angles=(-15, 40, 50), zoom=2.2)
    _shot(viewer, "patterns")
    viewer.close()


def detect_3d_2d():
    """Detect valve on sample 1: the detected box and mesh (cyan) vs the true box (yellow)."""
    from napari_msdl._napari.widgets.detect_valve import DetectValveWidget

    viewer = _viewer()
    image = _sample(viewer, 0)
    widget = DetectValveWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Detect valve", area="right")
    _choose_model(widget)
    widget.run()
    from qtpy.QtWidgets import QApplication

    while widget.job is not None and widget.job.running:
        QApplication.processEvents()
    center = widget.detection.pose.center
    viewer.layers["true mesh (2D cut)"].visible = False
    _slice_through(viewer, np.round(center))
    camera = _camera(viewer)
    camera.center = (0, *center[1:])
    camera.zoom = camera.zoom * 1.8
    _shot(viewer, "detect_2d")
    for layer in viewer.layers:
        if layer.name.endswith("(2D cut)"):
            layer.visible = False
    image.depiction = "plane"
    image.plane = {"position": tuple(center), "normal": (1.0, 0.0, 0.0)}
    _focus_3d(viewer, image, center, angles=(-15, 40, 50), zoom=1.8)
    _shot(viewer, "detect_3d")
    viewer.close()


def edit_mesh():
    """Edit mesh on sample 1: one wall vertex dragged 4 mm outwards in a 2D slice; the
    mesh's cut after the edit (red) over the cut before it (cyan)."""
    from napari_msdl._napari.widgets.edit_mesh import EditMeshWidget
    from napari_msdl.valve import TOPOLOGY

    viewer = _viewer()
    _sample(viewer)
    pose = viewer.layers["true box"].metadata["pose"]
    for name in ("true box (2D cut)", "true box axes"):
        viewer.layers[name].visible = False
    cut = viewer.layers["true mesh (2D cut)"]
    viewer.add_vectors(cut.data, name="before edit (2D cut)", edge_color="cyan",
                       edge_width=0.4, vector_style="line")
    viewer.layers.move(len(viewer.layers) - 1, viewer.layers.index(cut))
    widget = EditMeshWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Edit mesh", area="right")
    widget.mesh.value = viewer.layers["true mesh"]
    widget.start()
    vertices = widget.editor.vertices
    center = np.asarray(pose["center"])
    x = float(np.round(center[0]))
    # a root-wall vertex in the slice x, halfway up the root, dragged 4 mm outwards
    root = TOPOLOGY.root
    off_axis = np.abs(vertices[root, 1] - center[1])
    score = np.abs(vertices[root, 0] - x) + np.abs(vertices[root, 2] - center[2]) - 0.1 * off_axis
    index = int(root[np.argmin(score)])
    out = np.sign(vertices[index, 1] - center[1])
    data = np.array(widget.handles.data)
    data[index] = [x, vertices[index, 1] + 4.0 * out, vertices[index, 2]]
    widget.handles.data = data
    widget.handles.selected_data = {index}
    _slice_through(viewer, [x, *center[1:]])
    camera = _camera(viewer)
    camera.center = (0, *center[1:])
    camera.zoom = camera.zoom * 1.5
    _shot(viewer, "edit_mesh")
    viewer.close()


SHOTS = {f.__name__: f for f in (sample_3d, sample_2d, sample_ortho, patterns, detect_3d_2d,
                                 edit_mesh)}

if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[1:] or list(SHOTS):
        SHOTS[name]()
        print("wrote", OUT / f"{name}.png")
