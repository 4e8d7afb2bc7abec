"""Atomic writes: whole or nothing, and the permissions any other file would get."""

import os
import stat

import pytest

from napari_msdl._io import (
    OutputKind,
    atomic_path,
    check_output,
    dumps_json,
    read_json,
    write_text_atomic,
)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "a.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_files_get_the_umask_mode_even_from_writers_that_create_them_private(tmp_path):
    target = tmp_path / "w.bin"
    with atomic_path(target) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)  # as safetensors' save_file does
        os.write(fd, b"x")
        os.close(fd)
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_folders_are_replaced_whole_only_when_recognised(tmp_path):
    target = tmp_path / "bundle"
    ours = lambda p: (p / "one").exists() or (p / "two").exists()  # noqa: E731
    with atomic_path(target, suffix="", folder=True, replaceable=ours) as tmp:
        tmp.mkdir()
        (tmp / "one").write_text("1")
    with atomic_path(target, suffix="", folder=True, replaceable=ours) as tmp:
        tmp.mkdir()
        (tmp / "two").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["two"]
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_text("x")
    with pytest.raises(FileExistsError, match="never replaced"):
        with atomic_path(other, suffix="", folder=True, replaceable=ours) as tmp:
            tmp.mkdir()
    assert (other / "cat.jpg").read_text() == "x"


def test_a_file_never_replaces_a_folder_nor_a_folder_a_file(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "keep").write_text("k")
    with pytest.raises(IsADirectoryError), atomic_path(folder) as tmp:
        tmp.write_text("json")
    assert (folder / "keep").read_text() == "k"
    (tmp_path / "f.json").write_text("f")
    with pytest.raises(NotADirectoryError), atomic_path(tmp_path / "f.json", folder=True) as tmp:
        tmp.mkdir()
    assert (tmp_path / "f.json").read_text() == "f"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "f.json"]


def test_a_missing_model_file_is_named_and_is_both_error_kinds(tmp_path):
    from napari_msdl._io import read_model_files

    (tmp_path / "m.json").write_text('{"format": "f", "version": 1}')
    with pytest.raises(FileNotFoundError, match="w.safetensors is missing") as err:
        read_model_files(tmp_path, "m.json", "w.safetensors", "f", 1, "test model")
    assert isinstance(err.value, ValueError)


# -- the output rule -------------------------------------------------------------------

FILE = OutputKind("result file", suffixes=(".json",), recognise=lambda p: p.read_text() == "ok")
FOLDER = OutputKind("result folder", folder=True,
                    recognise=lambda p: {f.name for f in p.iterdir()} <= {"r.json"})


def test_the_output_rule_allows_new_paths_and_its_own_kind(tmp_path):
    assert check_output(tmp_path / "new" / "a.json", FILE) == tmp_path / "new" / "a.json"
    (tmp_path / "a.json").write_text("ok")
    check_output(tmp_path / "a.json", FILE)
    (tmp_path / "r").mkdir()
    check_output(tmp_path / "r", FOLDER)  # empty
    (tmp_path / "r" / "r.json").write_text("{}")
    check_output(tmp_path / "r", FOLDER)  # one it wrote


@pytest.mark.parametrize("case, message", [
    ("folder for a file", "is a folder"),
    ("file for a folder", "is a file"),
    ("foreign file", "is not a result file"),
    ("foreign folder", "holds other files"),
    ("an input", "is an input"),
    ("inside an input", "lies inside the input"),
    ("holds an input", "holds the input"),
    ("two outputs", "also another output"),
    ("suffix", "must end in .json"),
    ("long name", "bytes long"),
    ("below a file", "is a file, so nothing"),
])
def test_the_output_rule_refuses_before_any_work(tmp_path, case, message):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("mine")
    (tmp_path / "other.json").write_text("not ours")
    (tmp_path / "plain").write_text("a file")
    args = {
        "folder for a file": (tmp_path / "d", FILE, (), ()),
        "file for a folder": (tmp_path / "plain", FOLDER, (), ()),
        "foreign file": (tmp_path / "other.json", FILE, (), ()),
        "foreign folder": (tmp_path / "d", FOLDER, (), ()),
        "an input": (tmp_path / "other.json", FILE, (tmp_path / "other.json",), ()),
        "inside an input": (tmp_path / "d" / "out.json", FILE, (tmp_path / "d",), ()),
        "holds an input": (tmp_path / "d", FOLDER, (tmp_path / "d" / "x",), ()),
        "two outputs": (tmp_path / "o.json", FILE, (), (tmp_path / "o.json",)),
        "suffix": (tmp_path / "o.nii.gz", FILE, (), ()),
        "long name": (tmp_path / ("x" * 300 + ".json"), FILE, (), ()),
        "below a file": (tmp_path / "plain" / "o.json", FILE, (), ()),
    }[case]
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(ValueError, match=message):
        check_output(args[0], args[1], inputs=args[2], also=args[3])
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_an_unwritable_place_is_refused(tmp_path, monkeypatch):
    """(Checked through os.access, which a test run as root cannot see fail otherwise.)"""
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(locked)
                        else real(p, mode))
    with pytest.raises(ValueError, match="permission denied"):
        check_output(locked / "deeper" / "a.json", FILE)


# -- reading JSON ------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("{", "not JSON"), ('{"a": NaN}', "NaN"), ('{"a": Infinity}', "Infinity"),
    ("[" * 100 + "]" * 100, "nested"), ("[" * 100_000 + "]" * 100_000, "nested"),
    ("\udcff", "not JSON"),
])
def test_json_is_checked_at_the_door(tmp_path, text, message):
    path = tmp_path / "doc.json"
    path.write_text(text, errors="surrogateescape")
    with pytest.raises(ValueError, match=message) as err:
        read_json(path, "test document")
    assert str(path) in str(err.value)


def test_json_out_never_holds_nan():
    with pytest.raises(ValueError):
        dumps_json({"a": float("nan")})
    assert dumps_json({"a": [1, None]}).endswith("\n")
