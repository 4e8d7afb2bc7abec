"""The bundle folder's names and format version (the layout itself is in
:mod:`napari_msdl.bundle.files`); importable without torch."""

from __future__ import annotations

from pathlib import Path

from napari_msdl._io import OutputKind

FORMAT = "napari-msdl-bundle"
VERSION = 2
"""Version 1 was napari-msdl 0.1's layout (``model.json`` + ``boundary.json``)."""
MANIFEST = "bundle.json"
WEIGHTS = "weights.safetensors"
LEGACY_MANIFEST = "model.json"
FILES = frozenset({MANIFEST, WEIGHTS, LEGACY_MANIFEST, "boundary.json", "boundary.safetensors"})
"""Every file a bundle folder holds (in this version or the earlier layout)."""


def is_bundle(folder: str | Path) -> bool:
    """True when ``folder`` is a bundle (of any version) and holds nothing else: what a
    bundle writer may replace whole."""
    folder = Path(folder)
    if not ((folder / MANIFEST).is_file() or (folder / LEGACY_MANIFEST).is_file()):
        return False
    return all(p.name in FILES for p in folder.iterdir())


BUNDLE_OUTPUT = OutputKind("model bundle", folder=True, recognise=is_bundle)
