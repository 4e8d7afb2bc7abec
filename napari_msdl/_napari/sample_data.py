"""napari sample-data contribution: phantom cases shipped in the package, with their
ground-truth box and valve mesh (File > Open Sample > napari-msdl)."""

from __future__ import annotations

from napari_msdl._napari.layers import (
    LayerTuple,
    cut_layer,
    mesh_layer,
    pose_layers,
    slice_positions,
    volume_layer,
)


def sample_layers(index: int = 0) -> list[LayerTuple]:
    """Layers of bundled sample case ``index``: the volume, its true box (edges, axes and
    2D cut) and its true valve mesh (surface and 2D cut)."""
    from napari_msdl.dataset import Dataset
    from napari_msdl.phantoms.dataset import sample_data_path

    dataset = Dataset.open(sample_data_path())
    if not 0 <= index < len(dataset):
        raise ValueError(f"sample index must be in 0..{len(dataset) - 1}, got {index}")
    case = dataset.cases[index]
    volume = case.load_volume()
    layers = [volume_layer(volume, name=case.id)]
    if case.pose is not None:  # lets Detect valve report its errors against the truth
        layers[0][1]["metadata"]["true_pose"] = case.pose.to_dict()
    if case.mesh is not None:
        mesh = case.load_mesh()
        layers.append(mesh_layer(mesh, name="true mesh", colormap="red", visible=False))
        layers.append(cut_layer(mesh, slice_positions(volume, 0), 0, name="true mesh (2D cut)",
                                color="red"))
    if case.pose is not None:
        layers.extend(pose_layers(case.pose, volume, name="true box", color="yellow"))
    return layers


def sample_0() -> list[LayerTuple]:
    return sample_layers(0)


def sample_1() -> list[LayerTuple]:
    return sample_layers(1)


def sample_2() -> list[LayerTuple]:
    return sample_layers(2)
