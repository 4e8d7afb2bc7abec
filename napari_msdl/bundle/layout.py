"""The bundle folder's names and format version (the layout itself is in
:mod:`napari_msdl.bundle.files`); importable without torch."""

from __future__ import annotations

from pathlib import Path

FORMAT = "napari-msdl-bundle"
VERSION = 2
"""Version 1 was napari-msdl 0.1's layout (``model.json`` + ``boundary.json``)."""
MANIFEST = "bundle.json"
WEIGHTS = "weights.safetensors"
LEGACY_MANIFEST = "model.json"


def is_bundle(folder: str | Path) -> bool:
    """True when ``folder`` holds a bundle manifest (of any version)."""
    folder = Path(folder)
    return (folder / MANIFEST).is_file() or (folder / LEGACY_MANIFEST).is_file()
