"""Training whole bundles: the detector and the boundary model into one model folder.

* :func:`train_bundle`: the detector (:func:`~napari_msdl.training.train.train_detector`)
  and, when the dataset has meshes and a boundary configuration is given, the boundary
  model (:func:`~napari_msdl.training.boundary.train_boundary`), written as one bundle;
* :func:`add_boundary`: a boundary model trained on a dataset's meshes, added to an
  existing bundle (the card's history says so).

Both check their inputs before any work and write the bundle once, whole and atomically,
at the end: Ctrl-C or a failure leaves no bundle, and an existing one untouched.
"""

from __future__ import annotations

from pathlib import Path

from napari_msdl._io import check_output
from napari_msdl._progress import ProgressCallback, no_progress
from napari_msdl.bundle import (
    BUNDLE_OUTPUT,
    HistoryEntry,
    ModelCard,
    ValveModel,
    bundled_model_path,
    load_bundle,
    save_bundle,
)
from napari_msdl.dataset import Dataset
from napari_msdl.training.boundary import BoundaryConfig, train_boundary
from napari_msdl.training.train import TrainConfig, train_detector

DEFAULT_BOUNDARY = BoundaryConfig()


def _dataset(data: str | Path | Dataset) -> Dataset:
    ds = data if isinstance(data, Dataset) else Dataset.open(data)
    if len(ds.annotated) < 2:
        raise ValueError(f"{ds.root}: training needs at least 2 annotated cases (a pose each), "
                         f"it has {len(ds.annotated)}")
    return ds


def source_path(model: ValveModel | str | Path | None) -> Path | None:
    """Where a bundle argument is read from (None for one never saved)."""
    if isinstance(model, ValveModel):
        return model.path
    return bundled_model_path() if model is None else Path(model)


def _meshed(ds: Dataset) -> int:
    return sum(c.mesh is not None and c.pose is not None for c in ds)


def train_bundle(dataset: str | Path | Dataset, out: str | Path | None,
                 config: TrainConfig | None = None,
                 boundary: BoundaryConfig | None = DEFAULT_BOUNDARY, *, seed: int = 0,
                 dense: bool = False, progress: ProgressCallback | None = None,
                 command: str | None = None) -> ValveModel:
    """Train a bundle on ``dataset`` and write it to ``out`` (``None``: do not save).

    The detector is trained with ``config``; the boundary model with ``boundary`` when the
    dataset has cases with a pose and a mesh (``boundary=None``, or ``dense=True`` for the
    dense baseline, trains the detector only).
    """
    ds = _dataset(dataset)
    if out is not None:
        check_output(out, BUNDLE_OUTPUT, inputs=[ds.root])
    config = config or TrainConfig()
    progress = progress or no_progress
    with_boundary = boundary is not None and not dense and _meshed(ds) > 0
    if with_boundary:
        _check_boundary_cases(ds, boundary)
    detector, record = train_detector(ds, config, seed=seed, progress=progress, dense=dense,
                                      command=command)
    card = ModelCard(detector=record)
    model = ValveModel(detector=detector, card=card)
    if with_boundary:
        model.boundary, brecord = train_boundary(ds, config=boundary, seed=seed,
                                                 progress=progress, command=command)
        model.card = ModelCard(detector=record, boundary=brecord)
    if out is not None:
        save_bundle(model, out)
        model.path = Path(out)
    return model


def _check_boundary_cases(ds: Dataset, config: BoundaryConfig) -> None:
    need = config.classifier.val_every
    if _meshed(ds) < need:
        raise ValueError(f"{ds.root}: training a boundary model needs at least {need} cases "
                         f"with a pose and a mesh, it has {_meshed(ds)}")


def add_boundary(model: ValveModel | str | Path | None, dataset: str | Path | Dataset,
                 out: str | Path, config: BoundaryConfig | None = None, *, seed: int = 0,
                 progress: ProgressCallback | None = None,
                 command: str | None = None) -> ValveModel:
    """Train a boundary model on ``dataset``'s meshes and write ``model``'s bundle with it
    (replacing any boundary model it had) to ``out``, which may be ``model``'s own folder:
    the bundle is then rewritten with every part it had, plus the boundary model."""
    ds = dataset if isinstance(dataset, Dataset) else Dataset.open(dataset)
    path = source_path(model)
    same = path is not None and Path(out).resolve() == path.resolve()
    check_output(out, BUNDLE_OUTPUT, inputs=[ds.root, None if same else path])
    source = model if isinstance(model, ValveModel) else load_bundle(model)
    config = config or BoundaryConfig()
    _check_boundary_cases(ds, config)
    boundary, record = train_boundary(ds, config=config, seed=seed, progress=progress,
                                      command=command)
    card = ModelCard(detector=source.card.detector, boundary=record,
                     history=source.card.history)
    entry = HistoryEntry("boundary model added", command=command,
                         parent=None if source.path is None else str(source.path),
                         parameters={"dataset": str(ds.root.resolve()), "seed": seed,
                                     "replaced": source.boundary is not None})
    result = ValveModel(detector=source.detector, boundary=boundary,
                        card=card.with_history(entry))
    save_bundle(result, out)
    result.path = Path(out)
    return result
