"""The boundary model: shape space, boundary classifier and deformation defaults, and
its two files inside a model bundle folder.

```
MODEL/
  boundary.json          {"format": "napari-msdl-boundary", "version": 1,
                          "shape_space": {...}, "patch": {...}, "network": {...},
                          "deform": {...}, "card": {...}}
  boundary.safetensors   shape.mean, shape.modes, shape.sdev, shape.faces, net.*
```
Loading never runs code from the files (JSON and safetensors only); the format and the
version are checked first, and a missing, corrupt or foreign file gets a ``ValueError``
(or ``FileNotFoundError``) naming the file. Each file is written atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from napari_msdl._io import atomic_path, read_model_files, write_text_atomic
from napari_msdl.boundary.deform import DeformParams
from napari_msdl.boundary.features import PatchSpec
from napari_msdl.boundary.shape_space import ShapeSpace
from napari_msdl.sparse import SADNN

if TYPE_CHECKING:
    import trimesh

FORMAT = "napari-msdl-boundary"
VERSION = 1
MANIFEST = "boundary.json"
WEIGHTS = "boundary.safetensors"


@dataclass(eq=False)
class BoundaryModel:
    """Everything the segmentation needs after the box: the shape space, the boundary
    classifier with its patch grid, the deformation defaults and a JSON card (what it was
    trained on, its figures)."""

    shape_space: ShapeSpace
    classifier: SADNN
    patch: PatchSpec
    deform: DeformParams = field(default_factory=DeformParams)
    card: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.classifier.config.n_inputs != self.patch.n_inputs:
            raise ValueError(f"the classifier reads {self.classifier.config.n_inputs} inputs "
                             f"but the patch has {self.patch.n_inputs}")

    @property
    def faces(self) -> np.ndarray:
        return self.shape_space.faces

    def mesh(self, vertices: np.ndarray) -> trimesh.Trimesh:
        """A ``trimesh.Trimesh`` (process=False) of vertices with this topology."""
        import trimesh

        return trimesh.Trimesh(vertices=np.asarray(vertices, dtype=np.float64),
                               faces=self.faces, process=False)

    # -- files ------------------------------------------------------------------------
    @staticmethod
    def present(folder: str | Path) -> bool:
        """True when ``folder`` holds a boundary model's manifest."""
        return (Path(folder) / MANIFEST).is_file()

    def save(self, folder: str | Path) -> Path:
        """Write ``boundary.json`` and ``boundary.safetensors`` into ``folder`` (created
        if needed; other files there are left alone). Returns the folder."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {f"shape.{k}": torch.from_numpy(np.ascontiguousarray(v))
                   for k, v in self.shape_space.arrays().items()}
        tensors.update({f"net.{k}": v.detach().contiguous().clone()
                        for k, v in self.classifier.state_dict().items()})
        doc = {"format": FORMAT, "version": VERSION, "shape_space": self.shape_space.meta(),
               "patch": self.patch.to_dict(), "network": self.classifier.to_config(),
               "deform": self.deform.to_dict(), "card": self.card}
        text = json.dumps(doc, indent=1, allow_nan=False)
        with atomic_path(folder / WEIGHTS) as tmp:
            save_file(tensors, str(tmp))
        write_text_atomic(folder / MANIFEST, text + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> BoundaryModel:
        """Read a boundary model from a bundle folder (see the module docstring)."""
        folder = Path(folder)
        doc, tensors = read_model_files(folder, MANIFEST, WEIGHTS, FORMAT, VERSION,
                                        "boundary model")
        try:
            space = ShapeSpace.from_arrays(
                {k: tensors[f"shape.{k}"].numpy() for k in ("mean", "modes", "sdev", "faces")},
                doc["shape_space"])
            net = SADNN.from_config(doc["network"])
            state = {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}
            net.load_state_dict(state, strict=True)
            net.eval()
            return cls(shape_space=space, classifier=net,
                       patch=PatchSpec.from_dict(doc["patch"]),
                       deform=DeformParams.from_dict(doc["deform"]), card=doc.get("card", {}))
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise ValueError(f"{folder}: corrupt boundary model: {e}") from e


