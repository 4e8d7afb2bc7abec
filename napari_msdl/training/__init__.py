"""Training, fine-tuning and pruning whole model bundles.

- :func:`train_bundle`: the detector (and the boundary model, when the data has meshes)
  into one bundle; :class:`TrainConfig` and :class:`BoundaryConfig` configure them and
  check their values when made;
- :func:`add_boundary`: a boundary model trained and added to an existing bundle;
- :func:`prune_bundle`: more rounds of Algorithm 1 on a bundle's detector
  (:class:`PruneConfig`), the rest of the bundle kept;
- the pieces: :func:`train_detector`, :func:`train_boundary`, :func:`tiny_config`.
"""

from napari_msdl.training.boundary import BoundaryConfig, dataset_cases, train_boundary
from napari_msdl.training.boundary_classifier import ClassifierConfig
from napari_msdl.training.bundle_training import (
    add_boundary,
    fine_tune_bundle,
    fine_tune_config,
    train_bundle,
)
from napari_msdl.training.prune import PruneConfig, prune_bundle
from napari_msdl.training.train import TrainConfig, stage_report, tiny_config, train_detector

__all__ = ["BoundaryConfig", "ClassifierConfig", "PruneConfig", "TrainConfig", "add_boundary",
           "dataset_cases", "fine_tune_bundle", "fine_tune_config", "prune_bundle",
           "stage_report", "tiny_config", "train_boundary", "train_bundle", "train_detector"]
