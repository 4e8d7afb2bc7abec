"""``napari-msdl phantoms``: writes a valid dataset, refuses to overwrite, explains itself."""

import pytest

from napari_msdl.cli import main
from napari_msdl.dataset import Dataset

ARGS = ["--seed", "4", "--shape", "40", "40", "32", "--spacing", "1.5", "--quiet"]


def test_phantoms_writes_a_dataset(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["phantoms", "--n", "2", "--out", str(out), *ARGS]) == 0
    assert "wrote 2 phantom cases" in capsys.readouterr().out
    ds = Dataset.open(out)
    assert len(ds) == 2 and all(c.pose is not None and c.mesh is not None for c in ds)
    assert ds.cases[0].load_volume().shape == (40, 40, 32)


def test_phantoms_refuses_an_existing_dataset_then_resumes(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["phantoms", "--n", "1", "--out", str(out), *ARGS]) == 0
    assert main(["phantoms", "--n", "2", "--out", str(out), *ARGS]) == 2
    assert "already holds a dataset" in capsys.readouterr().err
    assert main(["phantoms", "--n", "2", "--out", str(out), "--resume", *ARGS]) == 0
    assert len(Dataset.open(out)) == 2


def test_phantoms_needs_n_and_out(tmp_path, capsys):
    assert main(["phantoms", "--out", str(tmp_path / "x")]) == 2
    assert "--n and --out" in capsys.readouterr().err


def test_phantoms_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["phantoms", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--n", "--out", "--seed", "--shape", "--spacing", "--resume", "--sample-data"):
        assert flag in text
