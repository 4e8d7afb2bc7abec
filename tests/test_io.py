"""Atomic writes: whole or nothing, and the permissions any other file would get."""

import os
import stat

import pytest

from napari_msdl._io import atomic_path, write_text_atomic


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


def test_folders_are_replaced_whole(tmp_path):
    target = tmp_path / "bundle"
    with atomic_path(target, suffix="") as tmp:
        tmp.mkdir()
        (tmp / "one").write_text("1")
    with atomic_path(target, suffix="") as tmp:
        tmp.mkdir()
        (tmp / "two").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["two"]


def test_a_missing_model_file_is_named_and_is_both_error_kinds(tmp_path):
    from napari_msdl._io import read_model_files

    (tmp_path / "m.json").write_text('{"format": "f", "version": 1}')
    with pytest.raises(FileNotFoundError, match="w.safetensors is missing") as err:
        read_model_files(tmp_path, "m.json", "w.safetensors", "f", 1, "test model")
    assert isinstance(err.value, ValueError)
