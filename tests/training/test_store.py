"""The sample store keeps training samples and feature volumes on disk, memory-mapped,
gives back exactly what it was given, and leaves nothing behind."""

import numpy as np
import pytest

from napari_msdl.detector.features import FeatureVolume
from napari_msdl.sparse.grid import N_INPUTS
from napari_msdl.training import store as store_module
from napari_msdl.training.samples import SAMPLE_DTYPE
from napari_msdl.training.store import SCRATCH_PREFIX, SampleStore


def _blocks(rng, sizes):
    return [(rng.normal(size=(n, N_INPUTS)).astype(SAMPLE_DTYPE),
             (rng.random(n) > 0.5).astype(np.float32)) for n in sizes]


def _written(store, blocks):
    w = store.writer()
    for x, y in blocks:
        w.append(x, y)
    return w.finish()


def _mapped(x: np.ndarray) -> bool:
    return isinstance(x.base, np.memmap)


@pytest.mark.parametrize("on_disk", [True, False])
def test_written_samples_read_back_in_order(tmp_path, on_disk):
    blocks = _blocks(np.random.default_rng(0), [5, 0, 7, 3])
    with SampleStore(tmp_path if on_disk else None) as store:
        x, y = _written(store, blocks)
        assert x.dtype == SAMPLE_DTYPE and x.shape == (15, N_INPUTS)
        np.testing.assert_array_equal(x, np.concatenate([b[0] for b in blocks]))
        np.testing.assert_array_equal(y, np.concatenate([b[1] for b in blocks]))
        assert _mapped(x) == on_disk


def test_rows_and_joined_copy_block_by_block(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "_CHUNK", 3)  # several blocks per copy
    (a, _), (b, _) = _blocks(np.random.default_rng(1), [10, 4])
    index = np.array([9, 0, 4, 4, 7, 2, 1])
    with SampleStore(tmp_path) as store:
        x, _ = _written(store, [(a, np.zeros(10))])
        assert store.rows(x, np.arange(10)) is x
        picked = store.rows(x, index)
        np.testing.assert_array_equal(picked, a[index])
        assert _mapped(picked)
        joined = store.joined([(x, index), b, (b, np.array([3]))])
        np.testing.assert_array_equal(joined, np.concatenate([a[index], b, b[3:]]))


def test_feature_volumes_are_memory_mapped_and_equal(tmp_path):
    data = np.random.default_rng(2).random((12, 10, 8), dtype=np.float32)
    fv = FeatureVolume(data=data, spacing=np.ones(3), origin=np.zeros(3), pad=2)
    with SampleStore(tmp_path) as store:
        kept = store.keep_volume(fv)
        np.testing.assert_array_equal(kept.data, data)
        assert _mapped(kept.data) and kept.data.flags.c_contiguous
        assert kept.pad == 2 and kept.torch_data("cpu").shape == data.shape
    assert SampleStore(None).keep_volume(fv) is fv


def test_files_are_unlinked_once_mapped_and_the_folder_removed(tmp_path):
    with SampleStore(tmp_path) as store:
        folder = store.path
        assert folder.parent == tmp_path and folder.name.startswith(SCRATCH_PREFIX)
        x, _ = _written(store, _blocks(np.random.default_rng(3), [4]))
        assert list(folder.iterdir()) == []  # the data lives on in the map only
        assert float(x.astype(np.float32).sum()) != 0.0
    assert not folder.exists() and list(tmp_path.iterdir()) == []


def test_a_failure_inside_the_store_removes_its_folder(tmp_path):
    with pytest.raises(RuntimeError, match="boom"), SampleStore(tmp_path) as store:
        w = store.writer()
        w.append(*_blocks(np.random.default_rng(4), [2])[0])
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_bad_blocks_are_refused(tmp_path):
    with SampleStore(tmp_path) as store:
        w = store.writer()
        with pytest.raises(ValueError, match="samples must be"):
            w.append(np.zeros((3, 10), SAMPLE_DTYPE), np.zeros(3))
        with pytest.raises(ValueError, match="samples must be"):
            w.append(np.zeros((3, N_INPUTS), SAMPLE_DTYPE), np.zeros(2))


def test_a_missing_or_full_scratch_folder_is_refused_before_any_work(tmp_path):
    with pytest.raises(NotADirectoryError, match="scratch folder not found"):
        SampleStore(tmp_path / "absent")
    with pytest.raises(ValueError, match=r"needs about .* GB of scratch space.*--scratch"):
        SampleStore(tmp_path, need_bytes=10**18)
    assert list(tmp_path.iterdir()) == []
