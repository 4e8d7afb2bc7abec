"""Progress reporting and cancellation for long work (detect, train, prune, phantoms).

Core functions take an optional ``progress`` callback ``progress(stage, done, total)``.
The CLI connects it to tqdm (:func:`tqdm_progress`), the widgets to napari's progress
and a Cancel button: to cancel, the callback raises :class:`Cancelled`, which the core
lets through after cleaning up (no half-written files).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Cancelled(Exception):
    """Raised from a progress callback to stop the job at its next report."""


class ProgressCallback(Protocol):
    def __call__(self, stage: str, done: int, total: int) -> None: ...


def no_progress(stage: str, done: int, total: int) -> None:
    """The default callback: reports nothing, never cancels."""


STEP = "step"
"""The stage a long job reports its steps under: ``progress(STEP, k, n)`` says k of its n
steps are done, so a GUI can draw one bar over the whole job (each step's own stages come
between, under their own names)."""


class Steps:
    """Counts a long job's steps for ``progress``: reports ``(STEP, 0, total)`` when made
    and ``(STEP, k, total)`` at every :meth:`next`."""

    def __init__(self, progress: ProgressCallback, total: int) -> None:
        self.progress, self.total, self.done = progress, max(1, int(total)), 0
        progress(STEP, 0, self.total)

    def next(self) -> None:
        """One more step done."""
        self.done = min(self.total, self.done + 1)
        self.progress(STEP, self.done, self.total)


def report_figures(progress: ProgressCallback, stage: str, figures: dict) -> None:
    """Hand ``figures`` (JSON-able numbers: a round's losses and sparsity, a network's
    report) to a callback that takes them, one with a ``figures(stage, figures)`` method
    (the Train widget's live plot); other callbacks ignore them."""
    sink = getattr(progress, "figures", None)
    if sink is not None:
        sink(stage, figures)


class Prefixed:
    """``progress`` with every stage named ``"<label>: <stage>"``, figures included."""

    def __init__(self, progress: ProgressCallback, label: str) -> None:
        self.progress, self.label = progress, label

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.progress(f"{self.label}: {stage}", done, total)

    def figures(self, stage: str, figures: dict) -> None:
        report_figures(self.progress, f"{self.label}: {stage}", figures)


def tqdm_progress(disable: bool = False) -> Callable[[str, int, int], None]:
    """A callback that shows one tqdm bar per stage on stderr (CLI use)."""
    from tqdm.auto import tqdm

    bars: dict[str, tqdm] = {}

    def report(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[stage] = tqdm(total=total, desc=stage, disable=disable, leave=True,
                                     dynamic_ncols=True)
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return report
