"""Make the README's screenshots of the plugin, as ``napari-msdl view`` shows it.

Run it under a virtual screen of the size the workspace is laid out for::

    xvfb-run -a -s "-screen 0 1280x1024x24" python docs/make_screenshots.py [--out DIR] [NAME ...]

Each NAME opens a real napari window of 1280x1024 pixels (an OpenGL context is needed,
hence Xvfb) with bundled sample phantom 1 and the MSDL workspace docked (Detect, Patterns,
Edit mesh, Cases, Train and Prune as tabs), drives the workspace as a user would and saves
whole-window PNGs under docs/images/ (or DIR). NAMEs (default: all):

* ``sample_3d``: the sample's true box and mesh with a plane of the volume (sample_3d.png);
* ``sample_ortho``: three orthogonal planes through the valve (sample_ortho.png);
* ``detect``: Detect valve on the sample, in a 2D slice and in 3D (detect_2d.png,
  detect_3d.png);
* ``patterns``: one filter of ``orientation.main`` placed in the detected box, in 3D with
  a plot of the network and in a 2D slice (patterns.png, patterns_2d.png);
* ``edit_mesh``: a wall vertex of the detected mesh dragged 4 mm in a 2D slice
  (edit_mesh.png);
* ``train``: Train fine-tuning the bundled model on eight annotated cases of the shifted
  phantom domain, during the run and after it (train_running.png, train_done.png);
* ``prune``: Prune taking the bundled model to 99.8 % sparsity, fine-tuned on the same
  cases, during the run and after it (prune_running.png, prune_done.png).

The widgets use the bundled model, or the model folder in ``$MSDL_MODEL``. The README's
docs/images/phantom_slices.png is a matplotlib figure of the phantom generator, not a
napari screenshot; this script leaves it alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "images"
WINDOW = (1280, 1024)
SAMPLE = 1
IMAGE = "phantom-00000"  # the image layer of sample 1
NETWORK = "orientation.main"
FILTER = 103  # a filter of orientation.main with inputs of both signs, several in one slice
PLOT = "usage"
DRAG_MM = 4.0


# -- the window ---------------------------------------------------------------------------
def _process(seconds: float = 0.0) -> None:
    from qtpy.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while True:
        QApplication.processEvents()
        if time.monotonic() >= end:
            return
        time.sleep(0.01)


def _open():
    """A napari window of WINDOW pixels with sample 1 and the workspace docked, as
    ``napari-msdl view`` opens it (Detect in front); returns ``(viewer, workspace)``."""
    import napari

    from napari_msdl.cli.view import open_workspace

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(*WINDOW)
    viewer, workspace = open_workspace(viewer, [], SAMPLE)
    model = os.environ.get("MSDL_MODEL") or None
    workspace.detect.model.use(model)
    workspace.patterns.choice.use(model)
    workspace.edit.model.use(model)
    _process(0.2)
    return viewer, workspace


def _wait(widget, what: str, timeout: float = 600.0) -> None:
    """Process Qt events until the widget's background job is done."""
    _wait_for(lambda: widget.job is None or not widget.job.running, what, timeout)


def _wait_for(condition, what: str, timeout: float = 600.0) -> None:
    """Process Qt events until ``condition()`` holds."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"{what} did not happen in {timeout:.0f} s")
        _process(0.02)


def _detect(viewer, workspace):
    """Run Detect valve on the sample and wait for it; returns the detected pose."""
    widget = workspace.detect
    widget.run()
    _wait(widget, "Detect valve")
    if widget.detection is None:
        raise RuntimeError(f"Detect valve failed: {widget.status.value}")
    return widget.detection.pose


def _true_pose(viewer):
    from napari_msdl.geometry import Pose

    return Pose.from_dict(viewer.layers[f"{IMAGE} true box"].metadata["pose"])


def _shot(viewer, out: Path, name: str) -> None:
    """Let Qt lay out and draw, then save the whole window as OUT/NAME.png (no flash: its
    fading white overlay would grey out the next screenshot of the same window)."""
    _process(0.5)
    path = out / f"{name}.png"
    viewer.window.screenshot(str(path), flash=False, canvas_only=False)
    print("wrote", path)


def _canvas_size(viewer) -> tuple[int, int]:
    """(height, width) of the canvas in pixels."""
    native = viewer.window._qt_viewer.canvas.native
    return native.height(), native.width()


def _hide(viewer, *names: str) -> None:
    """Hide the sample's layers ``"<image> NAME"`` (those there are)."""
    for name in names:
        if f"{IMAGE} {name}" in viewer.layers:
            viewer.layers[f"{IMAGE} {name}"].visible = False


# -- the camera ---------------------------------------------------------------------------
def _camera(viewer):
    return getattr(viewer, "scene", viewer).camera  # napari 0.9 moved it to the scene


def _slice_2d(viewer, center, points, fill: float = 0.8, axis: int = 0) -> None:
    """A 2D view of the slice through ``center`` along ``axis``, centred on ``center`` and
    zoomed so that ``points`` (world mm) span ``fill`` of the canvas."""
    viewer.dims.ndisplay = 2
    viewer.dims.set_point(axis, float(center[axis]))
    _process(0.1)
    shown = [a for a in range(3) if a != axis]
    extent = np.ptp(np.asarray(points)[:, shown], axis=0) + 1.0
    camera = _camera(viewer)
    camera.center = tuple(float(center[a]) for a in shown)
    camera.zoom = fill * float(np.min(np.asarray(_canvas_size(viewer)) / extent))


def _view_3d(viewer, center, view, up, size: float, fill: float = 0.75) -> None:
    """A 3D view of ``center`` looking along ``view`` (``up`` upwards on the screen), zoomed
    so that ``size`` mm span ``fill`` of the canvas's width."""
    viewer.dims.ndisplay = 3
    _process(0.1)
    camera = _camera(viewer)
    camera.set_view_direction(tuple(float(v) for v in view), tuple(float(u) for u in up))
    camera.center = tuple(float(c) for c in center)
    camera.zoom = fill * min(_canvas_size(viewer)) / size


def _oblique(pose, tilt=(0.35, 0.8)):
    """A view direction along the box's y axis tilted towards its x axis and down its z axis
    (the root's axis, LVOT to aorta, pointing up the screen): from the aortic side, over
    the plane of the volume that holds the root's axis, into the root."""
    x, y, z = pose.axes
    view = y + tilt[0] * x - tilt[1] * z
    return view / np.linalg.norm(view), z


def _plane(image, pose, normal) -> None:
    """Show the volume as the plane through the box centre with ``normal``."""
    image.depiction = "plane"
    image.plane = {"position": tuple(float(c) for c in pose.center),
                   "normal": tuple(float(n) for n in normal)}


# -- the screenshots ----------------------------------------------------------------------
def sample_3d(out: Path) -> None:
    """The sample's true box and mesh (yellow) with the plane of the volume through the
    box's centre that holds the root's axis."""
    viewer, workspace = _open()
    pose = _true_pose(viewer)
    viewer.layers[f"{IMAGE} true mesh"].visible = True
    _plane(viewer.layers[IMAGE], pose, pose.axes[1])
    viewer.layers.selection.active = viewer.layers[IMAGE]
    view, up = _oblique(pose)
    _view_3d(viewer, pose.center, view, up, size=float(np.linalg.norm(pose.size)) * 1.1)
    _shot(viewer, out, "sample_3d")
    viewer.close()


def sample_ortho(out: Path) -> None:
    """Three orthogonal planes of the volume through the valve (normal to the true box's
    axes: two long-axis planes and the short-axis plane at the box's centre), with the true
    mesh and box. Opaque planes of a volume do not hide each other and the mesh in the
    right depth order in napari, so the planes are added (blending "additive") and the mesh
    is drawn over them, its leaflets showing through the root."""
    viewer, workspace = _open()
    pose = _true_pose(viewer)
    image = viewer.layers[IMAGE]
    for k, normal in enumerate(pose.axes):
        layer = viewer.add_image(image.data, scale=image.scale, translate=image.translate,
                                 name=f"plane normal to box {'xyz'[k]}", colormap="gray",
                                 blending="additive", opacity=0.45)
        _plane(layer, pose, normal)
    image.visible = False
    mesh = viewer.layers[f"{IMAGE} true mesh"]
    mesh.visible, mesh.blending, mesh.opacity = True, "translucent_no_depth", 0.35
    viewer.layers.move(viewer.layers.index(mesh), len(viewer.layers))
    viewer.layers.selection.active = image
    x, y, z = pose.axes
    view = -(x + y - 0.3 * z)
    _view_3d(viewer, pose.center, view / np.linalg.norm(view), z, size=70.0)
    _shot(viewer, out, "sample_ortho")
    viewer.close()


def detect(out: Path) -> None:
    """Detect valve on the sample: the detected box and mesh (cyan) and the true box
    (yellow), in the slice through the detected box's centre, then in 3D."""
    viewer, workspace = _open()
    pose = _detect(viewer, workspace)
    _hide(viewer, "true mesh 2D")
    corners = np.concatenate([pose.corners(), _true_pose(viewer).corners()])
    _slice_2d(viewer, np.round(pose.center), corners, fill=0.85)
    _shot(viewer, out, "detect_2d")
    _plane(viewer.layers[IMAGE], pose, pose.axes[1])
    view, up = _oblique(pose)
    _view_3d(viewer, pose.center, view, up, size=float(np.linalg.norm(pose.size)) * 1.1)
    _shot(viewer, out, "detect_3d")
    viewer.close()


def patterns(out: Path) -> None:
    """One filter of orientation.main placed in the detected box, coloured by signed weight,
    with one of Dey et al.'s plots of the network; in 3D, then in the slice through the box
    that holds the most of the filter's points."""
    viewer, workspace = _open()
    pose = _detect(viewer, workspace)
    widget = workspace.patterns
    workspace.show_tab("Patterns")
    widget.load()
    _wait(widget, "Load model")
    if widget.model is None:
        raise RuntimeError(f"Load model failed: {widget.summary.value}")
    widget.network.value = NETWORK
    widget.filter.value = FILTER
    widget.placement.value = viewer.layers[f"{IMAGE} box"]
    widget.show_pattern()
    _wait(widget, "Show pattern")
    widget.plot.value = PLOT
    _hide(viewer, "true box", "true mesh 2D", "true box 2D", "mesh", "mesh 2D")
    points = viewer.layers[f"{NETWORK}: filter {FILTER}"]
    image = viewer.layers[IMAGE]
    _plane(image, pose, pose.axes[1])
    image.opacity = 0.7
    view, up = _oblique(pose, tilt=(0.5, 0.5))
    _view_3d(viewer, pose.center, view, up, size=float(np.linalg.norm(pose.size)), fill=0.85)
    _shot(viewer, out, "patterns")
    image.opacity = 1.0
    # a 2D slice of napari's default thickness shows the points within half a voxel of it
    xs = np.arange(np.floor(pose.corners()[:, 0].min()), np.ceil(pose.corners()[:, 0].max()))
    near = np.abs(points.data[:, 0][None] - xs[:, None]) <= 0.5
    x = float(xs[np.argmax(near.sum(axis=1))])
    # the 3D box and the grid outline are Vectors that napari draws in a 2D slice wherever an
    # edge starts in it, as stray lines across the slice: the box's cut shows the box here
    viewer.layers[f"{NETWORK}: grid outline"].visible = False
    _hide(viewer, "box")
    _slice_2d(viewer, [x, *pose.center[1:]], pose.corners(), fill=0.85)
    _shot(viewer, out, "patterns_2d")
    viewer.close()


def _wall_vertex(vertices, pose, x: float) -> tuple[int, np.ndarray]:
    """A root-wall vertex near the slice ``x`` (axis 0), halfway up the root, whose outward
    direction lies in the slice; returns it and that direction (unit, in the slice)."""
    from napari_msdl.valve import TOPOLOGY

    root = TOPOLOGY.root
    v = vertices[root]
    local = (v - pose.center) @ pose.axes.T  # box coordinates in mm
    radial = local.copy()
    radial[:, 2] = 0.0
    radial = radial @ pose.axes  # outwards from the root's axis, in world mm
    radial /= np.linalg.norm(radial, axis=1, keepdims=True)
    in_slice = np.linalg.norm(radial[:, 1:], axis=1)
    score = np.abs(v[:, 0] - x) + 0.1 * np.abs(local[:, 2]) + 4.0 * (1.0 - in_slice)
    best = int(np.argmin(score))
    direction = np.array([0.0, *radial[best, 1:]])
    return int(root[best]), direction / np.linalg.norm(direction)


def edit_mesh(out: Path) -> None:
    """Edit mesh on the detected mesh (the true mesh when the model has no boundary model):
    a wall vertex dragged 4 mm outwards in the slice through the box; the mesh's cut after
    the edit (red) over the cut before (cyan)."""
    viewer, workspace = _open()
    pose = _detect(viewer, workspace)
    mesh = "mesh" if f"{IMAGE} mesh" in viewer.layers else "true mesh"
    _hide(viewer, "true box", "true box 2D", "true mesh 2D", "box", "box 2D")
    x = float(np.round(pose.center[0]))
    viewer.dims.ndisplay = 2
    viewer.dims.set_point(0, x)
    cut = viewer.layers[f"{IMAGE} {mesh} 2D"]
    cut.visible = True
    before = viewer.add_vectors(cut.data, name="mesh 2D before edit",
                                edge_color="cyan", edge_width=cut.edge_width,
                                vector_style="line")
    viewer.layers.move(viewer.layers.index(before), viewer.layers.index(cut))
    cut.edge_color = "red"  # the widget updates the detected mesh's cut, which stays cyan
    widget = workspace.edit
    workspace.show_tab("Edit mesh")
    widget.mesh.value = viewer.layers[f"{IMAGE} {mesh}"]
    widget.start()
    _wait(widget, "loading the shape space")
    index, direction = _wall_vertex(widget.editor.vertices, pose, x)
    start = widget.editor.vertices[index].copy()
    start[0] = x
    steps = 8
    for k in range(1, steps + 1):  # one gesture of small moves, as a mouse drag makes
        data = np.array(widget.handles.data)
        data[index] = start + direction * DRAG_MM * k / steps
        widget.handles.data = data
        _process(0.05)
    widget.handles.selected_data = {index}
    viewer.layers.selection.active = widget.handles
    region = np.concatenate([pose.corners(), start[None]])
    _slice_2d(viewer, [x, *pose.center[1:]], region, fill=0.85)
    _shot(viewer, out, "edit_mesh")
    viewer.close()


def _annotations(n: int = 8):
    """A folder of ``n`` annotated cases of the shifted phantom domain (another anatomy,
    speckle, gain and sector than the bundled model's), as Edit mesh saves them."""
    import tempfile

    from napari_msdl.phantoms import write_phantom_dataset

    folder = Path(tempfile.mkdtemp(prefix="msdl-screens-")) / "my-annotations"
    write_phantom_dataset(folder, n, seed=50_000, domain="shifted", name="my annotations")
    return folder


def _run_and_shoot(viewer, widget, out: Path, name: str, networks: int) -> None:
    """Start the tab's job, shoot NAME_running once ``networks`` networks have curves,
    wait for the job and check that it wrote its model."""
    widget.run()
    _wait_for(lambda: len(widget.view.curves) >= networks or not widget.job.running,
              f"{networks} networks training", timeout=1800)
    _shot(viewer, out, f"{name}_running")
    _wait(widget, name, timeout=3600)
    if not widget.status.value.startswith("Wrote"):
        raise RuntimeError(f"{name} failed: {widget.status.value}")


def train(out: Path) -> None:
    """Train: the bundled model fine-tuned on eight annotated cases of another domain, with
    the defaults; during the run (curves of the network training) and after it."""
    viewer, workspace = _open()
    data = _annotations()
    workspace.show_tab("Train")
    widget = workspace.train
    widget.dataset.value = data
    _run_and_shoot(viewer, widget, out, "train", networks=5)
    widget.view.network.value = "orientation.main"
    _shot(viewer, out, "train_done")
    viewer.close()


def prune(out: Path) -> None:
    """Prune: the bundled model to 99.8 % sparse in two rounds, fine-tuned on eight
    annotated cases; during the run and after it (the before/after table)."""
    viewer, workspace = _open()
    data = _annotations()
    workspace.show_tab("Prune")
    widget = workspace.prune
    widget.sparsity.value = 0.998
    widget.rounds.value = 2
    widget.data.value = data
    widget.out.value = data.parent / "aortic-valve-phantom-pruned"
    _run_and_shoot(viewer, widget, out, "prune", networks=2)
    _shot(viewer, out, "prune_done")
    viewer.close()


SHOTS = {f.__name__: f for f in (sample_3d, sample_ortho, detect, patterns, edit_mesh,
                                 train, prune)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"which screenshots to make: {', '.join(SHOTS)} (default: all)")
    parser.add_argument("--out", type=Path, default=OUT, help="folder to write the PNGs into")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in SHOTS]
    if unknown:
        parser.error(f"unknown NAME {', '.join(unknown)}; choose from {', '.join(SHOTS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names or list(SHOTS):
        SHOTS[name](args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
