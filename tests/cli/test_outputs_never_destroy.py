"""Every data-loss case found by trying the CLI as a careless user: each is now a one-line
error before any work, and every file stays byte for byte as it was."""

import hashlib
import shutil
import time

import pytest

from napari_msdl.cli import main


def _snapshot(*roots):
    out = {}
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        out.update({str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files})
    return out


@pytest.fixture
def world(tiny_detector, tmp_path):
    """A copy of the tiny model inside a parent folder, its dataset, an image, a folder of
    the user's own files."""
    model_dir, data_dir = tiny_detector
    parent = tmp_path / "models"
    shutil.copytree(model_dir, parent / "child")
    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    mine = tmp_path / "my-folder"
    mine.mkdir()
    (mine / "notes.txt").write_text("years of work")
    image = data / "images" / "c0.nii.gz"
    return {"model": parent / "child", "parent": parent, "data": data, "mine": mine,
            "image": image, "tmp": tmp_path}


CASES = {
    "detect --out an existing folder": (
        lambda w: ["detect", w["image"], "--model", w["model"], "--out", w["mine"]],
        "is a folder"),
    "detect --out its own image": (
        lambda w: ["detect", w["image"], "--model", w["model"], "--out", w["image"]],
        "is an input"),
    "detect --out and --mesh the same file": (
        lambda w: ["detect", w["image"], "--model", w["model"], "--out", w["tmp"] / "x.json",
                   "--mesh", w["tmp"] / "x.json"],
        "also another output"),
    "detect --out a mesh file name": (
        lambda w: ["detect", w["image"], "--model", w["model"], "--out", w["tmp"] / "x.ply"],
        "must end in .json"),
    "detect --out a JSON that is not a detection": (
        lambda w: ["detect", w["image"], "--model", w["model"], "--out",
                   w["data"] / "dataset.json"],
        "is not a detection JSON"),
    "prune --out the folder holding the model": (
        lambda w: ["prune", "--model", w["model"], "--out", w["parent"], "--sparsity", "0.99"],
        "holds the input"),
    "prune --out a dataset": (
        lambda w: ["prune", "--model", w["model"], "--out", w["data"], "--sparsity", "0.99"],
        "not a model bundle"),
    "train --out its own dataset": (
        lambda w: ["train", "--data", w["data"], "--out", w["data"], "--tiny"],
        "is an input"),
    "train --out inside its dataset": (
        lambda w: ["train", "--data", w["data"], "--out", w["data"] / "model", "--tiny"],
        "lies inside the input"),
    "train --out a folder of the user's files": (
        lambda w: ["train", "--data", w["data"], "--out", w["mine"], "--tiny"],
        "not a model bundle"),
    "evaluate --out an existing file": (
        lambda w: ["evaluate", "--model", w["model"], "--data", w["data"], "--out",
                   w["mine"] / "notes.txt"],
        "is a file"),
    "evaluate --out a folder of the user's files": (
        lambda w: ["evaluate", "--model", w["model"], "--data", w["data"], "--out", w["mine"]],
        "not a report folder"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_careless_output_is_refused_and_nothing_changes(world, case, capsys):
    argv, message = CASES[case]
    before = _snapshot(world["tmp"])
    t0 = time.perf_counter()
    rc = main([str(a) for a in argv(world)] + ["--quiet"])
    seconds = time.perf_counter() - t0
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and message in err, err
    assert _snapshot(world["tmp"]) == before
    assert seconds < 10, f"refused only after {seconds:.0f} s"  # before any work


def test_a_detection_may_replace_its_own_earlier_output(world, capsys):
    out = world["tmp"] / "det.json"
    args = ["detect", str(world["image"]), "--model", str(world["model"]), "--out", str(out),
            "--quiet"]
    assert main(args) == 0
    assert main(args) == 0  # the same kind of file, written by the same command
    out.write_text('{"something": "else"}')
    assert main(args) == 2 and "is not a detection JSON" in capsys.readouterr().err
    assert out.read_text() == '{"something": "else"}'


EARLY = {
    "prune --data that does not exist": (
        lambda w: ["prune", "--model", w["model"], "--out", w["tmp"] / "p", "--sparsity",
                   "0.99", "--data", w["tmp"] / "nowhere"], "not found"),
    "prune --epochs -1": (
        lambda w: ["prune", "--model", w["model"], "--out", w["tmp"] / "p", "--sparsity",
                   "0.99", "--epochs", "-1"], "epochs_per_round"),
    "prune --out below a file": (
        lambda w: ["prune", "--model", w["model"], "--out", w["mine"] / "notes.txt" / "p",
                   "--sparsity", "0.99"], "is a file, so nothing"),
    "train --out below a file": (
        lambda w: ["train", "--data", w["data"], "--out", w["mine"] / "notes.txt" / "m",
                   "--tiny"], "is a file, so nothing"),
    "train --epochs -1": (
        lambda w: ["train", "--data", w["data"], "--out", w["tmp"] / "m", "--epochs", "-1"],
        "--epochs -1"),
    "phantoms --shape 100000 100000 100000": (
        lambda w: ["phantoms", "--n", "1", "--out", w["tmp"] / "ph", "--shape", "100000",
                   "100000", "100000"], "voxels"),
}


@pytest.mark.parametrize("case", list(EARLY))
def test_options_and_outputs_are_checked_before_any_work(world, case, capsys):
    argv, message = EARLY[case]
    t0 = time.perf_counter()
    rc = main([str(a) for a in argv(world)] + ["--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and message in err, err
    assert time.perf_counter() - t0 < 10
    assert not (world["tmp"] / "p").exists() and not (world["tmp"] / "ph").exists()


def test_a_full_disk_is_one_line(world, capsys, monkeypatch):
    import errno

    import napari_msdl._io as io

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(io, "write_text_atomic", full)
    rc = main(["detect", str(world["image"]), "--model", str(world["model"]), "--out",
               str(world["tmp"] / "d.json"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.splitlines() == [err]
    assert "No space left on device" in err and "d.json" in err


def test_an_unexpected_error_is_one_line_and_asks_for_a_report(world, capsys, monkeypatch):
    import napari_msdl.pipeline as pipeline

    def bug(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(pipeline, "find_valve", bug)
    rc = main(["detect", str(world["image"]), "--model", str(world["model"]), "--out",
               str(world["tmp"] / "d.json"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and "--traceback" in err


def test_training_on_a_constant_image_names_the_case(world, tmp_path):
    import numpy as np

    from napari_msdl.dataset import Dataset, put_case
    from napari_msdl.training import tiny_config, train_bundle
    from napari_msdl.volume import Volume

    ds = Dataset.open(world["data"])
    put_case(ds, "c3", volume=Volume(np.zeros((48, 48, 40), np.uint8)))
    with pytest.raises(ValueError, match="training case 'c3'.*constant"):
        train_bundle(ds, tmp_path / "m", tiny_config(val_ids=("c9",)), boundary=None)
    assert not (tmp_path / "m").exists()


def test_a_pose_too_large_to_measure_is_refused_when_the_dataset_is_read(world):
    import json

    from napari_msdl.dataset import Dataset

    manifest = world["data"] / "dataset.json"
    doc = json.loads(manifest.read_text())
    doc["cases"][0]["pose"]["center"] = [1e300, 0, 0]
    manifest.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="case 0.*bad pose.*center"):
        Dataset.open(world["data"])
