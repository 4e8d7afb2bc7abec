"""Property tests for the readers: random bytes, truncated files and random header values
give either the right volume or a one-line ``ValueError`` naming the file, quickly; never
another exception, never a hang, never a voxel somewhere else."""

from __future__ import annotations

import gzip
import math
import struct
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from napari_msdl.volume import SUPPORTED_EXTENSIONS, Volume, load_volume, save_volume
from napari_msdl.volume import io as vio

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
EXTS = list(SUPPORTED_EXTENSIONS)
DATA = np.arange(60, dtype=np.int16).reshape(5, 4, 3) - 30
MAGIC = {".nii": [struct.pack("<i", 348), struct.pack("<i", 540)], ".nrrd": [b"NRRD0004\n"],
         ".nhdr": [b"NRRD0005\n"], ".mha": [b"NDims = 3\n"], ".mhd": [b"ObjectType = Image\n"],
         ".tif": [b"II*\x00", b"MM\x00*"], ".tiff": [b"II+\x00"], ".npy": [b"\x93NUMPY\x01\x00"],
         ".npz": [b"PK\x03\x04"], ".nii.gz": [b"\x1f\x8b\x08\x00"]}


def outcome(path: Path, expected: Volume | None = None):
    """Load ``path``: a ``Volume`` (equal to ``expected`` when given) or a one-line
    ``ValueError`` naming the file; anything else, or more than 5 s, fails the test."""
    start = time.perf_counter()
    try:
        vol = load_volume(path)
    except ValueError as e:
        assert type(e) is ValueError, type(e)
        assert str(path) in str(e) and "\n" not in str(e), str(e)
        vol = e
    assert time.perf_counter() - start < 5.0
    event("loaded" if isinstance(vol, Volume) else "refused")
    if expected is not None and isinstance(vol, Volume):
        assert_same(vol, expected)
    return vol


def assert_same(vol: Volume, expected: Volume, rtol=1e-12):
    assert vol.data.dtype == expected.data.dtype
    np.testing.assert_array_equal(vol.data, expected.data)
    np.testing.assert_allclose(vol.spacing, expected.spacing, rtol=rtol)
    np.testing.assert_allclose(vol.origin, expected.origin, rtol=rtol, atol=1e-9)


@settings(max_examples=60, **SETTINGS)
@given(ext=st.sampled_from(EXTS), magic=st.integers(0, 3), body=st.binary(max_size=1500))
def test_random_bytes_with_every_suffix(ext, magic, body):
    prefixes = [b"", *MAGIC[ext]]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"random{ext}"
        path.write_bytes(prefixes[magic % len(prefixes)] + body)
        outcome(path)


@settings(max_examples=20, **SETTINGS)
@given(body=st.binary(min_size=0, max_size=1200))
def test_random_bytes_inside_a_valid_gzip_stream(body):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "random.nii.gz"
        path.write_bytes(gzip.compress(struct.pack("<i", 348) + body))
        outcome(path)


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory):
    """ext -> (folder, file names, their bytes, the volume they hold) for every format,
    plus two of nibabel's own test files."""
    root = tmp_path_factory.mktemp("valid")
    vol = Volume(DATA, spacing=[0.5, 0.75, 1.25], origin=[-3.0, 4.5, 10.0])
    files = {}
    for ext in EXTS:
        folder = root / ext.strip(".").replace(".", "_")
        folder.mkdir()
        save_volume(vol, folder / f"v{ext}")
        names = sorted(p.name for p in folder.iterdir())
        files[ext] = (names, {n: (folder / n).read_bytes() for n in names}, load_volume(
            folder / f"v{ext}"))
    nib_data = Path(nib.__file__).parent / "tests" / "data"
    for name in ("anatomical.nii", "standard.nii.gz"):
        files[name] = ([name], {name: (nib_data / name).read_bytes()},
                       load_volume(nib_data / name))
    return files


@settings(max_examples=60, **SETTINGS)
@given(key=st.sampled_from([*EXTS, "anatomical.nii", "standard.nii.gz"]), which=st.integers(0, 1),
       fraction=st.floats(0.0, 1.0, exclude_max=True))
def test_truncated_files_are_refused_or_still_right(valid_files, key, which, fraction):
    names, contents, expected = valid_files[key]
    cut = names[which % len(names)]
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            raw = contents[name]
            (Path(tmp) / name).write_bytes(raw[: int(len(raw) * fraction)] if name == cut
                                           else raw)
        main = next(n for n in names if n.endswith(key) or n == key)
        outcome(Path(tmp) / main, expected)


GOOD_SPACING = st.floats(1e-6, 1e6)
ANY_SPACING = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, -1.0, math.nan, math.inf, -math.inf, 1e308, 1e-300, 5e-7,
                     2e-6, 0.3, 1.0, 999999.0, 2e6]),
)
SPACINGS = st.one_of(GOOD_SPACING, GOOD_SPACING, GOOD_SPACING, ANY_SPACING)  # ~half all good


def _accepted(values) -> bool:
    low, high = vio.SPACING_RANGE_MM
    return all(math.isfinite(v) and low <= v <= high for v in values)


def _write_spacing(path: Path, spacing) -> np.ndarray:
    """Write DATA with ``spacing`` stated in the format's own header field; return the
    spacing as the file stores it (float32 for NIfTI)."""
    ext = "".join(path.suffixes)
    body = np.ascontiguousarray(DATA.T).tobytes()
    text = " ".join(repr(float(s)) for s in spacing)
    if ext == ".nrrd":
        path.write_bytes(f"NRRD0004\ntype: short\ndimension: 3\nsizes: 5 4 3\nspacings: {text}\n"
                         "encoding: raw\nendian: little\n\n".encode() + body)
    elif ext == ".mha":
        path.write_bytes(f"ObjectType = Image\nNDims = 3\nBinaryData = True\n"
                         f"BinaryDataByteOrderMSB = False\nElementSpacing = {text}\n"
                         "DimSize = 5 4 3\nElementType = MET_SHORT\nElementDataFile = LOCAL\n"
                         .encode() + body)
    elif ext == ".nii":
        img = nib.Nifti1Image(DATA, np.eye(4))
        img.set_qform(np.eye(4), code=1)
        img.set_sform(None, code=0)
        nib.save(img, str(path))
        raw = bytearray(path.read_bytes())
        with np.errstate(over="ignore"):
            raw[80:92] = np.asarray(spacing, "<f4").tobytes()  # pixdim[1:4]
        path.write_bytes(bytes(raw))
        with np.errstate(over="ignore"):
            return np.asarray(spacing, np.float32).astype(np.float64)
    elif ext == ".npz":
        np.savez(path, data=DATA, spacing=np.asarray(spacing))
    return np.asarray(spacing, np.float64)


@settings(max_examples=80, **SETTINGS)
@given(ext=st.sampled_from([".nrrd", ".mha", ".nii", ".npz"]),
       spacing=st.lists(SPACINGS, min_size=3, max_size=3))
def test_random_header_spacings(ext, spacing):
    """Accepted exactly when every stated spacing is finite and in range, then kept."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"s{ext}"
        stored = _write_spacing(path, spacing)
        result = outcome(path)
        if _accepted(stored):
            assert isinstance(result, Volume), result
            np.testing.assert_array_equal(result.data, DATA)
            np.testing.assert_allclose(result.spacing, stored, rtol=1e-12)
        else:
            assert isinstance(result, ValueError) and "spacing" in str(result).lower(), result


ORIGINS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([math.nan, math.inf, -math.inf, 1e9, 2e9, -1e300, 0.0]))


@settings(max_examples=50, **SETTINGS)
@given(ext=st.sampled_from([".nrrd", ".mha", ".npz"]),
       steps=st.lists(st.sampled_from([-1.5, -0.5, 0.25, 2.0]), min_size=3, max_size=3),
       origin=st.lists(ORIGINS, min_size=3, max_size=3))
def test_random_origins_and_flips(ext, steps, origin):
    """Signed steps (flips) with random origins: refused when the origin is not finite or
    voxels lie too far away, otherwise every voxel sits where the file puts it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"o{ext}"
        if ext == ".npz":
            steps = [abs(s) for s in steps]
            np.savez(path, data=DATA, spacing=steps, origin=origin)
        else:
            img = sitk.GetImageFromArray(np.ascontiguousarray(DATA.T))
            img.SetSpacing([abs(s) for s in steps])
            img.SetDirection(np.diag(np.sign(steps)).reshape(-1).tolist())
            sitk.WriteImage(img, str(path))
            _set_origin(path, origin)
        result = outcome(path)
        far = np.abs(origin) + np.abs(steps) * (np.array(DATA.shape) - 1)
        if np.all(np.isfinite(origin)) and far.max() <= vio.MAX_POSITION_MM:
            assert isinstance(result, Volume), result
            _assert_in_place(result, np.array(steps), np.array(origin))
        else:
            assert isinstance(result, ValueError) and "origin" in str(result).lower(), result


def _set_origin(path: Path, origin) -> None:
    """Replace the origin line of a NRRD or MetaImage written by SimpleITK."""
    raw = path.read_bytes()
    head, sep, body = raw.partition(b"\n\n") if path.suffix == ".nrrd" else \
        raw.partition(b"ElementDataFile = LOCAL\n")
    text = " ".join(repr(float(o)) for o in origin)
    lines = []
    for line in head.decode().split("\n"):
        if line.startswith("space origin:"):
            line = "space origin: (" + ",".join(repr(float(o)) for o in origin) + ")"
        elif line.startswith("Offset ="):
            line = f"Offset = {text}"
        lines.append(line)
    path.write_bytes("\n".join(lines).encode() + sep + body)


def _assert_in_place(vol: Volume, steps: np.ndarray, origin: np.ndarray) -> None:
    """DATA[i, j, k] of the file sits at origin + steps * (i, j, k) in ``vol``."""
    index = np.stack(np.meshgrid(*map(np.arange, DATA.shape), indexing="ij"), -1).reshape(-1, 3)
    points = origin + index * steps
    found = np.rint(vol.world_to_index(points)).astype(int)
    assert np.all(found >= 0) and np.all(found < vol.shape)
    np.testing.assert_array_equal(vol.data[tuple(found.T)], DATA.reshape(-1))


@settings(max_examples=15, **SETTINGS)
@given(which=st.integers(0, 2), fraction=st.floats(0.0, 1.0, exclude_max=True))
def test_truncated_dicom_slice(which, fraction):
    """A DICOM series with one slice cut short: refused naming the folder, or (a cut in
    trailing padding) the same volume."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
        for k in range(3):
            base.ImagePositionPatient = [0.0, 0.0, 2.0 * k]
            base.SOPInstanceUID = f"1.2.3.{k + 1}"
            base.save_as(folder / f"s{k}.dcm")
        expected = load_volume(folder)
        raw = (folder / f"s{which}.dcm").read_bytes()
        assume(int(len(raw) * fraction) < len(raw))
        (folder / f"s{which}.dcm").write_bytes(raw[: int(len(raw) * fraction)])
        outcome(folder, expected)


@settings(max_examples=25, **SETTINGS)
@given(flips=st.lists(st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 255)),
                      min_size=1, max_size=12))
def test_flipped_bytes_in_a_dicom_header(flips):
    """Random bytes written into one slice's header (before its pixel data): a volume or a
    one-line ``ValueError``, within a second; GDCM never gets a length past the end."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    raw = bytearray(Path(get_testdata_file("CT_small.dcm")).read_bytes())
    header_end = raw.index(b"\xe0\x7f\x10\x00")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "a.dcm").write_bytes(bytes(raw))
        ds = pydicom.dcmread(folder / "a.dcm")
        ds.ImagePositionPatient = [-158.135803, -179.035797, -70.7]
        ds.SOPInstanceUID = "1.2.3.4"
        ds.save_as(folder / "b.dcm")
        for where, value in flips:
            raw[132 + int(where * (header_end - 132))] = value
        (folder / "a.dcm").write_bytes(bytes(raw))
        start = time.perf_counter()
        outcome(folder)
        assert time.perf_counter() - start < 1.0
