"""Model bundles: one folder holding a trained detector, written atomically.

```
MODEL/
  model.json           {"format": "napari-msdl-detector", "version": 1, "card": {...},
                        "dense": ..., "search": {...}, "orientations": {...},
                        "sizes": {...}, "stages": {STAGE: {"cascade": [{"network": ...,
                        "threshold": ...}, ...], "main": {"network": ...}}}}
  weights.safetensors  STAGE.cascadeI.NAME / STAGE.main.NAME tensors (masks included)
```
Loading never runs code from the files: JSON and safetensors only, the format and its
version checked first; a missing, corrupt or foreign file gets a ``ValueError`` (or
``FileNotFoundError``) naming the file and the problem.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from napari_msdl._io import atomic_path, read_model_files
from napari_msdl.detector.cascade import StageNets
from napari_msdl.detector.hypotheses import OrientationSet, SizeSet
from napari_msdl.detector.model import STAGES, DetectorModel, SearchParams

FORMAT = "napari-msdl-detector"
VERSION = 1
MANIFEST = "model.json"
WEIGHTS = "weights.safetensors"
BUNDLED = "aortic-valve-phantom"
"""Folder name of the model shipped in ``napari_msdl/models``."""


def bundled_model_path() -> Path:
    """Path of the model that ships with the package."""
    return Path(str(resources.files("napari_msdl").joinpath("models", BUNDLED)))


def _net_to_json(net: torch.nn.Module) -> dict[str, Any]:
    return net.to_config()


def _net_from_json(doc: dict[str, Any]) -> torch.nn.Module:
    from napari_msdl.sparse import SADNN

    return SADNN.from_config(doc)


def save_model(model: DetectorModel, path: str | Path) -> Path:
    """Write ``model`` as a bundle folder at ``path`` (atomically: whole or not at all)."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    stages: dict[str, Any] = {}
    for name in STAGES:
        nets = model.stages[name]
        entries = []
        for i, (net, thr) in enumerate(zip(nets.cascade, nets.thresholds, strict=True)):
            entries.append({"network": _net_to_json(net), "threshold": float(thr)})
            _collect(tensors, f"{name}.cascade{i}", net)
        _collect(tensors, f"{name}.main", nets.main)
        stages[name] = {"cascade": entries, "main": {"network": _net_to_json(nets.main)}}
    doc = {"format": FORMAT, "version": VERSION, "card": model.card, "dense": model.dense,
           "search": model.search.to_dict(), "orientations": model.orientations.to_dict(),
           "sizes": model.sizes.to_dict(), "stages": stages}
    text = json.dumps(doc, indent=1, allow_nan=False)
    with atomic_path(path, suffix="") as tmp:
        tmp.mkdir()
        save_file(tensors, str(tmp / WEIGHTS))
        (tmp / MANIFEST).write_text(text + "\n", encoding="utf-8")
        for f in (tmp, tmp / WEIGHTS, tmp / MANIFEST):
            f.chmod(0o755 if f.is_dir() else 0o644)
    return path


def _collect(out: dict[str, torch.Tensor], prefix: str, net: torch.nn.Module) -> None:
    """The net's tensors; a sparse first layer is stored on its active columns only
    (``first.columns``, weights on them, the mask as uint8), which makes bundles small."""
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    if "first.mask" in state:
        cols = torch.nonzero(state["first.mask"].any(dim=0)).flatten()
        out[f"{prefix}.first.columns"] = cols
        out[f"{prefix}.first.n_inputs"] = torch.tensor([state["first.mask"].shape[1]])
        state["first.weight"] = state["first.weight"].index_select(1, cols).contiguous()
        state["first.mask"] = state["first.mask"].index_select(1, cols).to(torch.uint8)
    for key, value in state.items():
        out[f"{prefix}.{key}"] = value


def _expand(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Undo :func:`_collect`'s compaction of a sparse first layer."""
    if "first.columns" not in state:
        return state
    cols = state.pop("first.columns").to(torch.int64)
    n = int(state.pop("first.n_inputs")[0])
    for key in ("first.weight", "first.mask"):
        part = state[key].to(torch.float32)
        full = torch.zeros(part.shape[0], n, dtype=torch.float32)
        full[:, cols] = part
        state[key] = full
    return state


def load_model(path: str | Path | None = None) -> DetectorModel:
    """Read a model bundle; ``None`` reads the bundled phantom model."""
    path = bundled_model_path() if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model not found: {path}")
    if path.is_file():
        if path.name == MANIFEST:
            path = path.parent
        else:
            raise ValueError(f"{path}: a model is a folder holding {MANIFEST} and {WEIGHTS}")
    doc, tensors = read_model_files(path, MANIFEST, WEIGHTS, FORMAT, VERSION,
                                    "napari-msdl detector model")
    try:
        return _build(doc, tensors)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{path}: corrupt model bundle ({type(e).__name__}: {e})") from e


def _load_net(doc: dict[str, Any], tensors: dict[str, torch.Tensor], prefix: str):
    net = _net_from_json(doc)
    state = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    net.load_state_dict(_expand(state), strict=True)
    net.eval()
    return net


def _build(doc: dict[str, Any], tensors: dict[str, torch.Tensor]) -> DetectorModel:
    stages = {}
    for name in STAGES:
        entry = doc["stages"][name]
        cascade = [_load_net(c["network"], tensors, f"{name}.cascade{i}")
                   for i, c in enumerate(entry["cascade"])]
        thresholds = [float(c["threshold"]) for c in entry["cascade"]]
        main = _load_net(entry["main"]["network"], tensors, f"{name}.main")
        stages[name] = StageNets(cascade, thresholds, main)
    return DetectorModel(orientations=OrientationSet.from_dict(doc["orientations"]),
                         sizes=SizeSet.from_dict(doc["sizes"]), stages=stages,
                         search=SearchParams.from_dict(doc["search"]),
                         card=dict(doc.get("card", {})), dense=bool(doc.get("dense", False)))
