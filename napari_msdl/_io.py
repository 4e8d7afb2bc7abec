"""Files and formats at the door: atomic writing (a file appears whole or not at all), the
output rule every writer keeps (:func:`check_output`), checked JSON and safetensors
readers, the one policy for unknown keys and the value checks every format's fields go
through (:func:`check_whole`, :func:`check_number`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None, folder: bool = False,
                replaceable: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    On an exception (or Ctrl-C) the temporary is removed and ``path`` is left exactly as it
    was. ``suffix`` defaults to the target's own suffixes, so writers that pick a format by
    extension (``.nii.gz``) still see it. A file never replaces a folder; a folder
    (``folder=True``) replaces only an empty folder or one that ``replaceable`` recognises
    as its own kind (a model bundle for a bundle), never a file: both are refused before
    anything is written.
    """
    path = Path(path)
    if path.exists() and not path.is_symlink():
        if not folder and path.is_dir():
            raise IsADirectoryError(f"{path} is a folder; a file is never written in its place")
        if folder and not path.is_dir():
            raise NotADirectoryError(f"{path} is a file; a folder is never written in its place")
        if folder and any(path.iterdir()) and not (replaceable and replaceable(path)):
            raise FileExistsError(f"{path} is a folder holding other files; it is never "
                                  "replaced")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix is None:
        suffix = "".join(path.suffixes)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=f".tmp{suffix}",
                                    dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary for {path}")
        if tmp.is_dir() != folder:
            made = "folder" if tmp.is_dir() else "file"
            raise RuntimeError(f"the writer of {path} made a {made}, not what it announced")
        if tmp.is_file():
            os.chmod(tmp, 0o666 & ~_umask())  # some writers (safetensors) create 0600 files
        if folder and path.is_dir() and not path.is_symlink():
            old = path.with_name(f".{path.name[:100]}.old-{os.getpid()}")
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
    """Read a model manifest (:func:`read_json`), checking its ``format`` and ``version``
    first. Errors name the file and say what was found: not JSON, another format, another
    version."""
    doc = read_json(manifest, what)
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"{manifest}: not a {what} (format {got!r}, expected {fmt!r})")
    got = doc.get("version")
    if isinstance(got, bool) or got != version:
        raise ValueError(f"{manifest}: {what} version {got!r} is not supported "
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



def check_keys(d: Any, known: Iterable[str], what: str, required: Iterable[str] = ()) -> dict:
    """``d`` itself when it is a dict whose keys are all in ``known`` and hold every one of
    ``required``; otherwise a ``ValueError`` naming ``what`` and the keys (the one policy of
    every ``from_dict`` in the package: unknown keys are refused, never ignored)."""
    if not isinstance(d, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(d).__name__}")
    known = list(known)
    unknown = sorted(str(k) for k in set(d) - set(known))
    if unknown:
        raise ValueError(f"unknown {what} keys {unknown}; known: {sorted(known)}")
    missing = [k for k in required if k not in d]
    if missing:
        raise ValueError(f"{what} needs the keys {missing}")
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


# ---------------------------------------------------------------- the output rule


@dataclass(frozen=True)
class OutputKind:
    """What a writer makes at its output path: a file (with one of ``suffixes``) or a
    folder; ``recognise(path)`` says whether an existing path is one of this kind, which a
    writer may replace (None: any file with the right suffix)."""

    name: str
    folder: bool = False
    suffixes: tuple[str, ...] = ()
    recognise: Callable[[Path], bool] | None = None


OUTPUT_RULE = ("a command writes only where nothing stands or where it would replace what it "
               "writes itself (the same kind of file or folder); never a folder it did not "
               "create, never one of its inputs, never a path inside an input or holding one")
"""The rule every writer keeps, as ``--help`` and the docs say it."""

MAX_NAME_BYTES = 255


def _inside(inner: Path, outer: Path) -> bool:
    return outer in inner.parents


def check_output(path: str | os.PathLike, kind: OutputKind, inputs: Iterable = (),
                 also: Iterable = (), what: str = "output") -> Path:
    """``path`` as a Path when writing a ``kind`` there keeps :data:`OUTPUT_RULE`, checked
    before any work: not an input (``inputs``: files or folders the command reads), not
    inside one nor holding one, not another output of the same command (``also``), not an
    existing folder for a file nor a file for a folder, not an existing path of another
    kind, with the right suffix, a name the file system takes and a writable place.
    ``ValueError`` naming ``what`` (e.g. ``--out``) and the path otherwise."""
    path = Path(path)
    here = path.expanduser().resolve()
    where = f"{what} {path}"
    for other in inputs:
        if other is None:
            continue
        source = Path(other).expanduser().resolve()
        if here == source:
            raise ValueError(f"{where} is an input of this command; outputs never replace "
                             "their inputs: choose another path")
        if _inside(here, source):
            raise ValueError(f"{where} lies inside the input {other}; outputs never go into an "
                             "input: choose a path outside it")
        if _inside(source, here):
            raise ValueError(f"{where} holds the input {other}; choose a path that does not "
                             "contain an input")
    for other in also:
        if other is not None and here == Path(other).expanduser().resolve():
            raise ValueError(f"{where} is also another output of this command ({other}); "
                             "give each output its own path")
    name = path.name or str(path)
    if len(os.fsencode(name)) > MAX_NAME_BYTES:
        raise ValueError(f"{where}: the name is {len(os.fsencode(name))} bytes long; file "
                         f"systems take at most {MAX_NAME_BYTES}")
    if path.exists():
        _check_existing(path, kind, where)
    if not kind.folder and kind.suffixes and not name.lower().endswith(kind.suffixes):
        raise ValueError(f"{where}: a {kind.name} must end in {', '.join(kind.suffixes)}")
    _check_writable(here, where)
    return path


def _check_existing(path: Path, kind: OutputKind, where: str) -> None:
    if kind.folder:
        if not path.is_dir():
            raise ValueError(f"{where} is a file; a {kind.name} is a folder and never replaces "
                             "a file: choose another path")
        if any(path.iterdir()) and not (kind.recognise and kind.recognise(path)):
            raise ValueError(f"{where} is a folder that holds other files, not a {kind.name}; "
                             f"napari-msdl replaces only a {kind.name} it wrote: choose a new "
                             "or an empty folder")
    else:
        if path.is_dir():
            raise ValueError(f"{where} is a folder; a {kind.name} is a file and never "
                             "replaces a folder: choose a file path")
        if kind.recognise and not kind.recognise(path):
            raise ValueError(f"{where} exists and is not a {kind.name}; napari-msdl replaces "
                             f"only a {kind.name} it wrote: choose another path")


def _check_writable(here: Path, where: str) -> None:
    """The nearest existing folder at or above ``here``'s parent must be writable."""
    parent = here.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{where}: {parent} is a file, so nothing can be written below it")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{where}: cannot write into {parent} (permission denied)")


# ---------------------------------------------------------------- reading JSON

MAX_JSON_BYTES = 256 * 2**20
MAX_JSON_DEPTH = 64


def _depth(doc: Any) -> int:
    """Nesting depth of a JSON value (iterative: a deep document cannot overflow it)."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            if depth <= MAX_JSON_DEPTH:
                items = value.values() if isinstance(value, dict) else value
                stack.extend((v, depth + 1) for v in items)
    return deepest


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def read_json(path: str | os.PathLike, what: str) -> Any:
    """A JSON file's value, checked: at most :data:`MAX_JSON_BYTES`, UTF-8, valid JSON
    without ``NaN``/``Infinity``, nested at most :data:`MAX_JSON_DEPTH` deep. ``ValueError``
    naming the file and ``what`` it should be otherwise."""
    import json

    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise ValueError(f"{path}: {size} bytes is too large for a {what} "
                             f"(at most {MAX_JSON_BYTES})")
        doc = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except FileNotFoundError:
        raise
    except RecursionError as e:
        raise ValueError(f"{path}: {what} nested too deeply") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a valid {what} (not JSON: {e})") from e
    except ValueError as e:
        if str(e).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a valid {what} ({e})") from e
    if _depth(doc) > MAX_JSON_DEPTH:
        raise ValueError(f"{path}: {what} nested more than {MAX_JSON_DEPTH} deep")
    return doc


def dumps_json(doc: Any) -> str:
    """Indented JSON text for a file; ``ValueError`` for NaN or infinite numbers (every
    file napari-msdl writes is valid JSON)."""
    import json

    return json.dumps(doc, indent=1, allow_nan=False) + "\n"


def check_flag(name: str, value: Any) -> bool:
    """``value`` when it is a bool (JSON true/false); ``ValueError`` naming it otherwise."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value
