"""Writing phantom datasets (streamed, one case in memory at a time) and the bundled
sample data.

Case ``i`` of a dataset written with seed ``S`` is ``make_phantom(case_seed(S, i), shape,
spacing)`` and gets the id ``phantom-{i:05d}``, so a dataset is reproducible from its
seed and a case from its id. Next to DESIGN.md's ``dataset.json``, the folder holds
``phantoms.json`` (the generator settings) and ``params/ID.json`` (each case's sampled
parameters: anatomy, pose, image settings).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np

from napari_msdl._io import atomic_path, read_json, write_text_atomic
from napari_msdl._progress import no_progress
from napari_msdl.dataset import MANIFEST, Dataset, create_dataset, is_dataset, put_case
from napari_msdl.phantoms.generator import check_geometry

SETTINGS = "phantoms.json"
FORMAT = "napari-msdl-phantoms/1"
SAMPLE_SEEDS = (4, 12, 14)
"""Seeds of the bundled samples: an open valve, a closed calcified one, a half-open one."""
SAMPLE_SHAPE = (128, 128, 96)
SAMPLE_SPACING = 1.0


def case_seed(seed: int, index: int) -> int:
    """The ``make_phantom`` seed of case ``index`` of a dataset written with ``seed``:
    ``SeedSequence([seed, index]).generate_state(1)[0]`` (a 32-bit integer)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def case_id(index: int) -> str:
    return f"phantom-{index:05d}"


def _settings(n: int, seed: int, shape, spacing, domain: str) -> dict:
    return {"format": FORMAT, "n": int(n), "seed": int(seed),
            "shape": None if shape is None else [int(v) for v in shape],
            "spacing": None if spacing is None else float(spacing), "domain": domain}


def write_phantom_dataset(out_dir: str | Path, n: int, seed: int = 0, shape=None,
                          spacing: float | None = None,
                          progress: Callable[[str, int, int], None] | None = None,
                          resume: bool = False, name: str | None = None,
                          domain: str = "phantom") -> Dataset:
    """Write ``n`` phantom cases into a new dataset folder ``out_dir``.

    ``shape`` (3 ints) and ``spacing`` (mm) fix the volume geometry; None draws it per
    case. A folder that already holds files is refused, unless ``resume`` is set and it
    was started with the same seed, shape and spacing: then the missing cases are added
    (and ``n`` may grow). Cases are written one at a time, each atomically, so an
    interrupted run leaves a valid, shorter dataset. ``progress(stage, done, total)`` is
    called after each case; raising from it stops the run cleanly. ``domain`` names the
    phantom domain (:mod:`napari_msdl.phantoms.domains`).
    """
    from napari_msdl.phantoms.domains import domain as get_domain

    get_domain(domain)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a whole number >= 1, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    check_geometry(shape, spacing)
    progress = progress or no_progress
    root = Path(out_dir)
    settings = _settings(n, seed, shape, spacing, domain)
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root} is a file, not a folder")
    if (root / MANIFEST).exists():
        if not resume:
            raise ValueError(f"{root} already holds a dataset; choose a new folder or pass "
                             "resume=True (--resume) to add its missing cases")
        _check_resume(root, settings)
        dataset = Dataset.open(root)
    else:
        if root.is_dir() and any(root.iterdir()):
            raise ValueError(f"{root} is not empty and holds no dataset; choose a new folder")
        dataset = create_dataset(root, name or root.name)
    write_text_atomic(root / SETTINGS, json.dumps(settings, indent=1) + "\n")
    have = {c.id for c in dataset.cases}
    progress("phantoms", 0, n)
    for i in range(n):
        cid = case_id(i)
        if cid not in have:
            _write_case(dataset, cid, case_seed(seed, i), shape, spacing, domain)
        progress("phantoms", i + 1, n)
    return dataset


def _check_resume(root: Path, settings: dict) -> None:
    path = root / SETTINGS
    try:
        old = read_json(path, "phantom settings file")
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot resume {root}: it was not written by the phantom generator "
                         f"({path} is missing or unreadable)") from e
    if not isinstance(old, dict):
        raise ValueError(f"cannot resume {root}: {path} is not a phantom settings file")
    for key in ("format", "seed", "shape", "spacing", "domain"):
        if old.get(key, "phantom" if key == "domain" else None) != settings[key]:
            raise ValueError(f"cannot resume {root}: it was written with {key}={old.get(key)!r}, "
                             f"not {settings[key]!r}")


def _write_case(dataset: Dataset, cid: str, seed: int, shape, spacing, domain: str) -> None:
    from napari_msdl.phantoms.generator import make_phantom

    case = make_phantom(seed, shape, spacing, domain)
    write_text_atomic(dataset.root / "params" / f"{cid}.json", json.dumps(case.params) + "\n")
    put_case(dataset, cid, volume=case.volume, pose=case.pose, mesh=case.mesh)


def sample_data_path() -> Path:
    """The folder of the sample dataset shipped in the package."""
    return Path(str(resources.files("napari_msdl") / "sample_data"))


def write_sample_data(out_dir: str | Path | None = None,
                      progress: Callable[[str, int, int], None] | None = None) -> Path:
    """(Re)write the bundled sample dataset: ``SAMPLE_SEEDS`` at ``SAMPLE_SHAPE`` and
    ``SAMPLE_SPACING`` mm, ids ``phantom-00000..2``. The folder is replaced atomically."""
    from napari_msdl.phantoms.generator import make_phantom

    progress = progress or no_progress
    root = Path(out_dir) if out_dir is not None else sample_data_path()
    with atomic_path(root, suffix="", folder=True, replaceable=is_dataset) as tmp:
        dataset = create_dataset(tmp, "napari-msdl sample phantoms")
        for i, seed in enumerate(SAMPLE_SEEDS):
            case = make_phantom(seed, SAMPLE_SHAPE, SAMPLE_SPACING)
            cid = case_id(i)
            write_text_atomic(tmp / "params" / f"{cid}.json", json.dumps(case.params) + "\n")
            put_case(dataset, cid, volume=case.volume, pose=case.pose, mesh=case.mesh)
            progress("sample data", i + 1, len(SAMPLE_SEEDS))
        write_text_atomic(tmp / SETTINGS, json.dumps(
            {"format": FORMAT, "seeds": list(SAMPLE_SEEDS), "shape": list(SAMPLE_SHAPE),
             "spacing": SAMPLE_SPACING}, indent=1) + "\n")
    return root


def fetch_sample(index: int = 0):
    """Load bundled sample case ``index`` as a :class:`PhantomCase` (volume, pose, mesh,
    params, field of view), without napari."""
    from napari_msdl.phantoms.echo import FieldOfView
    from napari_msdl.phantoms.generator import PhantomCase

    dataset = Dataset.open(sample_data_path())
    if not 0 <= index < len(dataset):
        raise ValueError(f"sample index must be in 0..{len(dataset) - 1}, got {index}")
    case = dataset.cases[index]
    params = read_json(dataset.root / "params" / f"{case.id}.json", "phantom parameters file")
    fov = params["fov"]
    return PhantomCase(seed=int(params["seed"]), volume=case.load_volume(), pose=case.pose,
                       mesh=case.load_mesh(), params=params,
                       fov=FieldOfView(apex=tuple(fov["apex"]), tan_u=fov["tan_u"],
                                       tan_v=fov["tan_v"], r_max=fov["r_max"],
                                       d_min=fov["d_min"]))
