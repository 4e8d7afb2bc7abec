"""The Surface writer saves meshes in world mm, in the format of the extension."""

import numpy as np
import pytest
import trimesh

from napari_msdl._napari.writer import write_surface


@pytest.mark.parametrize("ext", [".ply", ".stl", ".obj"])
def test_surface_is_written_in_world_mm(tmp_path, ext):
    mesh = trimesh.creation.icosphere(subdivisions=1)
    meta = {"scale": (2.0, 2.0, 2.0), "translate": (10.0, 0.0, -5.0)}
    [out] = write_surface(str(tmp_path / f"valve{ext}"), (mesh.vertices, mesh.faces), meta)
    back = trimesh.load(out, force="mesh", process=False)
    expected = mesh.vertices * 2 + [10, 0, -5]
    # STL does not share vertices, so compare as point sets: each side near the other.
    dist = np.linalg.norm(back.vertices[:, None] - expected[None], axis=-1)
    assert dist.min(axis=1).max() < 1e-4 and dist.min(axis=0).max() < 1e-4


def test_2d_surface_is_refused(tmp_path):
    with pytest.raises(ValueError, match="3D"):
        write_surface(str(tmp_path / "x.ply"), (np.zeros((3, 2)), np.array([[0, 1, 2]])), {})
