"""Training a detector: samples per stage, the cascade, the main nets.

``train_detector(dataset, config, seed)`` splits the annotated cases by id, learns
the hypothesis ranges (orientation set, size set, mean size) from the training poses,
then, stage by stage as MSL does:

1. position: samples (:mod:`napari_msdl.training.samples`) on every case; the cascade;
   hard negatives that the cascade passes on whole volumes (:mod:`.mining`); the main net;
2. orientation and scale: samples whose far negatives lie around the confusers the
   trained position stage ranks high; cascade and main net each
   (:mod:`napari_msdl.training.stage`, Algorithm 1).

It then measures detection on the validation cases and returns the detector with the
record of its training (:func:`~napari_msdl.training.train_bundle` writes both into a
bundle). Each image is read once; its feature volume is kept for the later passes. The
samples and feature volumes are written to a scratch folder on disk as they are made and
read back memory-mapped (:mod:`napari_msdl.training.store`), so the memory a training
takes does not grow with its number of cases.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from napari_msdl._io import check_keys, check_number, check_whole
from napari_msdl._progress import ProgressCallback, Steps, no_progress, report_figures
from napari_msdl.bundle import TrainingRecord
from napari_msdl.dataset import Case, Dataset, check_case_id
from napari_msdl.detector.features import FeatureVolume
from napari_msdl.detector.hypotheses import OrientationSet, SizeSet, feature_volume
from napari_msdl.detector.model import STAGES, DetectorModel, SearchParams, network_name
from napari_msdl.sparse import SparseTrainingConfig
from napari_msdl.sparse.grid import N_INPUTS
from napari_msdl.training.augment import Augmentation, augment
from napari_msdl.training.mining import mine_position, position_confusers
from napari_msdl.training.samples import (
    SAMPLE_DTYPE,
    SampleConfig,
    cut_by_field_of_view,
    orientation_samples,
    position_samples,
    scale_samples,
)
from napari_msdl.training.stage import StageTraining, network_line, train_stage
from napari_msdl.training.store import Samples, SampleStore


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run is configured by (stored in the model card).

    ``position_cascade_levels`` overrides ``stage.cascade_levels`` for the position stage,
    which scores every voxel of the grid and so gains most from a deeper cascade
    (``None``: the same as the other stages). ``fov_cut_share``: the share of training
    samples (every stage, positives and negatives alike) cut by a random plane as by the
    edge of the field of view (:func:`~napari_msdl.training.samples.cut_by_field_of_view`;
    0 = none). ``augment``: augmented copies of every training case
    (:mod:`napari_msdl.training.augment`; none by default), for training on a few cases."""

    samples: SampleConfig = field(default_factory=SampleConfig)
    stage: StageTraining = field(default_factory=StageTraining)
    search: SearchParams = field(default_factory=SearchParams)
    orientation_step_deg: float = 12.0
    size_step: float = 0.08
    shifts: int = 2
    hard_negatives: int = 60
    confusers: int = 40
    position_cascade_levels: int | None = 2
    fov_cut_share: float = 0.0
    val_fraction: float = 0.2
    val_ids: tuple[str, ...] | None = None
    augment: Augmentation = field(default_factory=Augmentation)

    def __post_init__(self) -> None:
        for name, kind in (("samples", SampleConfig), ("stage", StageTraining),
                           ("search", SearchParams), ("augment", Augmentation)):
            if not isinstance(getattr(self, name), kind):
                raise ValueError(f"{name} must be a {kind.__name__}, got "
                                 f"{type(getattr(self, name)).__name__}")
        check_number("orientation_step_deg", self.orientation_step_deg, 0.5, 90.0)
        check_number("size_step", self.size_step, 0.005, 1.0)
        check_whole("shifts", self.shifts, 1, 16)
        check_whole("hard_negatives", self.hard_negatives, 0, 10_000)
        check_whole("confusers", self.confusers, 0, 10_000)
        if self.position_cascade_levels is not None:
            check_whole("position_cascade_levels", self.position_cascade_levels, 0, 8)
        check_number("fov_cut_share", self.fov_cut_share, 0.0, 1.0)
        check_number("val_fraction", self.val_fraction, 0.0, 1.0, low_open=True,
                     high_open=True)
        if self.val_ids is not None:
            ids = tuple(self.val_ids) if not isinstance(self.val_ids, str) else ()
            if not ids:
                raise ValueError("val_ids must name at least one validation case (or be None "
                                 "for a seeded share)")
            for case_id in ids:
                check_case_id(case_id)
            object.__setattr__(self, "val_ids", ids)

    def with_epochs(self, epochs: int | None = None, rounds: int | None = None,
                    pretrain: int | None = None) -> TrainConfig:
        """A copy with Algorithm 1's epoch counts changed for every network."""
        changes = {k: v for k, v in (("epochs_per_round", epochs), ("rounds", rounds),
                                     ("pretrain_epochs", pretrain)) if v is not None}
        s = self.stage
        return replace(self, stage=replace(s, cascade=replace(s.cascade, **changes),
                                           main=replace(s.main, **changes)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; :meth:`from_dict` restores exactly this configuration."""
        d = asdict(self)
        d["stage"] = self.stage.to_dict()
        d["val_ids"] = None if self.val_ids is None else list(self.val_ids)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """The configuration :meth:`to_dict` wrote (a model card's ``config``); missing
        keys take their defaults, unknown keys are refused."""
        d = dict(check_keys(d, [f.name for f in fields(cls)], "training configuration"))
        parts = {"samples": SampleConfig, "stage": StageTraining, "search": SearchParams,
                 "augment": Augmentation}
        for key, kind in parts.items():
            if key in d:
                d[key] = kind.from_dict(d[key])
        if d.get("val_ids") is not None:
            if not isinstance(d["val_ids"], list):
                raise ValueError(f"val_ids must be a list of case ids, got {d['val_ids']!r}")
            d["val_ids"] = tuple(d["val_ids"])
        return cls(**d)


def tiny_config(**changes: Any) -> TrainConfig:
    """A small, fast configuration (tests, smoke runs): few epochs and samples."""
    sparse = SparseTrainingConfig(pretrain_epochs=2, rounds=2, epochs_per_round=1,
                                  target_active_inputs=40, batch_size=256, lr=3e-3)
    cfg = TrainConfig(samples=SampleConfig(positives=20, negatives=60),
                      stage=StageTraining(cascade=sparse, main=sparse, cascade_levels=1),
                      orientation_step_deg=15.0, size_step=0.12, shifts=1,
                      hard_negatives=10, confusers=5, position_cascade_levels=None)
    return replace(cfg, **changes)


def _case_rng(seed: int, n: int, tag: int) -> np.random.Generator:
    return np.random.default_rng([seed, n, tag])


def position_pass(cases: list[Case], spacing: np.ndarray, config: TrainConfig, seed: int,
                  label: str, progress: ProgressCallback, store: SampleStore | None = None
                  ) -> tuple[list[FeatureVolume], Samples]:
    """Read every case once: its feature volume (kept for the later passes, in ``store``)
    and the position samples on ``config.shifts`` sub-voxel shifts of the feature grid
    (written to ``store`` as they are drawn; default: in memory)."""
    store = store or SampleStore(None)
    fvs, chunks = [], store.writer()
    progress(label, 0, len(cases))
    for n, case in enumerate(cases):
        volume = case.load_volume()
        volume.require_contrast(f"training case {case.id!r} ({case.image})")
        for shift in range(config.shifts):
            rng = _case_rng(seed, n, shift)
            offset = (rng.random(3) - 0.5) * spacing if shift else np.zeros(3)
            fv = feature_volume(volume, spacing, offset)
            if shift == 0:
                kept = fv
            x, y = position_samples(fv, case.pose, config.samples, rng)
            cut_by_field_of_view(x, config.fov_cut_share, _case_rng(seed, n, 50 + shift))
            chunks.append(x, y)
        for copy, (fv, pose, _) in enumerate(copies_of(kept, case.pose, config, seed, n)):
            x, y = position_samples(fv, pose, config.samples, _case_rng(seed, n, 1200 + copy))
            cut_by_field_of_view(x, config.fov_cut_share, _case_rng(seed, n, 1300 + copy))
            chunks.append(x, y)
        fvs.append(store.keep_volume(kept))
        progress(label, n + 1, len(cases))
    return fvs, chunks.finish()


def copies_of(fv: FeatureVolume, pose, config: TrainConfig, seed: int, n: int):
    """The augmented copies of case ``n`` (the same ones in every pass: seeded per case)."""
    rng = _case_rng(seed, n, 1000)
    return [augment(fv, pose, rng, config.augment) for _ in range(config.augment.copies)]


def box_pass(cases: list[Case], fvs: list[FeatureVolume], confusers: list[np.ndarray],
             orientations: OrientationSet, sizes: SizeSet, config: TrainConfig, seed: int,
             label: str, progress: ProgressCallback, store: SampleStore | None = None
             ) -> dict[str, Samples]:
    """Orientation and scale samples of every case (``config.shifts`` draws each),
    written to ``store`` as they are drawn (default: in memory)."""
    store = store or SampleStore(None)
    parts = {"orientation": store.writer(), "scale": store.writer()}
    progress(label, 0, len(cases))
    for n, (case, fv, conf) in enumerate(zip(cases, fvs, confusers, strict=True)):
        draws = [(fv, case.pose, conf, 10 + shift) for shift in range(config.shifts)]
        draws += [(copy_fv, pose, move.points(conf) if len(conf) else conf, 1400 + k)
                  for k, (copy_fv, pose, move) in enumerate(copies_of(fv, case.pose, config,
                                                                       seed, n))]
        for draw_fv, pose, draw_conf, tag in draws:
            rng = _case_rng(seed, n, tag)
            drawn = {"orientation": orientation_samples(
                draw_fv, pose, orientations, sizes.mean, config.samples, rng, draw_conf),
                "scale": scale_samples(draw_fv, pose, sizes, config.samples, rng, draw_conf)}
            cut_rng = _case_rng(seed, n, 50 + tag)
            for name, (x, y) in drawn.items():
                cut_by_field_of_view(x, config.fov_cut_share, cut_rng)
                parts[name].append(x, y)
        progress(label, n + 1, len(cases))
    return {k: w.finish() for k, w in parts.items()}


def _miner(train: list[Case], val: list[Case], fvs: tuple[list, list], config: TrainConfig,
           seed: int, progress: ProgressCallback, store: SampleStore):
    """The miner for :func:`train_stage`: hard position negatives of every case (first the
    cascade's, then on each bootstrap round the main net's), written to ``store``."""
    calls = [0]

    def mine(nets):
        out = []
        what = "hard negatives" if calls[0] == 0 else f"bootstrap {calls[0]}"
        for tag, (cases, volumes) in enumerate(zip((train, val), fvs, strict=True)):
            label = f"{what} (" + ("train" if tag == 0 else "validation") + ")"
            found = store.writer()
            for n, (case, fv) in enumerate(zip(cases, volumes, strict=True)):
                x = mine_position(nets, fv, case.pose, config.samples.position_negative,
                                  config.hard_negatives, config.search.position_stride,
                                  _case_rng(seed + tag, n, 99 + calls[0]))
                found.append(x, np.zeros(len(x), np.float32))
                progress(label, n + 1, len(cases))
            out.append(found.finish()[0])
        calls[0] += 1
        return out[0], out[1]
    return mine


def confuser_pass(nets, cases: list[Case], fvs: list[FeatureVolume], config: TrainConfig,
               label: str, progress: ProgressCallback) -> list[np.ndarray]:
    """Per case, the centres the trained position stage ranks highest away from the truth
    (the look-alikes the orientation and scale stages must learn to reject)."""
    out = []
    for n, (case, fv) in enumerate(zip(cases, fvs, strict=True)):
        out.append(position_confusers(nets, fv, case.pose, 2 * config.samples.position_negative,
                                      config.confusers, config.search.position_stride))
        progress(label, n + 1, len(cases))
    return out


def stage_report(record: TrainingRecord) -> str:
    """Per network, what a detector's training record says of it: each cascade level's
    positive recall and share of negatives rejected (training / validation samples), each
    main net's validation AUC and inputs read; the lines ``napari-msdl train`` prints."""
    lines = (network_line(name, fig) for name, fig in record.figures.get("networks", {}).items())
    return "\n".join(line for line in lines if line)


def validation_line(report: dict[str, Any], what: str = "validation") -> str:
    """The validation errors of a detection report (``evaluate_cases``) as one line (with
    its failure count when it has one: records written before it have none)."""
    pe, ce = report["position_error"], report["corner_error"]
    lost = report.get("failures")
    return (f"{what}: position error {pe['mean']:.2f} mm, corner error {ce['mean']:.2f} mm "
            f"(means over {pe['n']} cases)"
            + ("" if lost is None else f", {lost['count']} lost (> {lost['threshold_mm']:g} mm)"))


def network_figures(stages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """:func:`train_stage`'s figures of every stage, per network by its name, and the
    sample counts per stage (the layout of a detector record's figures)."""
    networks = {}
    for stage, fig in stages.items():
        for level, lev in enumerate(fig["cascade"], start=1):
            networks[network_name(stage, level)] = lev
        networks[network_name(stage)] = fig["main"]
    return {"samples": {stage: fig["samples"] for stage, fig in stages.items()},
            "networks": networks}


RANGES = ("extend", "keep", "learn")
"""What fine-tuning does with the parent's hypothesis ranges: ``extend`` (default) keeps
the parent's orientation set and size spread, moves the mean size (and with it the grid
pitch) to the new cases' and adds what they need; ``keep`` keeps them all as they were
(valves of another size then look bigger or smaller to the networks); ``learn`` learns
them from the new cases alone (narrow when there are few)."""


def hypothesis_sets(poses: list, config: TrainConfig, init: DetectorModel | None = None,
                    ranges: str = "extend") -> tuple[OrientationSet, SizeSet]:
    """The orientation and size sets: learned from ``poses``, or (fine-tuning) the parent's
    kept or extended by them."""
    if ranges not in RANGES:
        raise ValueError(f"ranges must be one of {list(RANGES)}, got {ranges!r}")
    rotations = np.stack([p.rotation for p in poses])
    sizes = np.stack([p.size for p in poses])
    if init is None or ranges == "learn":
        return (OrientationSet.learn(rotations, config.orientation_step_deg),
                SizeSet.learn(sizes, config.size_step))
    if ranges == "keep":
        return init.orientations, init.sizes
    return init.orientations.extended(rotations), init.sizes.extended(sizes, config.size_step)


def scratch_bytes(n_cases: int, config: TrainConfig) -> int:
    """About the scratch space a training on ``n_cases`` takes at its peak: every
    stage's samples of every case (its sub-voxel shifts and augmented copies) and a third
    more for the subsets the networks train on and the feature volumes (13.4 GB for 800
    phantoms, whose training peaked at 11.5 GB; ``benchmarks/bench_train_memory.py``)."""
    per_draw = config.samples.positives + config.samples.negatives
    rows = n_cases * (config.shifts + config.augment.copies) * per_draw * len(STAGES)
    return int(rows * N_INPUTS * np.dtype(SAMPLE_DTYPE).itemsize * 4 / 3)


DETECTOR_STEPS = 6
"""A detector's training in steps (for one progress bar): the position samples, the
position networks, the box samples, the orientation networks, the scale networks, the
validation detection."""


def _train_stages(train: list[Case], val: list[Case], spacing: np.ndarray,
                  orientations: OrientationSet, sizes: SizeSet, config: TrainConfig, seed: int,
                  dense: bool, progress: ProgressCallback, steps: Steps, store: SampleStore,
                  parent) -> tuple[dict, dict]:
    """The three stages' networks and training figures, their samples kept in ``store``
    (``parent(stage)``: the fine-tuning arguments of each stage)."""
    fvs, train_xy = position_pass(train, spacing, config, seed, "samples (train)", progress,
                                  store)
    fvs_val, val_xy = position_pass(val, spacing, config, seed + 1, "samples (validation)",
                                    progress, store)
    mine = _miner(train, val, (fvs, fvs_val), config, seed, progress, store) \
        if config.hard_negatives else None
    steps.next()  # the position samples
    stages, figures = {}, {}
    levels = config.position_cascade_levels or config.stage.cascade_levels
    stages["position"], figures["position"] = train_stage(
        "position", train_xy, val_xy, replace(config.stage, cascade_levels=levels), seed,
        dense, progress, mine, store=store, **parent("position"))
    steps.next()
    del train_xy, val_xy
    confusers = confuser_pass(stages["position"], train, fvs, config, "confusers (train)",
                           progress)
    confusers_val = confuser_pass(stages["position"], val, fvs_val, config,
                               "confusers (validation)", progress)
    train_xy = box_pass(train, fvs, confusers, orientations, sizes, config, seed,
                        "samples (train)", progress, store)
    val_xy = box_pass(val, fvs_val, confusers_val, orientations, sizes, config, seed + 1,
                      "samples (validation)", progress, store)
    steps.next()  # the box samples
    del fvs, fvs_val, mine  # the miner holds the feature volumes too
    for k, name in enumerate(STAGES[1:]):
        stages[name], figures[name] = train_stage(
            name, train_xy.pop(name), val_xy.pop(name), config.stage, seed + 100 * (k + 1),
            dense, progress, store=store, **parent(name))
        steps.next()
    return stages, figures


def train_detector(dataset: str | Path | Dataset, config: TrainConfig | None = None,
                   seed: int = 0, progress: ProgressCallback | None = None,
                   dense: bool = False, command: str | None = None,
                   init: DetectorModel | None = None, ranges: str = "extend",
                   fine_tune: SparseTrainingConfig | None = None, steps: Steps | None = None,
                   scratch: str | Path | None = "temp") -> tuple[DetectorModel, TrainingRecord]:
    """Train the three-stage detector on ``dataset``; returns it and the record of its
    training (for the bundle's card; :func:`~napari_msdl.training.train_bundle` writes
    both). ``dense=True`` trains the dense baseline (no sparsity: every first layer reads
    all 5832 inputs, the same epochs in total).

    ``init`` fine-tunes a trained detector instead: every network starts from its weights
    and sparsity map (see :func:`~napari_msdl.training.stage.train_stage`), the cascade
    depths are its own, and the hypothesis ranges are extended, kept or learned again
    (``ranges``, :data:`RANGES`); ``fine_tune`` sets the epochs and learning rate
    (default :data:`~napari_msdl.training.stage.FINE_TUNE`).

    The samples and feature volumes are kept on disk in a scratch folder made in
    ``scratch`` (default: the system's temporary folder; ``None``: in memory) and removed
    at the end (:class:`~napari_msdl.training.store.SampleStore`), so memory does not grow
    with the number of cases.

    The training's :data:`DETECTOR_STEPS` steps are counted on ``steps`` (a bundle's
    training passes its own, with the boundary model's step after them).
    """
    from napari_msdl.evaluation import evaluate_cases

    config = config or TrainConfig()
    progress = progress or no_progress
    ds = dataset if isinstance(dataset, Dataset) else Dataset.open(dataset)
    t0 = time.perf_counter()
    train, val = ds.split(None if config.val_ids is None else list(config.val_ids),
                          config.val_fraction, seed)
    if not train or not val:
        raise ValueError(f"need annotated training and validation cases, got {len(train)} "
                         f"and {len(val)} in {ds.root}")
    if init is not None and init.dense != dense:
        raise ValueError("a dense baseline fine-tunes only as a dense model, and a sparse "
                         "one only as a sparse model")
    orientations, sizes = hypothesis_sets([c.pose for c in train], config, init, ranges)
    steps = steps or Steps(progress, DETECTOR_STEPS)

    def parent(stage: str) -> dict[str, Any]:
        return {} if init is None else {"init": init.stages[stage], "fine_tune": fine_tune}
    spacing = sizes.mean / 18

    need = scratch_bytes(len(train) + len(val), config)
    with SampleStore(scratch, need) as store:
        stages, figures = _train_stages(train, val, spacing, orientations, sizes, config, seed,
                                        dense, progress, steps, store, parent)
    model = DetectorModel(orientations=orientations, sizes=sizes, stages=stages,
                          search=config.search, dense=dense)
    train_seconds = time.perf_counter() - t0
    report = evaluate_cases(model, val, progress=progress, label="validation detection")
    report_figures(progress, "validation detection", {"report": validation_line(report)})
    steps.next()
    record = TrainingRecord(
        command=command, seed=seed, config=config.to_dict(),
        data={"dataset": str(Path(ds.root).resolve()), "name": ds.name,
              "train_cases": len(train), "val_cases": len(val),
              "val_ids": [c.id for c in val]},
        seconds=round(train_seconds, 1),
        figures={**network_figures(figures), "sparsity": model.sparsity(),
                 "validation": {k: report[k] for k in ("position_error", "corner_error",
                                                       "seconds", "failures")},
                 "hypotheses": {"orientations": len(orientations.rotvecs),
                                "sizes": len(sizes.logs), "mean_size": sizes.mean.tolist(),
                                "spacing": spacing.tolist()}})
    return model, record
