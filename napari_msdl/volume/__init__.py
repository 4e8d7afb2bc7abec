"""Volumes: the ``Volume`` type, readers and writers, resampling and batched sampling."""

from napari_msdl.volume.io import SUPPORTED_EXTENSIONS, load_volume, save_volume
from napari_msdl.volume.resample import resample, resample_to
from napari_msdl.volume.sampling import sample
from napari_msdl.volume.volume import Volume

__all__ = ["SUPPORTED_EXTENSIONS", "Volume", "load_volume", "resample", "resample_to",
           "sample", "save_volume"]
