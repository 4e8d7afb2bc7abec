"""``kill -9`` in the middle of training or pruning: no half-written model, and a model
that stood at the output path before is byte for byte as it was."""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading

import pytest

from napari_msdl.bundle import load_bundle


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def _kill_when(args, marker, timeout=120.0):
    """Run the CLI with ``args``; SIGKILL it once its progress output shows ``marker``."""
    code = "import sys; from napari_msdl.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen, found = [], threading.Event()

    def read():
        for chunk in iter(lambda: proc.stdout.read(64), ""):
            seen.append(chunk)
            if marker in "".join(seen[-20:]):
                found.set()

    threading.Thread(target=read, daemon=True).start()
    found.wait(timeout)
    if proc.poll() is not None:
        pytest.fail(f"the run ended before {marker!r} (rc {proc.returncode}): {''.join(seen)}")
    assert found.is_set(), "".join(seen)[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return proc.returncode


def test_a_killed_training_leaves_the_previous_model_untouched(tiny_detector, tmp_path):
    model_dir, data_dir = tiny_detector
    out = tmp_path / "model"
    shutil.copytree(model_dir, out)
    before = _digest(out)
    rc = _kill_when(["train", "--data", data_dir, "--out", out, "--tiny", "--seed", "5"],
                    "cascade1")
    assert rc == -signal.SIGKILL
    assert _digest(out) == before
    load_bundle(out)  # still a whole bundle


def test_a_killed_pruning_leaves_no_model(tiny_detector, tmp_path):
    model_dir, data_dir = tiny_detector
    out = tmp_path / "pruned"
    before = _digest(model_dir)
    rc = _kill_when(["prune", "--model", model_dir, "--out", out, "--sparsity", "0.999",
                     "--data", data_dir, "--rounds", "2"], "confusers (train)")
    assert rc == -signal.SIGKILL
    assert not out.exists()
    assert _digest(model_dir) == before
