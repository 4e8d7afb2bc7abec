"""The model bundle: a trained detector, optionally its boundary model, and the model card.

Every caller that reads or writes a model (the pipeline, the CLI, the widgets, training,
pruning and evaluation) goes through this package:

* :class:`ValveModel`: the loaded bundle (``detector``, ``boundary`` or None, ``card``);
* :func:`load_bundle` / :func:`save_bundle`: the folder (format in
  :mod:`napari_msdl.bundle.files` and docs/formats.md), written whole and atomically;
* :func:`bundled_model_path`: the model that ships with the package;
* :class:`ModelCard`: how each part was trained and what was done to the bundle since.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from napari_msdl.bundle.card import HistoryEntry, ModelCard, TrainingRecord
from napari_msdl.bundle.layout import (
    BUNDLE_OUTPUT,
    FORMAT,
    MANIFEST,
    VERSION,
    WEIGHTS,
    is_bundle,
)

if TYPE_CHECKING:
    from napari_msdl.boundary import BoundaryModel
    from napari_msdl.detector import DetectorModel

__all__ = ["BUNDLED", "BUNDLE_OUTPUT", "FORMAT", "MANIFEST", "VERSION", "WEIGHTS",
           "HistoryEntry", "ModelCard", "TrainingRecord", "ValveModel", "bundled_model_path",
           "is_bundle", "load_bundle", "save_bundle"]

BUNDLED = "aortic-valve-phantom"
"""Folder name of the model shipped in ``napari_msdl/models``."""


def bundled_model_path() -> Path:
    """Path of the model that ships with the package."""
    return Path(str(resources.files("napari_msdl").joinpath("models", BUNDLED)))


@dataclass(eq=False)
class ValveModel:
    """A model bundle in memory: the detector, the boundary model (None when the bundle
    has none) and the card; ``path`` is where it was read from (None if never saved)."""

    detector: DetectorModel
    boundary: BoundaryModel | None = None
    card: ModelCard = field(default_factory=ModelCard)
    path: Path | None = None


def load_bundle(path: str | Path | None = None) -> ValveModel:
    """Read a bundle folder; ``None`` reads the bundled phantom model."""
    from napari_msdl.bundle.files import read_bundle

    folder = bundled_model_path() if path is None else Path(path)
    detector, boundary, card = read_bundle(folder)
    if folder.is_file():
        folder = folder.parent
    return ValveModel(detector=detector, boundary=boundary, card=card, path=folder)


def save_bundle(model: ValveModel, path: str | Path) -> Path:
    """Write ``model`` whole as a bundle folder at ``path``, atomically: an interrupted
    write leaves no bundle (and an existing one untouched). Returns the path."""
    from napari_msdl.bundle.files import write_bundle

    if (model.boundary is None) != (model.card.boundary is None):
        raise ValueError("a bundle's card records how its boundary model was trained exactly "
                         "when it has one; here they disagree")
    return write_bundle(path, model.detector, model.boundary, model.card)
