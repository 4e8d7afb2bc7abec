"""Shared test setup: napari's settings and caches go to a temporary folder."""

import os
import tempfile

_state = tempfile.mkdtemp(prefix="napari-msdl-tests-")
os.chmod(_state, 0o700)
for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR"):
    os.environ.setdefault(var, _state)
os.environ.setdefault("NAPARI_CONFIG", os.path.join(_state, "napari-settings.yaml"))
os.environ.pop("QT_QPA_PLATFORM", None)
