"""Volumes: the ``Volume`` type, readers and writers, resampling and batched sampling."""

from napari_msdl.volume.volume import Volume

__all__ = ["Volume"]
