"""Run a core call in the background from a widget, with progress and a working Cancel.

The core reports through its ``progress(stage, done, total)`` callback, called in the worker
thread; :class:`BackgroundJob` forwards each report to the GUI thread through a Qt signal
(queued across threads), and raises :class:`~napari_msdl._progress.Cancelled` from the
callback once Cancel was pressed, so the job stops at its next report.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from qtpy.QtCore import QObject, Signal

from napari_msdl._progress import Cancelled

_CANCELLED = object()
"""What the worker returns when the job was cancelled (not an error)."""


class _Relay(QObject):
    progressed = Signal(str, int, int)
    figured = Signal(str, object)


class _Report:
    """The callback the core gets: progress (and figures, for live plots) to the GUI
    thread; :class:`Cancelled` once Cancel was pressed."""

    def __init__(self, relay: _Relay, cancel: threading.Event) -> None:
        self._relay, self._cancel = relay, cancel

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self._cancel.is_set():
            raise Cancelled(stage)
        self._relay.progressed.emit(stage, int(done), int(total))

    def figures(self, stage: str, figures: dict) -> None:
        self._relay.figured.emit(stage, dict(figures))


class BackgroundJob:
    """One background run of ``func(*args, progress=callback, **kwargs)``.

    ``on_progress(stage, done, total)``, ``on_figures(stage, figures)`` (what training
    reports for live plots, :func:`~napari_msdl._progress.report_figures`),
    ``on_done(result)``, ``on_error(exc)`` and ``on_cancelled()`` are called in the GUI
    thread.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        *args: Any,
        on_progress: Callable[[str, int, int], None] | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
        on_figures: Callable[[str, dict], None] | None = None,
        **kwargs: Any,
    ):
        from napari.qt.threading import create_worker

        self._cancel = threading.Event()
        self._relay = _Relay()
        if on_progress is not None:
            self._relay.progressed.connect(on_progress)
        if on_figures is not None:
            self._relay.figured.connect(on_figures)
        self.running = True
        report = _Report(self._relay, self._cancel)

        def call() -> Any:
            try:
                return func(*args, progress=report, **kwargs)
            except Cancelled:
                return _CANCELLED

        # errors are the widget's to show (one line in its status), not napari's traceback
        # notification
        self.worker = create_worker(call, _start_thread=False, _ignore_errors=True)

        def finished_ok(result: Any) -> None:
            self.running = False
            if result is _CANCELLED:
                if on_cancelled is not None:
                    on_cancelled()
            elif on_done is not None:
                on_done(result)

        def failed(exc: BaseException) -> None:
            self.running = False
            if on_error is not None:
                on_error(exc)

        self.worker.returned.connect(finished_ok)
        self.worker.errored.connect(failed)

    def start(self) -> BackgroundJob:
        self.worker.start()
        return self

    def cancel(self) -> None:
        """Ask the job to stop at its next progress report."""
        self._cancel.set()


class StageProgress:
    """One progress bar over a whole job: the core reports ``(stage, done, total)`` per
    stage; each known stage has a share of the bar (``shares``, in job order), so the bar
    moves once from 0 to 100 % instead of restarting at every stage. Stages the job skips
    leave their share behind; an unknown stage keeps the bar where it is."""

    def __init__(self, shares: dict[str, float]) -> None:
        total = sum(shares.values())
        self._start, start = {}, 0.0
        for stage, share in shares.items():
            self._start[stage] = (start / total, share / total)
            start += share
        self.fraction = 0.0

    def update(self, stage: str, done: int, total: int) -> float:
        """The whole job's fraction done after this report (never going back)."""
        if stage in self._start:
            begin, share = self._start[stage]
            self.fraction = max(self.fraction, begin + share * min(done, total) / max(total, 1))
        return self.fraction


class StepProgress:
    """One progress bar over a job that counts its steps (:class:`~napari_msdl._progress.
    Steps`, reported as ``STEP``). A step's own stages are not known ahead, so within a
    step the first stage fills half of the step's share, the next half of what is left,
    and so on: the bar never goes back and reaches a step's end only when the step does.
    Before any step report the bar is the stage's own fraction. :meth:`describe` names
    the step and the stage for the status line."""

    def __init__(self) -> None:
        self.done = self.total = self.stages = 0
        self.stage: str | None = None
        self.fraction = 0.0

    def update(self, stage: str, done: int, total: int) -> float:
        """The whole job's fraction done after this report."""
        from napari_msdl._progress import STEP

        part = min(done, total) / max(total, 1)
        if stage == STEP:
            self.done, self.total, self.stages, self.stage = done, total, 0, None
            within = 0.0
        elif not self.total:
            return part
        else:
            if stage != self.stage:
                self.stage, self.stages = stage, self.stages + 1
            within = 1.0 - 0.5 ** (self.stages - 1) + 0.5 ** self.stages * part
        self.fraction = max(self.fraction, min(self.done + within, self.total) / self.total)
        return self.fraction

    def describe(self, stage: str, done: int, total: int) -> str:
        """``"step 3 of 7 | orientation.main: round 1/1: 8 of 20"``."""
        text = f"{stage}: {done} of {total}"
        if self.total:
            return f"step {min(self.done + 1, self.total)} of {self.total} | {text}"
        return text


DETECTION_SHARES = {"loading model": 0.08, "prepare": 0.05, "position": 0.35,
                    "position refine": 0.05, "orientation": 0.22, "orientation refine": 0.15,
                    "scale": 0.05, "boundary": 0.05, "verify": 0.05}
"""Shares of a Detect valve job, roughly as the largest volume spends its time."""
