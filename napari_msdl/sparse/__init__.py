"""Sparse adaptive deep networks (SADNN): the sparse layer, Algorithm 1, the seed's nets,
and Dey et al.'s pattern metrics (:mod:`napari_msdl.sparse.connectivity`) and pre-defined
patterns (:mod:`napari_msdl.sparse.patterns`)."""

from napari_msdl.sparse import connectivity, patterns
from napari_msdl.sparse.algorithm1 import (
    EpochRecord,
    RoundRecord,
    SampleSet,
    SparseHistory,
    SparseTrainingConfig,
    SparsifyStats,
    active_schedule,
    evaluate,
    sparsify_step,
    train_sadnn,
)
from napari_msdl.sparse.grid import GRID_SIZE, N_INPUTS
from napari_msdl.sparse.layers import DEFAULT_METHOD, FilterPattern, SparseLinear
from napari_msdl.sparse.networks import (
    SADNN,
    NetworkConfig,
    cascade_net_config,
    main_net_config,
)

SparseMLP = SADNN

__all__ = [
    "DEFAULT_METHOD",
    "GRID_SIZE",
    "N_INPUTS",
    "SADNN",
    "EpochRecord",
    "FilterPattern",
    "NetworkConfig",
    "RoundRecord",
    "SampleSet",
    "SparseHistory",
    "SparseLinear",
    "SparseMLP",
    "SparseTrainingConfig",
    "SparsifyStats",
    "active_schedule",
    "cascade_net_config",
    "connectivity",
    "evaluate",
    "main_net_config",
    "patterns",
    "sparsify_step",
    "train_sadnn",
]
