"""napari reader contribution: everything napari-msdl writes opens again.

* volumes in any format :func:`~napari_msdl.volume.load_volume` reads (and DICOM folders):
  an Image layer in mm;
* meshes (PLY, STL, OBJ, in mm): a Surface layer;
* detection JSON (``napari-msdl detect --out``, Detect valve's Save pose): the box (the pose
  in the layer's metadata) and, when the JSON names a mesh file that is there, the mesh;
* dataset folders (``dataset.json``): the first case's image with its true box and mesh
  (the workspace's Cases tab opens the others).

A reader returns None for what it cannot read and never raises while choosing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from napari_msdl._napari.layers import LayerTuple, box_layer, mesh_layer, volume_layer
from napari_msdl.mesh import MESH_SUFFIXES
from napari_msdl.volume.io import SUPPORTED_EXTENSIONS

VOLUME_SUFFIXES = tuple(SUPPORTED_EXTENSIONS)
DETECTION_SUFFIX = ".json"
DATASET_KEY = "napari_msdl_dataset"
"""Metadata key of a layer opened from a dataset: ``{"root": ..., "case": ...}``."""


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
    """The reader for ``path`` (one file or folder), or None when napari-msdl cannot read it."""
    from napari_msdl.dataset import is_dataset
    from napari_msdl.detector.detect import is_detection_json

    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(path)
    name = p.name.lower()
    try:
        if p.is_dir():
            return read_dataset if is_dataset(p) else read_volume if _is_dicom_folder(p) else None
        if name.endswith(VOLUME_SUFFIXES):
            return read_volume
        if name.endswith(MESH_SUFFIXES):
            return read_mesh
        if name.endswith(DETECTION_SUFFIX) and is_detection_json(p):
            return read_detection
    except OSError:
        return None
    return None


def _one(path: str | list[str]) -> Path:
    return Path(path[0] if isinstance(path, list) else path)


def _stem(path: Path, suffixes: tuple[str, ...]) -> str:
    name = path.name
    for suffix in suffixes:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_volume(path: str | list[str]) -> list[LayerTuple]:
    """One volume as an Image layer in physical mm (scale=spacing, translate=origin)."""
    from napari_msdl.volume import load_volume

    path = _one(path)
    return [volume_layer(load_volume(path), name=_stem(path, VOLUME_SUFFIXES))]


def read_mesh(path: str | list[str]) -> list[LayerTuple]:
    """A mesh file as a Surface layer in mm."""
    from napari_msdl.mesh import load_mesh

    path = _one(path)
    return [mesh_layer(load_mesh(path), name=_stem(path, MESH_SUFFIXES), colormap="cyan",
                       opacity=0.5)]


def read_detection(path: str | list[str]) -> list[LayerTuple]:
    """A detection JSON: the box, and the mesh it names when that file is there."""
    from napari_msdl._io import read_json
    from napari_msdl.geometry import Pose
    from napari_msdl.mesh import load_mesh

    path = _one(path)
    doc = read_json(path, "detection JSON")
    name = _stem(path, (DETECTION_SUFFIX,))
    pose = Pose.from_dict(doc["pose"])
    data, meta, kind = box_layer(pose, name=f"{name} box", color="cyan")
    meta["metadata"].update(score=doc.get("score"), source=str(path))
    layers = [(data, meta, kind)]
    mesh_file = (doc.get("mesh") or {}).get("file")
    if isinstance(mesh_file, str):
        mesh_path = Path(mesh_file)
        mesh_path = mesh_path if mesh_path.is_absolute() else path.parent / mesh_path
        if mesh_path.is_file():
            layers.insert(0, mesh_layer(load_mesh(mesh_path), name=f"{name} mesh",
                                        colormap="cyan", opacity=0.5))
    return layers


def read_dataset(path: str | list[str]) -> list[LayerTuple]:
    """A dataset folder: its first case, with its true box and mesh."""
    from napari_msdl._napari.sample_data import case_layers
    from napari_msdl.dataset import Dataset

    dataset = Dataset.open(_one(path))
    if not dataset.cases:
        raise ValueError(f"{dataset.root}: the dataset has no cases")
    layers = case_layers(dataset.cases[0])
    for _, meta, _ in layers:
        meta.setdefault("metadata", {})[DATASET_KEY] = {"root": str(dataset.root),
                                                        "case": dataset.cases[0].id}
    return layers
