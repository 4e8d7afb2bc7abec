"""Loaded model bundles, shared by the widgets and kept per path.

A bundle takes about a second to load the first time (reading and checking its files,
building the networks), so widgets never load one on the GUI thread: they call
:func:`load_model` inside their background job, which reports ``"loading model"`` progress
and returns the cached bundle when its files have not changed since it was loaded.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from napari_msdl._progress import ProgressCallback, no_progress

if TYPE_CHECKING:
    from napari_msdl.bundle import ValveModel

_CACHE: dict[Path, tuple[tuple, ValveModel]] = {}
_LOCK = threading.Lock()
LOADING = "loading model"


def _signature(folder: Path) -> tuple:
    """What says a bundle folder's files changed: each file's size and modification time."""
    return tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                        for p in folder.iterdir() if p.is_file()))


def model_folder(path: str | Path | None) -> Path:
    """The bundle folder a widget's choice names (None: the bundled model)."""
    from napari_msdl.bundle import bundled_model_path

    return (bundled_model_path() if path is None else Path(path)).expanduser().resolve()


def load_model(path: str | Path | None = None,
               progress: ProgressCallback | None = None) -> ValveModel:
    """The bundle at ``path`` (None: the bundled model), from the cache when its files are
    unchanged; call it from a background job."""
    from napari_msdl.bundle import load_bundle

    progress = progress or no_progress
    folder = model_folder(path)
    progress(LOADING, 0, 1)
    with _LOCK:
        if not folder.is_dir():
            raise FileNotFoundError(f"model not found: {folder}")
        signature = _signature(folder)
        cached = _CACHE.get(folder)
        if cached is None or cached[0] != signature:
            cached = (signature, load_bundle(folder))
            _CACHE[folder] = cached
    progress(LOADING, 1, 1)
    return cached[1]


def forget_models() -> None:
    """Empty the cache (tests; a user never needs it: changed files are read again)."""
    with _LOCK:
        _CACHE.clear()
