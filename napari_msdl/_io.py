"""Files: atomic writing (a file appears whole or not at all, never half-written), the model
files' versioned JSON and safetensors readers, and the one policy for unknown keys."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    Works for files and folders. On an exception (or Ctrl-C) the temporary is removed and
    ``path`` is left exactly as it was. ``suffix`` defaults to the target's own suffixes, so
    writers that pick a format by extension (``.nii.gz``) still see it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix is None:
        suffix = "".join(path.suffixes)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}",
                                    dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary for {path}")
        if tmp.is_file():
            os.chmod(tmp, 0o666 & ~_umask())  # some writers (safetensors) create 0600 files
        if path.is_dir() and not path.is_symlink():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_versioned_json(manifest: Path, fmt: str, version: int, what: str) -> dict:
    """Read a model manifest, checking its ``format`` and ``version`` first.

    Errors name the file and say what was found: not JSON, another format, another version.
    """
    import json

    try:
        doc = json.loads(Path(manifest).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{manifest}: corrupt {what} (not valid JSON: {e})") from e
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"{manifest}: not a {what} (format {got!r}, expected {fmt!r})")
    if doc.get("version") != version:
        raise ValueError(f"{manifest}: {what} version {doc.get('version')!r} is not supported "
                         f"(this napari-msdl reads version {version}); retrain or update "
                         "napari-msdl")
    return doc


def read_safetensors(path: Path) -> dict:
    """All tensors of a safetensors file (no pickle); a clear error for a corrupt file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, RuntimeError, ValueError) as e:
        raise ValueError(f"{path}: corrupt weights file, cannot read tensors ({e})") from e


class MissingModelFile(FileNotFoundError, ValueError):
    """A model folder lacks one of its files (both a ``FileNotFoundError`` and, like every
    other unusable-model error, a ``ValueError``)."""


def read_model_files(folder: Path, manifest: str, weights: str, fmt: str, version: int,
                     what: str) -> tuple[dict, dict]:
    """The checked manifest and the tensors of a model stored as ``manifest`` (versioned
    JSON) + ``weights`` (safetensors) in ``folder``; errors name the file and the problem."""
    folder = Path(folder)
    for name in (manifest, weights):
        if not (folder / name).is_file():
            raise MissingModelFile(f"{folder} is not a napari-msdl model (no {what}): "
                                   f"{name} is missing")
    return (read_versioned_json(folder / manifest, fmt, version, what),
            read_safetensors(folder / weights))



def check_keys(d: Any, known: Iterable[str], what: str) -> dict:
    """``d`` itself when it is a dict whose keys are all in ``known``; otherwise a
    ``ValueError`` naming ``what`` and the keys it does not know (the one policy of every
    ``from_dict`` in the package: unknown keys are refused, never ignored)."""
    if not isinstance(d, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(d).__name__}")
    unknown = sorted(str(k) for k in set(d) - set(known))
    if unknown:
        raise ValueError(f"unknown {what} keys {unknown}; known: {sorted(known)}")
    return d


def dataclass_from_dict(cls: type[T], d: Any, what: str) -> T:
    """``cls(**d)`` for a dataclass ``cls``, unknown keys refused (:func:`check_keys`);
    missing keys take the dataclass defaults."""
    import dataclasses

    names = [f.name for f in dataclasses.fields(cls) if f.init]
    return cls(**check_keys(d, names, what))


def check_whole(name: str, value: Any, minimum: int = 0, maximum: int | None = None) -> int:
    """``value`` as an int when it is a whole number in ``[minimum, maximum]``; otherwise a
    ``ValueError`` naming the parameter and what it received."""
    import numbers

    ok = (isinstance(value, numbers.Integral) and not isinstance(value, bool)
          and value >= minimum and (maximum is None or value <= maximum))
    if not ok:
        bound = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise ValueError(f"{name} must be a whole number {bound}, got {value!r}")
    return int(value)


def check_number(name: str, value: Any, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float when it is a finite number within the bounds (open or closed);
    otherwise a ``ValueError`` naming the parameter and what it received."""
    import math
    import numbers

    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        lo = "" if low is None else f"{'(' if low_open else '['}{low:g}"
        hi = "" if high is None else f"{high:g}{')' if high_open else ']'}"
        where = f" in {lo or '(-inf'}, {hi or 'inf)'}" if (low is not None or high is not None) \
            else ""
        raise ValueError(f"{name} must be a finite number{where}, got {value!r}")
    return float(value)
