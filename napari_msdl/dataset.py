"""Datasets: the one reader and writer of dataset folders (docs/formats.md).

```
DATASET/
  dataset.json   {"name": ..., "cases": [{"id": ..., "image": "images/ID.nii.gz",
                   "pose": {"center": [...], "angles": [...], "size": [...]},
                   "mesh": "meshes/ID.ply"}, ...]}
  images/ meshes/
```
Paths in the manifest are relative to the folder. ``pose`` and ``mesh`` are optional per
case. Every write (an image, a mesh, the manifest) is atomic, and the manifest is rewritten
after each added case, so an interrupted writer leaves a valid, shorter dataset and an
existing manifest is never corrupted.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_msdl._io import OutputKind, check_keys, read_json, write_text_atomic
from napari_msdl.geometry import Pose

if TYPE_CHECKING:
    import trimesh

    from napari_msdl.volume import Volume

MANIFEST = "dataset.json"
MAX_CASES = 1_000_000


def is_dataset(folder: str | Path) -> bool:
    """True when ``folder`` holds a dataset manifest."""
    return (Path(folder) / MANIFEST).is_file()


DATASET_OUTPUT = OutputKind("dataset folder", folder=True, recognise=is_dataset)
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_case_id(case_id: str) -> str:
    """Case ids become file names: letters, digits, '.', '_' and '-' only."""
    if not isinstance(case_id, str) or not _ID_PATTERN.match(case_id):
        raise ValueError(f"case id must be letters, digits, '.', '_' or '-', got {case_id!r}")
    return case_id


@dataclass(frozen=True)
class Case:
    """One case of a dataset: its image, and optionally its pose and mesh."""

    id: str
    image: Path
    pose: Pose | None = None
    mesh: Path | None = None

    def load_volume(self) -> Volume:
        """Read the case's image."""
        from napari_msdl.volume import load_volume

        return load_volume(self.image)

    def load_mesh(self) -> trimesh.Trimesh:
        """Read the case's mesh (physical mm); ``ValueError`` if the case has none."""
        from napari_msdl.mesh import load_mesh

        if self.mesh is None:
            raise ValueError(f"case {self.id!r} has no mesh")
        return load_mesh(self.mesh)

    def to_entry(self, root: Path) -> dict[str, Any]:
        """The manifest entry, paths relative to ``root``."""
        entry: dict[str, Any] = {"id": self.id, "image": _relative(self.image, root)}
        if self.pose is not None:
            entry["pose"] = self.pose.to_dict()
        if self.mesh is not None:
            entry["mesh"] = _relative(self.mesh, root)
        return entry


def _file(root: Path, value, kind: str, where: str, allow_outside: bool) -> Path:
    """The path a manifest names (relative to ``root``), kept inside ``root``."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: {kind} must be a path (text), got {value!r}")
    path = Path(value)
    if not allow_outside and (path.is_absolute() or not _within(root, root / path)):
        raise ValueError(f"{where}: {kind} {value!r} lies outside the dataset folder; a "
                         "dataset names its files relative to itself")
    return root / path


def _within(root: Path, path: Path) -> bool:
    """Lexically inside ``root`` (``..`` resolved, symlinks not followed)."""
    inner = os.path.normpath(os.path.abspath(path))
    outer = os.path.normpath(os.path.abspath(root))
    return inner == outer or inner.startswith(outer + os.sep)


def _case(root: Path, entry, where: str, check_files: bool, allow_outside: bool) -> Case:
    """One manifest entry as a checked :class:`Case`."""
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: a case must be a JSON object, got {type(entry).__name__}")
    try:
        check_keys(entry, ("id", "image", "pose", "mesh"), "case")
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from e
    if "id" not in entry or "image" not in entry:
        raise ValueError(f"{where}: every case needs an 'id' and an 'image'")
    try:
        case_id = check_case_id(entry["id"])
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from e
    where = f"{where} ({case_id})"
    image = _file(root, entry["image"], "image", where, allow_outside)
    mesh = None
    if entry.get("mesh") is not None:
        mesh = _file(root, entry["mesh"], "mesh", where, allow_outside)
    pose = None
    if entry.get("pose") is not None:
        try:
            pose = Pose.from_dict(entry["pose"])
        except (ValueError, TypeError) as e:
            raise ValueError(f"{where}: bad pose: {e}") from e
    if check_files:
        for kind, path in (("image", image), ("mesh", mesh)):
            if path is not None and not path.exists():
                raise FileNotFoundError(f"{where}: {kind} file missing: {path}")
    return Case(id=case_id, image=image, pose=pose, mesh=mesh)


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


@dataclass
class Dataset:
    """A dataset folder: ``Dataset.open(root)`` reads and validates its manifest."""

    root: Path
    name: str
    cases: list[Case] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.cases)

    def __iter__(self) -> Iterator[Case]:
        return iter(self.cases)

    def __getitem__(self, case_id: str) -> Case:
        for case in self.cases:
            if case.id == case_id:
                return case
        raise KeyError(f"no case {case_id!r} in dataset {self.root}")

    @property
    def annotated(self) -> list[Case]:
        """Cases that have a pose."""
        return [c for c in self.cases if c.pose is not None]

    @classmethod
    def open(cls, root: str | Path, check_files: bool = True,
             allow_outside: bool = False) -> Dataset:
        """Read and check ``root/dataset.json``: its structure and types, unique case ids,
        poses, and that every file it names exists (``check_files``) and lies inside
        ``root`` (unless ``allow_outside``: a manifest must not send a reader elsewhere).
        Errors name the manifest, the case and the field."""
        root = Path(root)
        manifest = root / MANIFEST
        if not root.is_dir():
            raise NotADirectoryError(f"dataset folder not found: {root}")
        if not manifest.is_file():
            raise FileNotFoundError(f"{root} is not a dataset: it has no {MANIFEST}")
        doc = read_json(manifest, "dataset manifest")
        try:
            check_keys(doc, ("name", "cases"), "dataset manifest")
        except ValueError as e:
            raise ValueError(f"{manifest}: {e}") from e
        if not isinstance(doc.get("cases"), list) or len(doc["cases"]) > MAX_CASES:
            raise ValueError(f"{manifest}: 'cases' must be a list of at most {MAX_CASES} cases")
        name = doc.get("name", root.name)
        if not isinstance(name, str):
            raise ValueError(f"{manifest}: 'name' must be text, got {name!r}")
        cases, seen = [], set()
        for n, entry in enumerate(doc["cases"]):
            case = _case(root, entry, f"{manifest}: case {n}", check_files, allow_outside)
            if case.id in seen:
                raise ValueError(f"{manifest}: case {n}: duplicate case id {case.id!r}")
            seen.add(case.id)
            cases.append(case)
        return cls(root=root, name=name, cases=cases)

    def to_manifest(self) -> dict[str, Any]:
        return {"name": self.name, "cases": [c.to_entry(self.root) for c in self.cases]}

    def save_manifest(self) -> None:
        """Rewrite ``dataset.json`` atomically."""
        write_text_atomic(self.root / MANIFEST, json.dumps(self.to_manifest(), indent=1) + "\n")

    def split(self, val_ids: list[str] | None = None, val_fraction: float = 0.2,
              seed: int = 0) -> tuple[list[Case], list[Case]]:
        """Split annotated cases by case id (never by patch): given ids, or a seeded fraction."""
        import numpy as np

        cases = self.annotated
        if val_ids is not None:
            unknown = set(val_ids) - {c.id for c in cases}
            if unknown:
                raise ValueError(f"validation ids not among the annotated cases: {sorted(unknown)}")
            val = [c for c in cases if c.id in set(val_ids)]
        else:
            if len(cases) < 2:
                raise ValueError(f"need at least 2 annotated cases to split, got {len(cases)}")
            order = np.random.default_rng(seed).permutation(len(cases))
            n_val = min(len(cases) - 1, max(1, round(val_fraction * len(cases))))
            val = [cases[i] for i in sorted(order[:n_val])]
        val_set = {c.id for c in val}
        return [c for c in cases if c.id not in val_set], val


def create_dataset(root: str | Path, name: str | None = None, exist_ok: bool = False) -> Dataset:
    """Start a dataset folder (or open an existing one when ``exist_ok``)."""
    root = Path(root)
    if (root / MANIFEST).exists():
        if not exist_ok:
            raise FileExistsError(f"{root} already holds a dataset; choose another folder")
        return Dataset.open(root)
    root.mkdir(parents=True, exist_ok=True)
    ds = Dataset(root=root, name=name or root.name)
    ds.save_manifest()
    return ds


def _pending(path: Path, ext: str) -> Path:
    """A hidden sibling of ``path`` with the same extension (writers choose the format by
    it) where the new file waits until every file of the case is written."""
    return path.with_name(f".{path.name[:-len(ext)]}.pending{ext}")


def put_case(dataset: Dataset, case_id: str, volume: Volume | None = None,
             pose: Pose | None = None, mesh: trimesh.Trimesh | None = None,
             image_ext: str = ".nii.gz", mesh_ext: str = ".ply") -> Case:
    """Add a case to a dataset, or update it, writing its files and then the manifest.

    The case's new files are first written beside their places (hidden ``.pending``
    files), moved into place once all of them are written, and the manifest is rewritten
    last: a failure while writing (a bad mesh, a full disk) leaves the dataset exactly as it
    was, with no stray file. Updating a case without a ``volume`` keeps its image; other
    cases are never touched.
    """
    from napari_msdl.mesh import save_mesh
    from napari_msdl.volume import save_volume

    check_case_id(case_id)
    root = dataset.root
    existing = next((c for c in dataset.cases if c.id == case_id), None)
    if volume is None and existing is None:
        raise ValueError(f"new case {case_id!r} needs a volume")
    image = root / "images" / f"{case_id}{image_ext}" if volume is not None else existing.image
    mesh_path = existing.mesh if existing is not None else None
    if mesh is not None:
        mesh_path = root / "meshes" / f"{case_id}{mesh_ext}"
    staged: list[tuple[Path, Path]] = []
    try:  # every new file is written beside its place first: a failure changes nothing
        if volume is not None:
            staged.append((_pending(image, image_ext), image))
            save_volume(volume, staged[-1][0])
        if mesh is not None:
            staged.append((_pending(mesh_path, mesh_ext), mesh_path))
            save_mesh(mesh, staged[-1][0])
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, final in staged:
        os.replace(tmp, final)
    if pose is None and existing is not None:
        pose = existing.pose
    case = Case(id=case_id, image=image, pose=pose, mesh=mesh_path)
    cases = [case if c.id == case_id else c for c in dataset.cases]
    if existing is None:
        cases.append(case)
    updated = Dataset(root=root, name=dataset.name, cases=cases)
    updated.save_manifest()
    dataset.cases = cases
    return case
