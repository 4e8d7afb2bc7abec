"""Dataset folders: reading, clear errors, atomic updates that never touch other cases."""

import json

import numpy as np
import pytest
import trimesh

from napari_msdl.dataset import Dataset, create_dataset, put_case
from napari_msdl.geometry import Pose
from napari_msdl.mesh import load_mesh
from napari_msdl.volume import Volume

POSE = Pose(center=[10, 11, 12], angles=[0.1, 0.2, 0.3], size=[20, 21, 22])


def _volume(seed=0):
    return Volume(np.random.default_rng(seed).integers(0, 255, (8, 9, 10), dtype=np.uint8),
                  spacing=[1, 1, 1.5], origin=[-3, 0, 2])


def _write(tmp_path, n=3):
    ds = create_dataset(tmp_path / "ds", name="demo")
    mesh = trimesh.creation.icosphere(subdivisions=1)
    for i in range(n):
        put_case(ds, f"case-{i}", volume=_volume(i), pose=POSE if i != 1 else None,
                 mesh=mesh if i != 2 else None)
    return ds


def test_written_dataset_reads_back_with_poses_and_meshes(tmp_path):
    _write(tmp_path)
    ds = Dataset.open(tmp_path / "ds")
    assert ds.name == "demo" and [c.id for c in ds] == ["case-0", "case-1", "case-2"]
    assert ds["case-0"].pose == POSE and ds["case-1"].pose is None
    assert [c.id for c in ds.annotated] == ["case-0", "case-2"]
    vol = ds["case-0"].load_volume()
    np.testing.assert_array_equal(vol.data, _volume(0).data)
    assert len(ds["case-0"].load_mesh().vertices) == 42
    manifest = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert manifest["cases"][0]["image"] == "images/case-0.nii.gz"
    assert manifest["cases"][0]["mesh"] == "meshes/case-0.ply"


def test_updating_one_case_leaves_the_others_byte_identical(tmp_path):
    ds = _write(tmp_path)
    before = json.loads((ds.root / "dataset.json").read_text())["cases"]
    new_pose = Pose(center=[0, 0, 0], angles=[0, 0, 0], size=[1, 2, 3])
    put_case(ds, "case-1", pose=new_pose)
    after = json.loads((ds.root / "dataset.json").read_text())["cases"]
    assert after[0] == before[0] and after[2] == before[2]
    assert Pose.from_dict(after[1]["pose"]) == new_pose
    assert after[1]["image"] == before[1]["image"]


def test_a_failed_write_leaves_the_manifest_as_it_was(tmp_path):
    ds = _write(tmp_path)
    manifest = (ds.root / "dataset.json").read_bytes()
    with pytest.raises(ValueError):
        put_case(ds, "case-9", volume=Volume(np.zeros((2, 2, 2))), mesh=trimesh.Trimesh(),
                 mesh_ext=".xyz")
    assert (ds.root / "dataset.json").read_bytes() == manifest
    assert not list(ds.root.rglob("*.tmp*"))
    assert not list(ds.root.rglob("case-9*")) and not list(ds.root.rglob(".*pending*"))


def test_a_failed_update_keeps_the_cases_old_image(tmp_path):
    ds = _write(tmp_path)
    image = (ds.root / "images" / "case-0.nii.gz").read_bytes()
    with pytest.raises(ValueError):
        put_case(ds, "case-0", volume=_volume(7), mesh=trimesh.Trimesh(), mesh_ext=".xyz")
    assert (ds.root / "images" / "case-0.nii.gz").read_bytes() == image
    np.testing.assert_array_equal(Dataset.open(ds.root)["case-0"].load_volume().data,
                                  _volume(0).data)
    assert not list(ds.root.rglob(".*pending*"))


@pytest.mark.parametrize(
    "manifest, match",
    [
        ("not json", "not JSON"),
        ('{"cases": [{"image": "a.nii"}]}', "needs an 'id'"),
        ('{"cases": [{"id": "a", "image": "images/a.nii.gz"}]}', "image file missing"),
        ('{"cases": [{"id": "../x", "image": "a"}]}', "case id"),
    ],
)
def test_bad_manifests_get_clear_errors(tmp_path, manifest, match):
    (tmp_path / "dataset.json").write_text(manifest)
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        Dataset.open(tmp_path)


def test_missing_manifest_and_folder_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no dataset.json"):
        Dataset.open(tmp_path)
    with pytest.raises(NotADirectoryError, match="not found"):
        Dataset.open(tmp_path / "nope")


def test_duplicate_ids_are_refused(tmp_path):
    _write(tmp_path)
    doc = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    doc["cases"].append(doc["cases"][0])
    (tmp_path / "ds" / "dataset.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="duplicate"):
        Dataset.open(tmp_path / "ds")


def test_split_is_by_case_id_and_seeded(tmp_path):
    ds = create_dataset(tmp_path / "s")
    for i in range(10):
        put_case(ds, f"c{i}", volume=_volume(i), pose=POSE)
    train, val = ds.split(val_fraction=0.3, seed=4)
    assert len(val) == 3 and not {c.id for c in train} & {c.id for c in val}
    assert [c.id for c in ds.split(val_fraction=0.3, seed=4)[1]] == [c.id for c in val]
    train, val = ds.split(val_ids=["c2"])
    assert [c.id for c in val] == ["c2"] and len(train) == 9
    with pytest.raises(ValueError, match="not among"):
        ds.split(val_ids=["zzz"])


def test_load_mesh_keeps_vertex_order(tmp_path):
    mesh = trimesh.Trimesh(np.random.default_rng(0).normal(size=(30, 3)),
                           np.random.default_rng(1).integers(0, 30, (20, 3)), process=False)
    mesh.export(tmp_path / "m.ply")
    np.testing.assert_allclose(load_mesh(tmp_path / "m.ply").vertices, mesh.vertices)
