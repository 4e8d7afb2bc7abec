"""Hostile inputs: hundreds of careless and malicious cases, each classified.

    python benchmarks/hostile_inputs.py [--out results/hostile_inputs.json] [--seed 0]
                                        [--per-kind 40]

Every case runs in this process under a time limit and is classified as

* ``clear error``: a ``ValueError`` / ``OSError`` of one line naming the file or the
  option (or, for the CLI, exit status 2 with one line on stderr), nothing changed on disk;
* ``accepted``: the input was valid (or harmless) and gave the right result;
* ``traceback``: any other exception (a bug: the error is not the user's to read);
* ``hang``: over the time limit;
* ``data lost``: a file or folder that existed before changed or disappeared;
* ``wrong result``: accepted, but with a result the case knows to be wrong.

The categories follow the hostile-input issue: outputs (the CLI's data-loss cases),
JSON formats (datasets, bundles, cards: random values, types, nesting, huge numbers),
weights (tensors that disagree with the config), readers (random bytes, truncation,
hostile headers and spacings, DICOM series), resources (small files asking for hours or
gigabytes), the command line (checked before work, one line, a missing display). It prints
the table and writes every case's outcome as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import io
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

OUTCOMES = ("clear error", "accepted", "traceback", "hang", "data lost", "wrong result")
LIMIT_S = 30


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def _snapshot(root: Path) -> dict[str, str]:
    """Every file below ``root`` (but the scratch folder cases write into) by its hash."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*")) if "scratch" not in p.parts}


def _changed(before: dict[str, str], root: Path) -> list[str]:
    after = _snapshot(root)
    return [k for k, v in before.items() if after.get(k) != v]


def _one_line(e: BaseException) -> bool:
    return "\n" not in str(e).strip() and len(str(e)) > 0


def run_case(fn: Callable[[], object], root: Path, expect: Callable[[object], bool] | None,
             cli: bool = False) -> tuple[str, str]:
    """(outcome, detail) of one case: ``fn`` runs under the time limit; ``root`` is the
    folder whose files must not change unless the case expects success."""
    before = _snapshot(root)
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(LIMIT_S)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            result = fn()
    except _Timeout:
        return "hang", f"over {LIMIT_S} s"
    except (ValueError, OSError) as e:
        lost = _changed(before, root)
        if lost:
            return "data lost", f"{len(lost)} files changed: {lost[:2]}"
        return ("clear error" if _one_line(e) else "traceback"), f"{type(e).__name__}: {e}"[:300]
    except Exception as e:  # noqa: BLE001 - the point is to see every kind
        return "traceback", f"{type(e).__name__}: {e}"[:300]
    finally:
        signal.alarm(0)
    lost = _changed(before, root)
    if cli:
        lines = [x for x in err.getvalue().strip().splitlines() if x.strip()]
        if lost:
            return "data lost", f"rc {result}; {len(lost)} files changed: {lost[:2]}"
        if result == 2 and len(lines) == 1:
            return "clear error", lines[0][:300]
        if result == 0 and (expect is None or expect(result)):
            return "accepted", "exit 0"
        return "traceback", f"rc {result}: {' | '.join(lines)[-300:]}"
    if lost and expect is None:
        return "data lost", f"{len(lost)} files changed"
    if expect is not None and not expect(result):
        return "wrong result", repr(result)[:300]
    return "accepted", repr(result)[:120]


# ---------------------------------------------------------------- the world


def make_world(root: Path) -> dict[str, Path]:
    """A tiny trained bundle, its dataset, an image and a folder of the user's files."""
    from napari_msdl.dataset import create_dataset, put_case
    from napari_msdl.phantoms import make_phantom
    from napari_msdl.training import tiny_config, train_bundle

    ds = create_dataset(root / "data")
    for i in range(8):
        case = make_phantom(3000 + i, shape=(48, 48, 40), spacing=1.0)
        put_case(ds, f"c{i}", case.volume, case.pose, case.mesh)
    train_bundle(ds, root / "models" / "model", tiny_config(val_ids=("c7",)), boundary=None,
                 seed=0)
    mine = root / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("years of work")
    return {"root": root, "data": root / "data", "model": root / "models" / "model",
            "parent": root / "models", "image": root / "data" / "images" / "c0.nii.gz",
            "mine": mine}


def _cli(args) -> int:
    from napari_msdl.cli import main

    args = [str(a) for a in args]
    try:
        return main(args + ([] if args[0] == "view" else ["--quiet"]))
    except SystemExit as e:  # argparse refusing an option: one usage line, status 2
        return int(e.code or 0)


# ---------------------------------------------------------------- categories


def output_cases(w):
    """The CLI writing where it must not."""
    out = w["root"] / "out"
    cases = {
        "detect --out an existing folder": ["detect", w["image"], "--model", w["model"],
                                            "--out", w["mine"]],
        "detect --out its image": ["detect", w["image"], "--model", w["model"], "--out",
                                   w["image"]],
        "detect --out = --mesh": ["detect", w["image"], "--model", w["model"], "--out",
                                  out / "x.json", "--mesh", out / "x.json"],
        "detect --out x.ply --mesh x.ply": ["detect", w["image"], "--model", w["model"],
                                            "--out", out / "x.ply", "--mesh", out / "x.ply"],
        "detect --out the dataset manifest": ["detect", w["image"], "--model", w["model"],
                                              "--out", w["data"] / "dataset.json"],
        "detect --out the model's manifest": ["detect", w["image"], "--model", w["model"],
                                              "--out", w["model"] / "bundle.json"],
        "detect --mesh the user's notes": ["detect", w["image"], "--model", w["model"],
                                           "--out", out / "d.json", "--mesh",
                                           w["mine"] / "notes.txt"],
        "prune --out the model's parent": ["prune", "--model", w["model"], "--out",
                                           w["parent"], "--sparsity", "0.99"],
        "prune --out the model": ["prune", "--model", w["model"], "--out", w["model"],
                                  "--sparsity", "0.99"],
        "prune --out the dataset": ["prune", "--model", w["model"], "--out", w["data"],
                                    "--sparsity", "0.99"],
        "prune --out inside the model": ["prune", "--model", w["model"], "--out",
                                         w["model"] / "p", "--sparsity", "0.99"],
        "train --out its dataset": ["train", "--data", w["data"], "--out", w["data"], "--tiny"],
        "train --out inside its dataset": ["train", "--data", w["data"], "--out",
                                           w["data"] / "m", "--tiny"],
        "train --out the user's folder": ["train", "--data", w["data"], "--out", w["mine"],
                                          "--tiny"],
        "train --out a file": ["train", "--data", w["data"], "--out", w["mine"] / "notes.txt",
                               "--tiny"],
        "evaluate --out an existing file": ["evaluate", "--model", w["model"], "--data",
                                            w["data"], "--out", w["mine"] / "notes.txt"],
        "evaluate --out the user's folder": ["evaluate", "--model", w["model"], "--data",
                                             w["data"], "--out", w["mine"]],
        "evaluate --out the dataset": ["evaluate", "--model", w["model"], "--data", w["data"],
                                       "--out", w["data"]],
        "phantoms --out the user's folder": ["phantoms", "--n", "1", "--out", w["mine"]],
        "phantoms --out the dataset (no --resume)": ["phantoms", "--n", "1", "--out",
                                                     w["data"]],
    }
    for name, args in cases.items():
        yield name, (lambda a=args: _cli(a)), None, True


def json_cases(w, rng, n):
    """Datasets, bundles and cards: random values anywhere, types, nesting, huge numbers."""
    from napari_msdl.bundle import MANIFEST, load_bundle
    from napari_msdl.dataset import Dataset

    manifest = json.loads((w["model"] / MANIFEST).read_text())
    dataset = json.loads((w["data"] / "dataset.json").read_text())
    scratch = w["root"] / "scratch"
    for i in range(n):
        for label, doc, reader in (("bundle.json", manifest, "bundle"),
                                   ("dataset.json", dataset, "dataset")):
            bad = _mutate(doc, rng)
            folder = scratch / f"{label}-{i}"

            def case(bad=bad, folder=folder, reader=reader, label=label):
                shutil.rmtree(folder, ignore_errors=True)
                shutil.copytree(w["model"] if reader == "bundle" else w["data"], folder)
                (folder / label).write_text(json.dumps(bad))
                return (load_bundle(folder) if reader == "bundle"
                        else Dataset.open(folder)).__class__.__name__

            yield f"{label}: one value replaced at random", case, None, False
    for depth in (100, 10_000, 1_000_000):
        deep = "[" * depth + "]" * depth
        for label in ("bundle.json", "dataset.json"):
            folder = scratch / f"deep-{label}-{depth}"

            def case(folder=folder, label=label, deep=deep):
                shutil.rmtree(folder, ignore_errors=True)
                shutil.copytree(w["model"] if label == "bundle.json" else w["data"], folder)
                (folder / label).write_text('{"format": "napari-msdl-bundle", "version": 2, '
                                            f'"cases": {deep}, "card": {deep}}}')
                return (load_bundle(folder) if label == "bundle.json"
                        else Dataset.open(folder))

            yield f"{label}: nested {depth} deep", case, None, False


def _random_json(rng, depth=0):
    """A random JSON value: null, bools, huge or negative numbers, odd text, lists, objects."""
    kind = int(rng.integers(0, 9 if depth < 3 else 7))
    if kind == 0:
        return None
    if kind == 1:
        return bool(rng.integers(0, 2))
    if kind == 2:
        return int(rng.integers(-10**12, 10**12))
    if kind == 3:
        return float(rng.normal() * 1e6)
    if kind == 4:
        return 10 ** int(rng.integers(3, 300))
    if kind == 5:
        return "".join(rng.choice(list("ab/.\\x0"), 5))
    if kind == 6:
        return -1
    if kind == 7:
        return [_random_json(rng, depth + 1) for _ in range(int(rng.integers(0, 3)))]
    return {str(rng.integers(0, 9)): _random_json(rng, depth + 1)
            for _ in range(int(rng.integers(0, 3)))}


def _mutate(doc, rng):
    doc = json.loads(json.dumps(doc))
    paths, stack = [], [((), doc)]
    while stack:
        path, node = stack.pop()
        paths.append(path)
        if isinstance(node, dict):
            stack.extend(((*path, k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node[:3]))
    path = paths[rng.integers(0, len(paths))]
    if not path:
        return _random_json(rng)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = _random_json(rng)
    return doc


def weight_cases(w, rng, n):
    """Tensors that disagree with their configs."""
    import torch
    from safetensors.torch import load_file, save_file

    from napari_msdl.bundle import WEIGHTS, load_bundle

    tensors = load_file(str(w["model"] / WEIGHTS))
    keys = {"nan": [k for k, v in tensors.items() if v.is_floating_point()],
            "big index": [k for k in tensors if k.endswith("first.columns")],
            "mask 2": [k for k in tensors if k.endswith("first.mask")],
            "empty": sorted(tensors), "shape": sorted(tensors), "drop": sorted(tensors)}
    for i in range(n):
        how = list(keys)[i % len(keys)]
        key = keys[how][rng.integers(0, len(keys[how]))]
        folder = w["root"] / "scratch" / f"weights-{i}"

        def case(key=key, how=how, folder=folder):
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(w["model"], folder)
            t = dict(tensors)
            v = t[key].clone()
            if how == "drop":
                t.pop(key)
            elif how == "empty":
                t[key] = v.flatten()[:0]
            elif how == "shape":
                t[key] = torch.cat([v.flatten(), v.flatten()[:1]])
            elif v.numel():
                v.view(-1)[-1] = {"nan": float("nan") if v.is_floating_point() else -1,
                                  "big index": 10**6, "mask 2": 2}[how]
                t[key] = v
            save_file(t, str(folder / WEIGHTS))
            return load_bundle(folder)

        yield f"weights: {how}", case, None, False


def reader_cases(w, rng, n):
    """Volume files: random bytes, truncation, hostile headers."""
    from napari_msdl.volume import SUPPORTED_EXTENSIONS, load_volume

    good = w["image"].read_bytes()
    scratch = w["root"] / "scratch"
    for i in range(n):
        ext = list(SUPPORTED_EXTENSIONS)[i % len(SUPPORTED_EXTENSIONS)]
        data = rng.bytes(int(rng.integers(0, 4096)))
        path = scratch / f"random-{i}{ext}"
        yield f"reader: random bytes as {ext}", _write_then(path, data, load_volume), None, False
        cut = scratch / f"cut-{i}.nii.gz"
        yield ("reader: truncated NIfTI", _write_then(cut, good[:rng.integers(0, len(good))],
                                                      load_volume), None, False)
    header = scratch / "nan.nrrd"
    yield ("reader: NRRD spacings nan", _write_then(header, _nrrd("nan 0.6 0.7"), load_volume),
           None, False)
    yield ("reader: NRRD spacings 0", _write_then(scratch / "zero.nrrd",
                                                  _nrrd("0 0.6 0.7"), load_volume), None, False)
    mhd = scratch / "zero.mhd"
    yield ("reader: mhd ElementDataFile /dev/zero",
           _write_then(mhd, b"ObjectType = Image\nNDims = 3\nDimSize = 10 10 10\n"
                            b"ElementType = MET_UCHAR\nElementDataFile = /dev/zero\n",
                       load_volume), None, False)
    yield ("reader: float128 .npy", _write_then(scratch / "f128.npy", _npy(np.longdouble),
                                                load_volume), None, False)
    yield ("reader: complex .npy", _write_then(scratch / "c.npy", _npy(np.complex64),
                                               load_volume), None, False)
    yield ("reader: 2D .npy", _write_then(scratch / "two.npy", _npy(np.float32, (20, 20)),
                                          load_volume), None, False)
    yield ("reader: a file that does not exist", lambda: load_volume(scratch / "nope.nii"),
           None, False)
    yield ("reader: NIfTI pixdim 0", _write_then(scratch / "p0.nii", _nifti_pixdim(0.0),
                                                 load_volume), None, False)
    yield from dicom_cases(scratch)


def _nifti_pixdim(value: float) -> bytes:
    """A NIfTI-1 file whose pixdim[1] is ``value``, patched into the bytes (nibabel itself
    writes 1 for a 0)."""
    import struct

    import nibabel as nib

    data = bytearray(nib.Nifti1Image(np.ones((6, 6, 6), np.uint8), np.eye(4)).to_bytes())
    data[80:84] = struct.pack("<f", value)  # pixdim[1]: byte 76 + 4
    return bytes(data)


def dicom_cases(scratch: Path):
    """The DICOM series of the issue, built from pydicom's CT_small.dcm (skipped without
    pydicom): uneven slices, mixed orientations, one slice; and an even series that loads."""
    try:
        import pydicom
        from pydicom.data import get_testdata_file
        from pydicom.uid import generate_uid
    except ImportError:
        return
    from napari_msdl.volume import load_volume

    base = pydicom.dcmread(get_testdata_file("CT_small.dcm"))

    def series(name, zs, orientations=None):
        def case():
            folder = scratch / name
            folder.mkdir(parents=True, exist_ok=True)
            for k, z in enumerate(zs):
                ds = copy.deepcopy(base)
                ds.ImagePositionPatient = [-158.1, -179.0, z]
                ds.InstanceNumber = k + 1
                ds.SOPInstanceUID = generate_uid()
                ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
                if orientations:
                    ds.ImageOrientationPatient = orientations[k]
                ds.save_as(folder / f"s{k}.dcm")
            return load_volume(folder)
        return case

    flat, tilted = [1, 0, 0, 0, 1, 0], [1, 0, 0, 0, 0, 1]
    yield ("reader: DICOM slices at -99.5, 103.0, 104.3, 105.5",
           series("uneven", [-99.5, 103.0, 104.3, 105.5]), None, False)
    yield ("reader: DICOM folder of two orientations",
           series("mixed", [0.0, 2.5, 5.0, 7.5], [flat, flat, tilted, tilted]), None, False)
    yield "reader: DICOM folder of one slice", series("single", [0.0]), None, False
    yield ("reader: an even DICOM series (loads, 2.5 mm apart)",
           series("even", [-75.7, -73.2, -70.7, -68.2]),
           lambda v: v.shape[2] == 4 and abs(float(v.spacing[2]) - 2.5) < 1e-3, False)


def _nrrd(spacings: str) -> bytes:
    return (f"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4 4 4\nspacings: {spacings}\n"
            "encoding: raw\n\n").encode() + bytes(64)


def _npy(dtype, shape=(8, 8, 8)) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ones(shape, dtype=dtype))
    return buf.getvalue()


def _write_then(path: Path, data: bytes, reader):
    def case():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return reader(path)
    return case


def resource_cases(w):
    """Small files asking for hours or gigabytes."""
    from napari_msdl.bundle import MANIFEST, load_bundle

    manifest = json.loads((w["model"] / MANIFEST).read_text())
    changes = {
        "search.top_position 1e9": lambda d: d["detector"]["search"].update(top_position=10**9),
        "search.chunk 1e12": lambda d: d["detector"]["search"].update(chunk=10**12),
        "a hidden layer of 1e6 units": lambda d: d["detector"]["networks"]["scale.main"][
            "config"].update(hidden=[10**6]),
        "200 000 orientations": lambda d: d["detector"]["orientations"].update(
            rotvecs=[[0.0, 0.0, 0.0]] * 200_000),
        "threshold NaN (as a string)": lambda d: d["detector"]["networks"][
            "scale.cascade1"].update(threshold="NaN"),
        "version true": lambda d: d.update(version=True),
        "mean orientation all zeros": lambda d: d["detector"]["orientations"].update(
            mean=[[0, 0, 0]] * 3),
    }
    for name, change in changes.items():
        folder = w["root"] / "scratch" / f"resource-{len(name)}-{abs(hash(name)) % 10**6}"

        def case(change=change, folder=folder):
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(w["model"], folder)
            doc = json.loads(json.dumps(manifest))
            change(doc)
            (folder / MANIFEST).write_text(json.dumps(doc))
            return load_bundle(folder)

        yield f"bundle: {name}", case, None, False
    yield ("phantoms --shape 100000^3", lambda: _cli(["phantoms", "--n", "1", "--out",
                                                      w["root"] / "scratch" / "ph", "--shape",
                                                      "100000", "100000", "100000"]),
           None, True)


def cli_cases(w):
    """Options checked before any work; one line; a missing display."""
    out = w["root"] / "scratch"
    cases = {
        "prune --data /nonexistent": ["prune", "--model", w["model"], "--out", out / "p1",
                                      "--sparsity", "0.99", "--data", "/nonexistent"],
        "prune --epochs -1": ["prune", "--model", w["model"], "--out", out / "p2",
                              "--sparsity", "0.99", "--epochs", "-1"],
        "prune --sparsity 1.5": ["prune", "--model", w["model"], "--out", out / "p3",
                                 "--sparsity", "1.5"],
        "train --epochs -1": ["train", "--data", w["data"], "--out", out / "t1", "--epochs",
                              "-1"],
        "train --fov-cut 2": ["train", "--data", w["data"], "--out", out / "t2", "--fov-cut",
                              "2"],
        "train --val nobody": ["train", "--data", w["data"], "--out", out / "t3", "--val",
                               "nobody", "--tiny"],
        "train --out below a file": ["train", "--data", w["data"], "--out",
                                     w["mine"] / "notes.txt" / "m", "--tiny"],
        "detect a missing image": ["detect", out / "none.nii.gz", "--out", out / "d.json"],
        "detect --model nowhere": ["detect", w["image"], "--model", out / "nowhere", "--out",
                                   out / "d.json"],
        "detect a 300-byte file name": ["detect", w["image"], "--model", w["model"], "--out",
                                        out / ("x" * 300 + ".json")],
        "view --sample 9": ["view", "--sample", "9"],
    }
    for name, args in cases.items():
        yield name, (lambda a=args: _cli(a)), None, True

    def no_display():
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        old = os.environ.copy()
        os.environ.clear()
        os.environ.update(env)
        try:
            return _cli(["view"])
        finally:
            os.environ.clear()
            os.environ.update(old)

    yield "view without a display", no_display, None, True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("results/hostile_inputs.json"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-kind", type=int, default=40,
                    help="random cases per generated kind (default 40)")
    ap.add_argument("--verbose", action="store_true", help="a line per case as it runs")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    rows, table = [], defaultdict(Counter)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        world = make_world(Path(tmp))
        categories = {
            "outputs (data-loss cases)": output_cases(world),
            "JSON formats": json_cases(world, rng, args.per_kind),
            "weights": weight_cases(world, rng, args.per_kind),
            "readers": reader_cases(world, rng, args.per_kind),
            "resources (hours or gigabytes)": resource_cases(world),
            "command line": cli_cases(world),
        }
        for category, cases in categories.items():
            for name, fn, expect, cli in cases:
                t = time.perf_counter()
                outcome, detail = run_case(fn, world["root"] if cli else world["data"],
                                           expect, cli)
                if args.verbose:
                    print(f"{time.perf_counter() - t:6.2f} s {outcome:12s} {category} / {name}",
                          flush=True)
                table[category][outcome] += 1
                rows.append({"category": category, "case": name, "outcome": outcome,
                             "detail": detail})
    head = f"| category | cases | {' | '.join(OUTCOMES)} |"
    lines = [head, "|" + "---|" * (len(OUTCOMES) + 2)]
    for category, counts in table.items():
        lines.append(f"| {category} | {sum(counts.values())} | "
                     + " | ".join(str(counts[o]) for o in OUTCOMES) + " |")
    total = Counter()
    for counts in table.values():
        total.update(counts)
    lines.append(f"| all | {sum(total.values())} | "
                 + " | ".join(str(total[o]) for o in OUTCOMES) + " |")
    print("\n".join(lines))
    bad = [r for r in rows if r["outcome"] in ("traceback", "hang", "data lost", "wrong result")]
    for r in bad[:30]:
        print(f"  {r['outcome']}: {r['category']} / {r['case']}: {r['detail']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "command": "python benchmarks/hostile_inputs.py " + " ".join(sys.argv[1:]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average": os.getloadavg()},
        "seconds": round(time.perf_counter() - t0, 1), "table": {k: dict(v) for k, v in
                                                                  table.items()},
        "cases": rows}, indent=1) + "\n")
    print(f"wrote {args.out} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
