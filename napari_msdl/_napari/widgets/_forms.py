"""Small form parts the widgets share: a status line that wraps instead of widening its
dock, the choice of a model bundle, and a button row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from magicgui.widgets import CheckBox, Container, FileEdit, Label, PushButton


class StatusLabel(Label):
    """A Label that wraps its text and never widens the dock it sits in (its width is
    whatever the dock gives it), at least ``lines`` lines high so the form does not jump,
    and as high as its wrapped text needs (a dock's form does not grow it by itself)."""

    def __init__(self, text: str = "", lines: int = 3) -> None:
        from qtpy.QtCore import QEvent, QObject
        from qtpy.QtWidgets import QSizePolicy

        super().__init__(value=text)
        native = self.native
        native.setWordWrap(True)
        native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        native.setMinimumWidth(50)
        self._least = native.fontMetrics().lineSpacing() * lines + 4
        fit = self.fit

        class _OnResize(QObject):
            def eventFilter(self, obj, event):  # noqa: N802 - Qt's
                if event.type() == QEvent.Type.Resize:
                    fit()
                return False

        self._on_resize = _OnResize(native)
        native.installEventFilter(self._on_resize)
        self.fit()

    @property
    def value(self) -> str:
        return Label.value.fget(self)

    @value.setter
    def value(self, text: str) -> None:
        Label.value.fset(self, text)
        self.fit()

    def fit(self) -> None:
        """As high as the text wrapped at the label's width needs (at least its lines)."""
        least = getattr(self, "_least", None)
        if least is None:  # the first value, set while the label is made
            return
        native = self.native
        width = native.width()
        need = native.heightForWidth(width) if width > 60 else 0
        native.setMinimumHeight(max(least, need))


def status_label(text: str = "", lines: int = 3) -> StatusLabel:
    """A :class:`StatusLabel`: wrapped text at least ``lines`` lines high."""
    return StatusLabel(text, lines)


def one_line(error: BaseException | str) -> str:
    """An error as the one line a status shows."""
    return " ".join(str(error).split())


class ModelChoice(Container):
    """The bundled model (default) or a bundle folder the user picks."""

    def __init__(self, label: str = "model") -> None:
        self.bundled = CheckBox(value=True, text="bundled phantom model")
        self.folder = FileEdit(mode="d", visible=False, label="folder")
        super().__init__(widgets=[self.bundled, self.folder], labels=False, label=label)
        self.margins = (0, 0, 0, 0)
        self.bundled.changed.connect(lambda on: setattr(self.folder, "visible", not on))

    @property
    def path(self) -> Path | None:
        """None for the bundled model, else the chosen folder; ``ValueError`` when the
        choice is a folder that does not exist."""
        if self.bundled.value:
            return None
        path = Path(self.folder.value)
        if not str(self.folder.value) or str(self.folder.value) == "." or not path.is_dir():
            raise ValueError(f"choose a model folder (a bundle), got {str(path)!r}")
        return path

    def use(self, path: str | Path | None) -> None:
        """Choose ``path`` (None: the bundled model)."""
        self.bundled.value = path is None
        if path is not None:
            self.folder.value = Path(path)


def button_row(*buttons: PushButton) -> Container:
    """Buttons side by side."""
    row = Container(widgets=list(buttons), layout="horizontal", labels=False)
    row.margins = (0, 0, 0, 0)
    return row


def narrow(container: Any) -> None:
    """Let every combo box and file field of ``container`` shrink to the dock's width
    instead of widening it to their longest entry (a long layer or folder name)."""
    from qtpy.QtWidgets import QComboBox, QLineEdit, QPushButton

    for combo in container.native.findChildren(QComboBox):
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(6)
    for line in container.native.findChildren(QLineEdit):
        line.setMinimumWidth(40)
    for button in container.native.findChildren(QPushButton):
        if button.text() in CHOOSER_TEXTS:  # a file field's button: short, the path wide
            button.setToolTip(button.text())
            button.setText("Browse...")


CHOOSER_TEXTS = ("Choose directory", "Choose file", "Select file", "Choose file(s)",
                 "Select file(s)", "Select directory")
"""The texts magicgui gives a file field's button (replaced by a short one)."""


def chosen(value: Any) -> bool:
    """Whether a file field holds a path (magicgui's empty one reads ``"."``)."""
    return str(value) not in ("", ".")


def unique_folder(base: Path) -> Path:
    """``base``, or ``base-2``, ``base-3``... the first that does not exist."""
    out, n = base, 2
    while out.exists():
        out, n = base.with_name(f"{base.name}-{n}"), n + 1
    return out


def full_width(*widgets: Any) -> Container:
    """Widgets across the whole form, without the label column (a status text)."""
    box = Container(widgets=list(widgets), labels=False)
    box.margins = (0, 0, 0, 0)
    return box


def disabled_because(widget: Any, reason: str | None) -> None:
    """Enable ``widget`` (reason None) or disable it, its tooltip saying why."""
    widget.enabled = reason is None
    widget.tooltip = reason or ""


def plot_canvas(height: int = 260) -> tuple[Any, Any]:
    """A matplotlib figure for the dock, as wide as the dock and ``height`` pixels high."""
    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
    from matplotlib.figure import Figure
    from qtpy.QtWidgets import QSizePolicy

    figure = Figure(figsize=(3.4, height / 80), dpi=80)
    canvas = FigureCanvasQTAgg(figure)
    canvas.setMinimumSize(100, height)
    canvas.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    return figure, canvas
