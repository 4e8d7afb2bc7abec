"""napari reader contribution: volumes in any format ``load_volume`` reads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from napari_msdl._napari.layers import LayerTuple, volume_layer
from napari_msdl.volume.io import SUPPORTED_EXTENSIONS

VOLUME_SUFFIXES = tuple(SUPPORTED_EXTENSIONS)


def _is_dicom_file(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def _is_dicom_folder(path: Path) -> bool:
    """A folder whose first files carry the DICOM magic bytes."""
    if not path.is_dir():
        return False
    files = sorted(p for p in path.iterdir() if p.is_file())[:5]
    return bool(files) and any(_is_dicom_file(f) for f in files)


def napari_get_reader(path: str | list[str]) -> Callable[[str], list[LayerTuple]] | None:
    """Return the reader for a volume file or DICOM folder, or None for anything else."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(path)
    name = p.name.lower()
    if name.endswith(VOLUME_SUFFIXES) or _is_dicom_folder(p):
        return read_volume
    return None


def read_volume(path: str | list[str]) -> list[LayerTuple]:
    """Read one volume as an Image layer in physical mm (scale=spacing, translate=origin)."""
    from napari_msdl.volume import load_volume

    if isinstance(path, list):
        path = path[0]
    volume = load_volume(path)
    name = Path(path).name
    for suffix in VOLUME_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return [volume_layer(volume, name=name)]
