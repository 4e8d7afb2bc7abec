"""``napari-msdl view``: napari with a volume (or a bundled sample and its ground truth) and
the MSDL workspace docked."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "view", help="open napari with a volume or a sample phantom and the MSDL workspace",
        description="Open napari with IMAGE (a volume, mesh, detection JSON or dataset "
        "folder), or with bundled sample phantom N and its ground-truth box and mesh, and "
        "dock the MSDL workspace (Detect valve, Sparsity patterns, Edit mesh and Cases as "
        "tabs) with Detect valve in front. Needs a display (use xvfb-run on a headless "
        "machine).")
    p.add_argument("image", nargs="?", help="a volume file, DICOM folder, mesh, detection "
                   "JSON or dataset folder (default: a sample phantom)")
    p.add_argument("--sample", type=int, default=1, metavar="N",
                   help="which bundled sample phantom to open when no IMAGE is given (1-3)")
    p.add_argument("--detect", action="store_true",
                   help="run Detect valve right away with the bundled model")
    p.set_defaults(func=run)


def display_problem(environ=None, platform: str | None = None) -> str | None:
    """Why napari cannot open a window here, or None: on Linux it needs an X or Wayland
    display (napari also needs real OpenGL, so Qt's offscreen platform does not do)."""
    import os
    import sys

    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return None
    if environ.get("QT_QPA_PLATFORM", "").startswith("offscreen"):
        return ("QT_QPA_PLATFORM=offscreen cannot draw napari's OpenGL canvas; unset it and "
                "run under a display or xvfb-run")
    if not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")):
        return ("no display to open napari on; on a headless machine run it under a virtual "
                "one: xvfb-run -a -s \"-screen 0 1280x1024x24\" napari-msdl view ...")
    return None


def run(args: argparse.Namespace) -> int:
    if args.image is None and not 1 <= args.sample <= 3:
        raise ValueError(f"--sample must be 1, 2 or 3, got {args.sample}")
    problem = display_problem()
    if problem:
        raise ValueError(problem)
    layers = []
    if args.image:
        from napari_msdl._napari.reader import napari_get_reader

        reader = napari_get_reader(str(args.image))
        if reader is None:
            raise ValueError(f"{args.image}: not a volume, mesh, detection JSON or dataset "
                             "folder napari-msdl reads")
        layers = reader(str(args.image))  # a bad file fails here, before napari opens
    import napari

    viewer, workspace = open_workspace(napari.Viewer(), layers, None if layers else args.sample)
    if args.detect:
        workspace.detect.run()
    napari.run()
    return 0


def open_workspace(viewer, layers: list, sample: int | None = None):
    """Put ``layers`` (or bundled sample ``sample``) into ``viewer`` and dock the MSDL
    workspace with Detect valve in front; returns ``(viewer, workspace)``."""
    from napari_msdl._napari.workspace import Workspace

    for data, meta, kind in layers:
        getattr(viewer, f"add_{kind}")(data, **meta)
    if sample is not None:
        viewer.open_sample("napari-msdl", f"phantom-{sample}")
    workspace = Workspace(viewer)
    viewer.window.add_dock_widget(workspace, name="MSDL workspace", area="right")
    workspace.show_tab("Detect")
    return viewer, workspace
