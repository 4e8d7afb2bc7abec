"""napari sample-data contribution: phantom cases shipped in the package, with their
ground-truth box and valve mesh (File > Open Sample > napari-msdl)."""

from __future__ import annotations

from napari_msdl._napari.layers import LayerTuple, valve_layers, volume_layer


def case_layers(case, color: str = "yellow") -> list[LayerTuple]:
    """Layers of a dataset case: its volume (named by the case id, its pose in the metadata
    as ``true_pose`` so Detect valve reports its errors) and, when annotated, its true box
    and mesh as ``"<id> true box"`` / ``"<id> true mesh"`` with their 2D cuts."""
    volume = case.load_volume()
    layers = [volume_layer(volume, name=case.id)]
    if case.pose is not None:
        layers[0][1]["metadata"]["true_pose"] = case.pose.to_dict()
    mesh = case.load_mesh() if case.mesh is not None else None
    layers.extend(valve_layers(f"{case.id} true", case.pose, mesh, volume, color=color,
                               mesh_visible=False))
    return layers


def sample_layers(index: int = 0) -> list[LayerTuple]:
    """Layers of bundled sample case ``index`` (see :func:`case_layers`)."""
    from napari_msdl.dataset import Dataset
    from napari_msdl.phantoms.dataset import sample_data_path

    dataset = Dataset.open(sample_data_path())
    if not 0 <= index < len(dataset):
        raise ValueError(f"sample index must be in 0..{len(dataset) - 1}, got {index}")
    return case_layers(dataset.cases[index])


def sample_0() -> list[LayerTuple]:
    return sample_layers(0)


def sample_1() -> list[LayerTuple]:
    return sample_layers(1)


def sample_2() -> list[LayerTuple]:
    return sample_layers(2)
