"""Every JSON format at the door, under hostile input: random values, random types in
valid documents, huge numbers, deep nesting. A reader either accepts the document or says
why in one ValueError (naming the file or the field); nothing else escapes, nothing hangs."""

import json
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_msdl.boundary import DeformParams, PatchSpec
from napari_msdl.bundle import MANIFEST, ModelCard, ValveModel, load_bundle, save_bundle
from napari_msdl.dataset import Dataset
from napari_msdl.detector import SearchParams
from napari_msdl.detector.hypotheses import OrientationSet, SizeSet
from napari_msdl.geometry import Pose
from napari_msdl.sparse import NetworkConfig, SparseTrainingConfig
from napari_msdl.training import BoundaryConfig, ClassifierConfig, TrainConfig

sys.path.insert(0, str(Path(__file__).parent / "detector"))
from test_detect import random_model  # noqa: E402

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

NUMBERS = st.one_of(st.integers(min_value=-10**12, max_value=10**12),
                    st.sampled_from([0, -1, 1, 10**9, 10**18, 2**63]),
                    st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from([0.0, -0.0, 1e300, -1e300, 1e-300]))
LEAVES = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=8))
JSON = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12)


def _paths(doc, prefix=()):
    """Every (path, value) in a JSON document."""
    yield prefix, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:3]):
            yield from _paths(v, (*prefix, i))


def _replace(doc, path, value):
    if not path:
        return value
    doc = json.loads(json.dumps(doc))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def mutations(doc):
    """A valid document with one of its values (anywhere) replaced by random JSON."""
    paths = [p for p, _ in _paths(doc)]
    return st.tuples(st.sampled_from(paths), JSON).map(lambda pv: _replace(doc, *pv))


FROM_DICT = [Pose.from_dict, SearchParams.from_dict, NetworkConfig.from_dict,
             SparseTrainingConfig.from_dict, PatchSpec.from_dict, DeformParams.from_dict,
             ClassifierConfig.from_dict, BoundaryConfig.from_dict, TrainConfig.from_dict,
             ModelCard.from_dict, OrientationSet.from_dict, SizeSet.from_dict]


@pytest.mark.parametrize("reader", FROM_DICT, ids=lambda f: f.__qualname__)
@SETTINGS
@given(doc=JSON)
def test_every_from_dict_accepts_or_refuses_random_json_with_a_value_error(reader, doc):
    try:
        reader(doc)
    except ValueError:
        pass


VALID = {Pose.from_dict: Pose((1, 2, 3), (0.1, 0.2, 0.3), (30, 30, 20)).to_dict(),
         SearchParams.from_dict: SearchParams().to_dict(),
         NetworkConfig.from_dict: NetworkConfig().to_dict(),
         TrainConfig.from_dict: TrainConfig().to_dict(),
         BoundaryConfig.from_dict: BoundaryConfig().to_dict()}


@pytest.mark.parametrize("reader", list(VALID), ids=lambda f: f.__qualname__)
@SETTINGS
@given(data=st.data())
def test_every_from_dict_survives_any_one_value_changed(reader, data):
    doc = data.draw(mutations(VALID[reader]))
    try:
        reader(doc)
    except ValueError:
        pass


@pytest.fixture(scope="module")
def bundle_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile") / "model"
    save_bundle(ValveModel(random_model()), folder)
    return folder


@SETTINGS
@given(data=st.data())
def test_a_bundle_manifest_with_any_one_value_changed_loads_or_is_refused(bundle_folder,
                                                                         tmp_path, data):
    import tempfile

    doc = json.loads((bundle_folder / MANIFEST).read_text())
    bad = Path(tempfile.mkdtemp(dir=tmp_path)) / "m"
    shutil.copytree(bundle_folder, bad)
    (bad / MANIFEST).write_text(json.dumps(data.draw(mutations(doc))))
    try:
        load_bundle(bad)
    except ValueError as e:
        assert str(bad) in str(e)


@SETTINGS
@given(doc=JSON)
def test_a_dataset_manifest_of_random_json_is_refused_in_one_error(tmp_path, doc):
    (tmp_path / "dataset.json").write_text(json.dumps(doc))
    try:
        Dataset.open(tmp_path, check_files=False)
    except ValueError as e:
        assert "dataset.json" in str(e)


@SETTINGS
@given(data=st.data())
def test_a_dataset_case_with_any_one_value_changed_is_read_or_refused(tmp_path, data):
    case = {"id": "c0", "image": "images/c0.nii.gz", "mesh": "meshes/c0.ply",
            "pose": Pose((1, 2, 3), (0.1, 0.2, 0.3), (30, 30, 20)).to_dict()}
    doc = data.draw(mutations({"name": "d", "cases": [case]}))
    (tmp_path / "dataset.json").write_text(json.dumps(doc))
    try:
        Dataset.open(tmp_path, check_files=False)
    except ValueError as e:
        assert "dataset.json" in str(e)


@pytest.mark.parametrize("depth", [65, 5000, 200_000])
def test_deep_nesting_is_refused_quickly(tmp_path, bundle_folder, depth):
    deep = "[" * depth + "]" * depth
    (tmp_path / "dataset.json").write_text(f'{{"name": "d", "cases": {deep}}}')
    with pytest.raises(ValueError, match="nested"):
        Dataset.open(tmp_path)
    bad = tmp_path / "m"
    shutil.copytree(bundle_folder, bad)
    doc = json.loads((bad / MANIFEST).read_text())
    text = json.dumps({**doc, "card": "X"}).replace('"X"', deep)
    (bad / MANIFEST).write_text(text)
    with pytest.raises(ValueError, match="nested"):
        load_bundle(bad)


@pytest.mark.parametrize("change, message", [
    (lambda d: d["detector"]["search"].update(top_position=10**9), "top_position"),
    (lambda d: d["detector"]["search"].update(chunk=True), "chunk"),
    (lambda d: d["detector"]["networks"]["scale.main"]["config"].update(hidden=[10**6]),
     "hidden layer size"),
    (lambda d: d["detector"]["networks"]["scale.cascade1"].update(threshold=None),
     "threshold"),
    (lambda d: d["detector"]["orientations"].update(mean=[[0] * 3] * 3), "rotation"),
    (lambda d: d["detector"].update(search=[1, 2]), "search parameter"),
    (lambda d: d.update(version=True), "version"),
    (lambda d: d["card"].update(version=True), "card version"),
])
def test_a_small_model_file_cannot_ask_for_hours_or_gigabytes(bundle_folder, tmp_path, change,
                                                              message):
    bad = tmp_path / "m"
    shutil.copytree(bundle_folder, bad)
    doc = json.loads((bad / MANIFEST).read_text())
    change(doc)
    (bad / MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=message):
        load_bundle(bad)


@pytest.mark.parametrize("tensor, value, message", [
    ("detector.scale.main.first.mask", 2, "only 0 and 1"),
    ("detector.scale.main.first.columns", 10**6, "increasing input indices"),
    ("detector.scale.main.first.n_inputs", None, "n_inputs"),
    ("detector.scale.main.first.weight", float("nan"), "NaN"),
])
def test_weights_are_checked_against_the_config(bundle_folder, tmp_path, tensor, value, message):
    import torch
    from safetensors.torch import load_file, save_file

    bad = tmp_path / "m"
    shutil.copytree(bundle_folder, bad)
    tensors = load_file(str(bad / "weights.safetensors"))
    if value is None:
        tensors[tensor] = torch.zeros(0, dtype=tensors[tensor].dtype)
    else:
        t = tensors[tensor].clone()
        t.view(-1)[-1] = value
        tensors[tensor] = t
    save_file(tensors, str(bad / "weights.safetensors"))
    with pytest.raises(ValueError, match=message):
        load_bundle(bad)
