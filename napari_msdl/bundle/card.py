"""The model card: how each part of a bundle was made, what it measured, what was done to it.

One versioned card per bundle, stored in its manifest (:mod:`napari_msdl.bundle.files`):

* ``detector`` and ``boundary``: a :class:`TrainingRecord` each (the boundary one absent
  when the bundle has no boundary model): the command, the seed, the data (dataset folder,
  name, case counts, validation ids), the training configuration exactly as the trainer's
  ``to_dict`` wrote it (so ``TrainConfig.from_dict`` restores it), the training time and
  the figures training measured (per network by :func:`~napari_msdl.detector.model.network_name`,
  validation errors, curves).
* ``history``: what was done to the bundle after training, oldest first
  (:class:`HistoryEntry`: pruned, fine-tuned, boundary model added, converted), each with
  its command, parameters, parent bundle and figures.

Unknown keys are refused (:func:`napari_msdl._io.check_keys`); the card's own version is
checked on read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from napari_msdl._io import check_keys, dataclass_from_dict

CARD_VERSION = 1


def _json_dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class TrainingRecord:
    """How one part of a bundle was trained, and what training measured."""

    command: str | None = None
    seed: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.command is not None and not isinstance(self.command, str):
            raise ValueError(f"command must be text or null, got {self.command!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be a whole number, got {self.seed!r}")
        for name in ("data", "config", "figures"):
            _json_dict(getattr(self, name), name)
        if self.seconds is not None and not isinstance(self.seconds, (int, float)):
            raise ValueError(f"seconds must be a number or null, got {self.seconds!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainingRecord:
        return dataclass_from_dict(cls, d, "training record")


HISTORY_ACTIONS = ("pruned", "fine-tuned", "boundary model added", "converted")


@dataclass(frozen=True)
class HistoryEntry:
    """One change made to a bundle after training."""

    action: str
    command: str | None = None
    parent: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.action not in HISTORY_ACTIONS:
            raise ValueError(f"history action must be one of {list(HISTORY_ACTIONS)}, got "
                             f"{self.action!r}")
        for name in ("command", "parent"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be text or null, got {value!r}")
        _json_dict(self.parameters, "parameters")
        _json_dict(self.figures, "figures")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HistoryEntry:
        return dataclass_from_dict(cls, d, "history entry")


@dataclass(frozen=True)
class ModelCard:
    """What a bundle is: how its detector and boundary model were trained, and what was
    done to it since."""

    detector: TrainingRecord = field(default_factory=TrainingRecord)
    boundary: TrainingRecord | None = None
    history: tuple[HistoryEntry, ...] = ()
    version: int = CARD_VERSION

    def __post_init__(self) -> None:
        if isinstance(self.version, bool) or self.version != CARD_VERSION:
            raise ValueError(f"model card version {self.version!r} is not supported (this "
                             f"napari-msdl reads version {CARD_VERSION})")
        object.__setattr__(self, "history", tuple(self.history))

    def with_history(self, entry: HistoryEntry) -> ModelCard:
        """A copy with ``entry`` appended to the history."""
        return replace(self, history=(*self.history, entry))

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "detector": self.detector.to_dict(),
                "boundary": None if self.boundary is None else self.boundary.to_dict(),
                "history": [h.to_dict() for h in self.history]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelCard:
        check_keys(d, ("version", "detector", "boundary", "history"), "model card")
        history = d.get("history", [])
        if not isinstance(history, list):
            raise ValueError(f"history must be a list, got {type(history).__name__}")
        boundary = d.get("boundary")
        return cls(version=d.get("version", CARD_VERSION),
                   detector=TrainingRecord.from_dict(d.get("detector", {})),
                   boundary=None if boundary is None else TrainingRecord.from_dict(boundary),
                   history=tuple(HistoryEntry.from_dict(h) for h in history))
