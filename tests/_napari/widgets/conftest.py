"""A workspace for the Train and Prune tests, left only when no tab works any more."""

import pytest


def idle(workspace) -> bool:
    """No tab has a background job running (a new model sets Edit mesh loading its shape
    space, which must end before the viewer closes)."""
    return not any(getattr(w, "job", None) is not None and w.job.running
                   for w in workspace.widgets().values())


@pytest.fixture
def workspace(make_napari_viewer, qtbot):
    from napari_msdl._napari.workspace import Workspace

    workspace = Workspace(make_napari_viewer())
    yield workspace
    qtbot.waitUntil(lambda: idle(workspace), timeout=60_000)
