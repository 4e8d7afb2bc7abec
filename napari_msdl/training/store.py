"""Where a training run keeps its samples and feature volumes: on disk or in memory.

An 800-case detector training draws about a million 5832-input samples (12 GB in half
precision) and keeps a feature volume per case for its later passes (about 4 GB); held
in memory they took 19.6 GB. A :class:`SampleStore` on disk writes every sample block
and feature volume to a scratch folder of its own as it is made and hands back
memory-mapped arrays (each file unlinked once mapped, so that its disk space is
freed when the arrays using it are), so a run's memory is the networks, the labels and one case at a
time; the operating system keeps in its page cache what fits and reads the rest back
(file pages it can drop, never the run's own memory). The folder is created by the store
(in the system's temporary folder unless another is given) and removed, whole, when the
store closes, whether the run succeeded, failed or was cancelled.

``SampleStore(None)`` keeps everything in memory (small sample sets: pruning, tests).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from napari_msdl.detector.features import FeatureVolume
from napari_msdl.sparse.grid import N_INPUTS
from napari_msdl.training.samples import SAMPLE_DTYPE

SCRATCH_PREFIX = "napari-msdl-training-"

Samples = tuple[np.ndarray, np.ndarray]
"""Features x (N, 5832) in :data:`SAMPLE_DTYPE` and labels y (N,) float32."""

_CHUNK = 8192


def _release(path: Path) -> None:
    """Unlink a file that is now memory-mapped: its data stays readable through the map
    and its disk space is freed when the last array using it is (where the system refuses,
    as Windows does for a mapped file, the file stays until the store closes)."""
    try:
        path.unlink()
    except OSError:
        pass


class SampleWriter:
    """Sample blocks appended one by one; :meth:`finish` gives them as one (x, y)."""

    def __init__(self, path: Path | None) -> None:
        self._path, self._chunks, self._labels, self._n = path, [], [], 0
        self._file = None if path is None else open(path, "wb")  # noqa: SIM115

    def append(self, x: np.ndarray, y: np.ndarray) -> None:
        """Add the rows of ``x`` (N, 5832) with their labels ``y`` (N,)."""
        x = np.ascontiguousarray(x, dtype=SAMPLE_DTYPE)
        if x.ndim != 2 or x.shape[1] != N_INPUTS or len(y) != len(x):
            raise ValueError(f"samples must be (N, {N_INPUTS}) with N labels, received "
                             f"{x.shape} and {len(y)}")
        if self._file is None:
            self._chunks.append(x)
        elif len(x):
            self._file.write(memoryview(x).cast("B"))
        self._labels.append(np.asarray(y, dtype=np.float32).reshape(-1))
        self._n += len(x)

    def finish(self) -> Samples:
        """All rows appended, in order (memory-mapped when the store is on disk)."""
        y = np.concatenate(self._labels) if self._labels else np.zeros(0, np.float32)
        if self._file is None:
            x = (np.concatenate(self._chunks) if self._chunks
                 else np.zeros((0, N_INPUTS), SAMPLE_DTYPE))
            self._chunks.clear()
            return x, y
        self._file.close()
        if self._n == 0:
            return np.zeros((0, N_INPUTS), SAMPLE_DTYPE), y
        x = np.memmap(self._path, dtype=SAMPLE_DTYPE, mode="r+", shape=(self._n, N_INPUTS))
        _release(self._path)
        return np.asarray(x), y


def _scratch_parent(folder: str | Path, need_bytes: int = 0) -> Path:
    """The folder a store on disk makes its scratch folder in (``"temp"``: the system's
    temporary folder), checked to exist and to have ``need_bytes`` free."""
    parent = Path(tempfile.gettempdir() if folder == "temp" else folder)
    if not parent.is_dir():
        raise NotADirectoryError(f"scratch folder not found: {parent}")
    free = shutil.disk_usage(parent).free
    if free < need_bytes:
        raise ValueError(f"training needs about {need_bytes / 1e9:.1f} GB of scratch space "
                         f"for its samples, and {parent} has {free / 1e9:.1f} GB free: free "
                         "some, or give a folder on a larger disk (--scratch DIR)")
    return parent


class SampleStore:
    """Training samples and feature volumes of one run (see the module docstring).

    ``folder``: where the store makes its scratch folder (``"temp"``: the system's
    temporary folder), refused unless it has ``need_bytes`` free; ``None`` keeps
    everything in memory. Use as a context manager, or
    call :meth:`close`.
    """

    def __init__(self, folder: str | Path | None = "temp", need_bytes: int = 0) -> None:
        self.path: Path | None = None
        if folder is not None:
            parent = _scratch_parent(folder, need_bytes)
            self.path = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=parent))
        self._files = 0

    def _next(self, suffix: str) -> Path | None:
        if self.path is None:
            return None
        self._files += 1
        return self.path / f"{self._files:05d}{suffix}"

    def writer(self) -> SampleWriter:
        """A new sample file (or in-memory list) to append blocks to."""
        return SampleWriter(self._next(".f16"))

    def rows(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        """``x[index]``: ``x`` itself when ``index`` is every row in order, else the rows
        copied out block by block (into a new file when on disk)."""
        index = np.asarray(index)
        if len(index) == len(x) and np.array_equal(index, np.arange(len(x))):
            return x
        return self.joined([(x, index)])

    def joined(self, parts: list) -> np.ndarray:
        """The rows of ``parts`` one after another: each an array, or an (array, index)
        pair for some of its rows; copied block by block (into a new file on disk)."""
        w = self.writer()
        for part in parts:
            x, index = part if isinstance(part, tuple) else (part, None)
            n = len(x) if index is None else len(index)
            for start in range(0, n, _CHUNK):
                block = (x[start:start + _CHUNK] if index is None
                         else x[np.asarray(index[start:start + _CHUNK])])
                w.append(block, np.zeros(len(block), np.float32))
        return w.finish()[0]

    def keep_volume(self, fv: FeatureVolume) -> FeatureVolume:
        """``fv`` with its data written out and memory-mapped (``fv`` itself in memory)."""
        path = self._next(".npy")
        if path is None:
            return fv
        np.save(path, fv.data, allow_pickle=False)
        data = np.asarray(np.load(path, mmap_mode="r+"))
        _release(path)
        return replace(fv, data=data)

    def close(self) -> None:
        """Remove the scratch folder and everything in it (the store made it)."""
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None

    def __enter__(self) -> SampleStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
