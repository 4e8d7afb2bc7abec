"""Training whole bundles: the detector and the boundary model into one model folder.

* :func:`train_bundle`: the detector (:func:`~napari_msdl.training.train.train_detector`)
  and, when the dataset has meshes and a boundary configuration is given, the boundary
  model (:func:`~napari_msdl.training.boundary.train_boundary`), written as one bundle;
* :func:`fine_tune_bundle` (``train_bundle(..., init=MODEL)``): a trained bundle
  adapted to a few new annotated cases, its networks starting from their weights;
* :func:`add_boundary`: a boundary model trained on a dataset's meshes, added to an
  existing bundle (the card's history says so).

Both check their inputs before any work and write the bundle once, whole and atomically,
at the end: Ctrl-C or a failure leaves no bundle, and an existing one untouched.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from napari_msdl._io import check_output
from napari_msdl._progress import ProgressCallback, Steps, no_progress, report_figures
from napari_msdl.boundary import TopologyMismatch
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
from napari_msdl.sparse import SparseTrainingConfig
from napari_msdl.training.boundary import BoundaryConfig, train_boundary
from napari_msdl.training.stage import FINE_TUNE
from napari_msdl.training.train import (
    DETECTOR_STEPS,
    TrainConfig,
    train_detector,
    validation_line,
)

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
                 command: str | None = None, init: ValveModel | str | Path | None = None,
                 ranges: str = "extend", fine_tune: SparseTrainingConfig | None = None,
                 scratch: str | Path | None = "temp") -> ValveModel:
    """Train a bundle on ``dataset`` and write it to ``out`` (``None``: do not save).

    The detector is trained with ``config``; the boundary model with ``boundary`` when the
    dataset has cases with a pose and a mesh (``boundary=None``, or ``dense=True`` for the
    dense baseline, trains the detector only).

    ``init`` (a bundle or its folder) fine-tunes that model instead of training from
    scratch (:func:`fine_tune_bundle`). ``scratch``: where the training keeps its
    samples (:func:`~napari_msdl.training.train.train_detector`).
    """
    if init is not None:
        return fine_tune_bundle(init, dataset, out, config, boundary, seed=seed,
                                progress=progress, command=command, ranges=ranges,
                                fine_tune=fine_tune, scratch=scratch)
    ds = _dataset(dataset)
    if out is not None:
        check_output(out, BUNDLE_OUTPUT, inputs=[ds.root])
    config = config or TrainConfig()
    progress = progress or no_progress
    with_boundary = boundary is not None and not dense and _meshed(ds) > 1
    if with_boundary:
        boundary = _few_meshes(boundary, _meshed(ds))
    steps = Steps(progress, DETECTOR_STEPS + with_boundary)
    detector, record = train_detector(ds, config, seed=seed, progress=progress, dense=dense,
                                      command=command, steps=steps, scratch=scratch)
    card = ModelCard(detector=record)
    model = ValveModel(detector=detector, card=card)
    if with_boundary:
        model.boundary, brecord = train_boundary(ds, config=boundary, seed=seed,
                                                 progress=progress, command=command)
        model.card = ModelCard(detector=record, boundary=brecord)
        _verify_validation(model, ds, progress)
        steps.next()
    return _saved(model, out)


VERIFIED = "validation_verified"
"""The detector record's figure of the validation cases detected as
:func:`~napari_msdl.pipeline.find_valve` does: verified by segmentation with the bundle's
own boundary model (``validation`` is the detector's boxes alone)."""


def _verify_validation(model: ValveModel, ds: Dataset, progress: ProgressCallback) -> None:
    """Add :data:`VERIFIED` to ``model``'s card: its validation cases (of ``ds``) detected
    and verified by segmentation."""
    from napari_msdl.evaluation import evaluate_cases

    record = model.card.detector
    ids = set(record.data.get("val_ids") or [])
    val = [c for c in ds.annotated if c.id in ids]
    if model.boundary is None or not val:
        return
    report = evaluate_cases(model, val, progress=progress, label="validation verification")
    report_figures(progress, "validation verification",
                   {"report": validation_line(report, "verified")})
    figures = {**record.figures, VERIFIED: {k: report[k] for k in (
        "position_error", "corner_error", "seconds", "failures")}}
    model.card = replace(model.card, detector=replace(record, figures=figures))


def _saved(model: ValveModel, out: str | Path | None) -> ValveModel:
    if out is not None:
        save_bundle(model, out)
        model.path = Path(out)
    return model


FEW_CASES = 80
"""Fine-tuning augments the training cases to about this many (copies per case: see
:func:`fine_tune_config`)."""


def fine_tune_config(parent: ValveModel, dataset: str | Path | Dataset, seed: int = 0
                     ) -> TrainConfig:
    """The configuration a fine-tuning run on ``dataset`` takes by default: the parent's
    own (its samples, search and cascade settings), a seeded validation share of the new
    cases instead of the parent's validation ids, and augmented copies of every training
    case so that the cases with their copies number about :data:`FEW_CASES`."""
    config = replace(TrainConfig.from_dict(parent.card.detector.config), val_ids=None)
    copies = augment_copies(dataset, config, seed)
    return replace(config, augment=replace(config.augment, copies=copies))


def augment_copies(dataset: str | Path | Dataset, config: TrainConfig, seed: int = 0) -> int:
    """Augmented copies per training case so that the training cases of ``dataset`` (as
    ``config`` and ``seed`` split it) with their copies number about :data:`FEW_CASES`
    (none for a dataset that large; at most 20)."""
    ds = dataset if isinstance(dataset, Dataset) else Dataset.open(dataset)
    n_train = len(ds.split(None if config.val_ids is None else list(config.val_ids),
                           config.val_fraction, seed)[0])
    return int(min(20, max(0, round(FEW_CASES / max(n_train, 1)) - 1)))


def fine_tune_bundle(parent: ValveModel | str | Path, dataset: str | Path | Dataset,
                     out: str | Path | None, config: TrainConfig | None = None,
                     boundary: BoundaryConfig | None = DEFAULT_BOUNDARY, *, seed: int = 0,
                     progress: ProgressCallback | None = None, command: str | None = None,
                     ranges: str = "extend", fine_tune: SparseTrainingConfig | None = None,
                     scratch: str | Path | None = "temp") -> ValveModel:
    """Fine-tune ``parent`` on ``dataset`` and write the result to ``out``.

    Every detector network starts from the parent's weights and sparsity map and trains
    ``fine_tune``'s epochs (default :data:`~napari_msdl.training.stage.FINE_TUNE`) on the
    new cases and their augmented copies (``config``, default :func:`fine_tune_config`);
    the hypothesis ranges are extended, kept or learned anew (``ranges``). The boundary
    model is fine-tuned on the new meshes when they have its topology, and kept, with the
    reason in the card's history, when they have none or another. The card keeps the
    parent's history and adds a ``fine-tuned`` entry naming the parent.
    """
    ds = _dataset(dataset)
    path = source_path(parent)
    if out is not None:
        check_output(out, BUNDLE_OUTPUT, inputs=[ds.root, path])
    source = parent if isinstance(parent, ValveModel) else load_bundle(parent)
    if source.detector.dense:
        raise ValueError("the dense baseline cannot be fine-tuned: it has no sparsity map "
                         "to keep; train it again instead")
    progress = progress or no_progress
    config = config or fine_tune_config(source, ds, seed)
    tuned, why = _boundary_plan(source, ds, boundary)
    steps = Steps(progress, DETECTOR_STEPS + (tuned is not None))
    detector, record = train_detector(ds, config, seed=seed, progress=progress,
                                      command=command, init=source.detector, ranges=ranges,
                                      fine_tune=fine_tune, steps=steps, scratch=scratch)
    model = ValveModel(detector=detector, boundary=source.boundary)
    brecord = source.card.boundary
    if tuned is not None:
        model.boundary, brecord = train_boundary(
            ds, config=tuned, seed=seed, progress=progress, command=command,
            init=source.boundary, fine_tune=fine_tune)
        why = f"fine-tuned on {_meshed(ds)} meshes"
        steps.next()
    model.card = ModelCard(detector=record, boundary=brecord)
    _verify_validation(model, ds, progress)
    record = model.card.detector
    entry = HistoryEntry("fine-tuned", command=command,
                         parent=None if path is None else str(path),
                         parameters={"dataset": str(ds.root.resolve()), "seed": seed,
                                     "ranges": ranges, "augment_copies": config.augment.copies,
                                     "fine_tune": _epochs_record(fine_tune or FINE_TUNE),
                                     "boundary": why},
                         figures={k: record.figures[k] for k in ("validation", VERIFIED)
                                  if k in record.figures})
    card = ModelCard(detector=record, boundary=brecord, history=source.card.history)
    model.card = card.with_history(entry)
    return _saved(model, out)


def _epochs_record(fine_tune: SparseTrainingConfig) -> dict:
    """What a fine-tuning trained each network with, for the card: its epochs, rounds,
    batch and learning rate (not the template's fan-in: each network keeps its own)."""
    record = fine_tune.to_dict()
    record.pop("target_active_inputs", None)
    record.pop("target_sparsity", None)
    return record


def _boundary_plan(source: ValveModel, ds: Dataset, boundary: BoundaryConfig | None
                   ) -> tuple[BoundaryConfig | None, str]:
    """The boundary configuration to fine-tune with (None: keep the parent's) and why."""
    if source.boundary is None:
        return None, "the parent has no boundary model (add one with add_boundary)"
    if boundary is None:
        return None, "kept the parent's (boundary fine-tuning not asked for)"
    meshed = [c for c in ds if c.mesh is not None and c.pose is not None]
    if len(meshed) < 2:
        return None, f"kept the parent's: {len(meshed)} case(s) with a mesh, 2 needed"
    for case in meshed:
        try:
            source.boundary.check_topology(case.load_mesh(), f"case {case.id!r}")
        except TopologyMismatch as err:
            return None, f"kept the parent's: {err}"
    return _few_meshes(boundary, len(meshed)), ""


def _few_meshes(boundary: BoundaryConfig, n_meshed: int) -> BoundaryConfig:
    """``boundary`` with at least one of ``n_meshed`` (>= 2) cases held out for
    validating the classifier (every ``val_every``-th case is)."""
    classifier = replace(boundary.classifier,
                         val_every=min(boundary.classifier.val_every, n_meshed))
    return replace(boundary, classifier=classifier)


def _check_boundary_cases(ds: Dataset, config: BoundaryConfig) -> BoundaryConfig:
    """``config`` for ``ds``'s meshes (:func:`_few_meshes`); at least 2 are needed."""
    if _meshed(ds) < 2:
        raise ValueError(f"{ds.root}: training a boundary model needs at least 2 cases "
                         f"with a pose and a mesh, it has {_meshed(ds)}")
    return _few_meshes(config, _meshed(ds))


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
    config = _check_boundary_cases(ds, config or BoundaryConfig())
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
