"""The model bundle folder on disk: the only code that reads or writes it.

```
MODEL/
  bundle.json          {"format": "napari-msdl-bundle", "version": 2,
                        "card": {...},                       (napari_msdl.bundle.card)
                        "detector": {"dense": ..., "search": {...}, "orientations": {...},
                                     "sizes": {...}, "networks": {NAME: {"config": {...},
                                     "threshold": ...}, ...}},
                        "boundary": {"shape_space": {...}, "patch": {...},
                                     "classifier": {...}, "deform": {...}} or null}
  weights.safetensors  "detector.NAME.*" per network (NAME = position.cascade1, ...,
                        scale.main), "boundary.shape.*", "boundary.classifier.*"
```
A sparse first layer is stored on its active columns only (``first.columns``,
``first.n_inputs``, the weights on those columns and the mask as uint8), which keeps
bundles small. Loading never runs code from the files: JSON and safetensors only, the
format and its version checked first; a missing, corrupt or foreign file gets a
``ValueError`` (or ``FileNotFoundError``) naming the file and the problem. A bundle is
written whole and atomically: an interrupted write leaves no bundle, and an existing one
untouched. Version 1 was the layout of napari-msdl 0.1 (``model.json`` +
``boundary.json``); it is refused with a message saying so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from napari_msdl._io import atomic_path, check_flag, check_keys, check_number, read_model_files
from napari_msdl.boundary import BoundaryModel, DeformParams, PatchSpec, ShapeSpace
from napari_msdl.bundle.card import ModelCard
from napari_msdl.bundle.layout import (
    FORMAT,
    LEGACY_MANIFEST,
    MANIFEST,
    VERSION,
    WEIGHTS,
    is_bundle,
)
from napari_msdl.detector.cascade import StageNets
from napari_msdl.detector.hypotheses import OrientationSet, SizeSet
from napari_msdl.detector.model import (
    STAGES,
    DetectorModel,
    SearchParams,
    network_name,
    parse_network_name,
)
from napari_msdl.sparse import SADNN

DETECTOR_KEYS = ("dense", "search", "orientations", "sizes", "networks")
BOUNDARY_KEYS = ("shape_space", "patch", "classifier", "deform")


def _net_tensors(out: dict[str, torch.Tensor], prefix: str, net: torch.nn.Module) -> None:
    """The net's tensors under ``prefix``; a sparse first layer on its active columns."""
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    if "first.mask" in state:
        cols = torch.nonzero(state["first.mask"].any(dim=0)).flatten()
        out[f"{prefix}.first.columns"] = cols
        out[f"{prefix}.first.n_inputs"] = torch.tensor([state["first.mask"].shape[1]])
        state["first.weight"] = state["first.weight"].index_select(1, cols).contiguous()
        state["first.mask"] = state["first.mask"].index_select(1, cols).to(torch.uint8)
    for key, value in state.items():
        out[f"{prefix}.{key}"] = value


def _expand(state: dict[str, torch.Tensor], n_inputs: int) -> dict[str, torch.Tensor]:
    """Undo :func:`_net_tensors`'s compaction of a sparse first layer, checking what the
    file says against the network's config: the column indices (whole, increasing, below
    ``n_inputs``), the input count, a mask of exactly 0 and 1, finite weights."""
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ValueError(f"tensor {key} holds NaN or infinite values")
    if "first.mask" in state:
        mask = state["first.mask"]
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError("first.mask must hold only 0 and 1")
    if "first.columns" not in state:
        return state
    cols = state.pop("first.columns")
    n = state.pop("first.n_inputs", torch.zeros(0)).flatten()
    if n.numel() != 1 or int(n[0]) != n_inputs:
        raise ValueError(f"first.n_inputs is {n.tolist()}, the config says {n_inputs}")
    if (cols.is_floating_point() or cols.ndim != 1 or cols.numel() > n_inputs
            or (cols.numel() and (int(cols.min()) < 0 or int(cols.max()) >= n_inputs))
            or bool((cols[1:] <= cols[:-1]).any())):
        raise ValueError(f"first.columns must be increasing input indices below {n_inputs}")
    cols = cols.to(torch.int64)
    for key in ("first.weight", "first.mask"):
        part = state[key].to(torch.float32)
        full = torch.zeros(part.shape[0], n, dtype=torch.float32)
        full[:, cols] = part
        state[key] = full
    return state


def _load_net(config: dict[str, Any], tensors: dict[str, torch.Tensor], prefix: str) -> SADNN:
    net = SADNN.from_config(config)
    state = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    try:
        net.load_state_dict(_expand(state, net.config.n_inputs), strict=True)
    except RuntimeError as e:  # torch lists every mismatch over several lines
        detail = " ".join(str(e).split()).replace("Error(s) in loading state_dict for SADNN: ", "")
        raise ValueError(f"the tensors of {prefix} do not fit its config: {detail[:240]}") from e
    net.eval()
    return net


def _detector_doc(model: DetectorModel, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    networks = {}
    for name, net in model.networks().items():
        stage, level = parse_network_name(name)
        entry: dict[str, Any] = {"config": net.to_config()}
        if level is not None:
            entry["threshold"] = float(model.stages[stage].thresholds[level - 1])
        networks[name] = entry
        _net_tensors(tensors, f"detector.{name}", net)
    return {"dense": model.dense, "search": model.search.to_dict(),
            "orientations": model.orientations.to_dict(), "sizes": model.sizes.to_dict(),
            "networks": networks}


def _detector_from(doc: dict[str, Any], tensors: dict[str, torch.Tensor]) -> DetectorModel:
    check_keys(doc, DETECTOR_KEYS, "detector")
    networks = doc["networks"]
    if not isinstance(networks, dict):
        raise ValueError(f"networks must be a JSON object, got {type(networks).__name__}")
    stages = {}
    for stage in STAGES:
        levels = []
        while network_name(stage, len(levels) + 1) in networks:
            entry = networks[network_name(stage, len(levels) + 1)]
            check_keys(entry, ("config", "threshold"), "cascade network")
            levels.append(entry)
        main_name = network_name(stage)
        if main_name not in networks:
            raise ValueError(f"the detector has no network {main_name!r}")
        check_keys(networks[main_name], ("config",), "main network")
        cascade = [_load_net(e["config"], tensors, f"detector.{network_name(stage, i + 1)}")
                   for i, e in enumerate(levels)]
        main = _load_net(networks[main_name]["config"], tensors, f"detector.{main_name}")
        thresholds = [check_number(f"{network_name(stage, i + 1)} threshold", e["threshold"])
                      for i, e in enumerate(levels)]
        stages[stage] = StageNets(cascade, thresholds, main)
    expected = {network_name(s, i + 1) for s in STAGES for i in range(len(stages[s].cascade))}
    unknown = set(networks) - expected - {network_name(s) for s in STAGES}
    if unknown:
        raise ValueError(f"unknown networks {sorted(unknown)} (cascade levels must count "
                         "1, 2, ... per stage)")
    return DetectorModel(orientations=OrientationSet.from_dict(doc["orientations"]),
                         sizes=SizeSet.from_dict(doc["sizes"]), stages=stages,
                         search=SearchParams.from_dict(doc["search"]),
                         dense=check_flag("dense", doc["dense"]))


def _boundary_doc(model: BoundaryModel, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    for k, v in model.shape_space.arrays().items():
        tensors[f"boundary.shape.{k}"] = torch.from_numpy(v.copy()).contiguous()
    _net_tensors(tensors, "boundary.classifier", model.classifier)
    return {"shape_space": model.shape_space.meta(), "patch": model.patch.to_dict(),
            "classifier": model.classifier.to_config(), "deform": model.deform.to_dict()}


def _boundary_from(doc: dict[str, Any], tensors: dict[str, torch.Tensor]) -> BoundaryModel:
    check_keys(doc, BOUNDARY_KEYS, "boundary")
    arrays = {k: tensors[f"boundary.shape.{k}"].numpy() for k in ("mean", "modes", "sdev",
                                                                   "faces")}
    return BoundaryModel(shape_space=ShapeSpace.from_arrays(arrays, doc["shape_space"]),
                         classifier=_load_net(doc["classifier"], tensors,
                                              "boundary.classifier"),
                         patch=PatchSpec.from_dict(doc["patch"]),
                         deform=DeformParams.from_dict(doc["deform"]))


def write_bundle(path: str | Path, detector: DetectorModel, boundary: BoundaryModel | None,
                 card: ModelCard) -> Path:
    """Write a bundle folder at ``path`` atomically (whole or not at all)."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    doc = {"format": FORMAT, "version": VERSION, "card": card.to_dict(),
           "detector": _detector_doc(detector, tensors),
           "boundary": None if boundary is None else _boundary_doc(boundary, tensors)}
    text = json.dumps(doc, indent=1, allow_nan=False)
    with atomic_path(path, suffix="", folder=True, replaceable=is_bundle) as tmp:
        tmp.mkdir()
        save_file(tensors, str(tmp / WEIGHTS))
        (tmp / MANIFEST).write_text(text + "\n", encoding="utf-8")
        for f in (tmp, tmp / WEIGHTS, tmp / MANIFEST):
            f.chmod(0o755 if f.is_dir() else 0o644)
    return path


def read_bundle(folder: str | Path) -> tuple[DetectorModel, BoundaryModel | None, ModelCard]:
    """``(detector, boundary or None, card)`` of the bundle folder (see the module doc)."""
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"model not found: {folder}")
    if folder.is_file():
        if folder.name != MANIFEST:
            raise ValueError(f"{folder}: a model is a folder holding {MANIFEST} and {WEIGHTS}")
        folder = folder.parent
    if not (folder / MANIFEST).is_file() and (folder / LEGACY_MANIFEST).is_file():
        raise ValueError(f"{folder} is a model of napari-msdl 0.1's layout ({LEGACY_MANIFEST}, "
                         f"bundle format 1); this napari-msdl reads format {VERSION} "
                         f"({MANIFEST}): train the model again with napari-msdl train")
    doc, tensors = read_model_files(folder, MANIFEST, WEIGHTS, FORMAT, VERSION,
                                    "napari-msdl model bundle")
    where = folder / MANIFEST
    try:
        check_keys(doc, ("format", "version", "card", "detector", "boundary"), "bundle")
        card = ModelCard.from_dict(doc["card"])
        detector = _detector_from(doc["detector"], tensors)
        boundary = None if doc["boundary"] is None else _boundary_from(doc["boundary"], tensors)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
        detail = " ".join(str(e).split())
        raise ValueError(f"{where}: corrupt model bundle ({type(e).__name__}: {detail})") from e
    if (boundary is None) != (card.boundary is None):
        raise ValueError(f"{where}: corrupt model bundle (the card and the parts disagree on "
                         "whether it has a boundary model)")
    return detector, boundary, card
