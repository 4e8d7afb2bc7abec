"""Shared test setup: napari's settings and caches go to a temporary folder."""

import atexit
import os
import shutil
import tempfile

_state = tempfile.mkdtemp(prefix="napari-msdl-tests-")
os.chmod(_state, 0o700)
atexit.register(shutil.rmtree, _state, ignore_errors=True)
for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR"):
    os.environ.setdefault(var, _state)
os.environ.setdefault("NAPARI_CONFIG", os.path.join(_state, "napari-settings.yaml"))
os.environ.pop("QT_QPA_PLATFORM", None)
