"""Memory and time of detector training, samples in memory against samples on disk.

    python benchmarks/bench_train_memory.py --data ph_train [--cases 800]
        [--modes disk memory] [--limit-gb 6] [--seed 1] [--fov-cut 0.3]
        [--out benchmarks/results/bench_train_memory.json]

Each mode trains the detector (``train_detector``, the bundled model's configuration:
``--seed 1 --fov-cut 0.3``) on the first ``--cases`` annotated cases of ``--data`` in a
child process, one mode after the other. ``memory`` keeps samples and feature volumes in
memory (``scratch=None``, the behaviour before the sample store); ``disk`` keeps them in
a scratch folder (the default). While the child runs, its resident memory is sampled
from ``/proc`` four times a second: the peak of its own memory (anonymous pages: what
the run needs), and of its total resident set (with the file pages of the memory-mapped
samples, which the system drops under pressure). The scratch folder's disk use is
sampled too (the growth of its file system's used space, so approximate on a busy
machine).

``--limit-gb G`` runs each child in a memory control group limited to G GB (page cache
included, cgroup v1 at /sys/fs/cgroup/memory, needs root): a run that needs more is
killed and reported so. Both modes train the same networks from the same samples, so
the script also says whether the two models are identical (a hash of every weight and
threshold) and prints their validation errors; ``--save DIR`` keeps each mode's
detector as a bundle (``DIR/disk``, ``DIR/memory``) to evaluate.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup/memory")


def _child(args: argparse.Namespace) -> None:
    """Train in this process and print the result as JSON on the last line."""
    from dataclasses import replace

    import torch

    from napari_msdl.dataset import Dataset
    from napari_msdl.training import TrainConfig, train_detector

    ds = Dataset.open(args.data)
    ds = replace(ds, cases=ds.annotated[:args.cases])
    config = TrainConfig(fov_cut_share=args.fov_cut)
    scratch = None if args.child == "memory" else args.scratch
    t0 = time.perf_counter()
    model, record = train_detector(ds, config, seed=args.seed, scratch=scratch)
    wall = time.perf_counter() - t0
    digest = hashlib.sha256()
    for name in sorted(model.stages):
        nets = model.stages[name]
        digest.update(repr(list(nets.thresholds)).encode())
        for net in (*nets.cascade, nets.main):
            for key, value in sorted(net.state_dict().items()):
                digest.update(key.encode() + value.detach().to(torch.float32).numpy().tobytes())
    if args.save is not None:
        from napari_msdl.bundle import ModelCard, ValveModel, save_bundle

        save_bundle(ValveModel(detector=model, card=ModelCard(detector=record)),
                    args.save / args.child)
    v = record.figures["validation"]
    print(json.dumps({"train_seconds": record.seconds, "wall_seconds": round(wall, 1),
                      "weights_sha256": digest.hexdigest(),
                      "validation": {"position_error": v["position_error"],
                                     "corner_error": v["corner_error"]},
                      "train_cases": record.data["train_cases"],
                      "val_cases": record.data["val_cases"]}))


def _status(pid: int) -> dict[str, int]:
    """RssAnon, RssFile and VmRSS of ``pid`` in bytes (empty once it has ended)."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile", "VmRSS"):
                out[key] = int(value.split()[0]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def _cgroup(limit_gb: float | None) -> Path | None:
    if limit_gb is None:
        return None
    group = CGROUP / f"napari-msdl-bench-{os.getpid()}"
    group.mkdir()
    (group / "memory.limit_in_bytes").write_text(str(int(limit_gb * 1e9)))
    return group


def _run(mode: str, args: argparse.Namespace, scratch: Path) -> dict:
    group = _cgroup(args.limit_gb)
    cmd = [sys.executable, __file__, "--child", mode, "--data", str(args.data),
           "--cases", str(args.cases), "--seed", str(args.seed), "--fov-cut",
           str(args.fov_cut), "--scratch", str(scratch)]
    if args.save is not None:
        cmd += ["--save", str(args.save)]
    used0 = shutil.disk_usage(scratch).used
    peaks = {"RssAnon": 0, "RssFile": 0, "VmRSS": 0, "disk": 0}
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        if group is not None:
            (group / "cgroup.procs").write_text(str(proc.pid))
        while proc.poll() is None:
            for key, value in _status(proc.pid).items():
                peaks[key] = max(peaks[key], value)
            peaks["disk"] = max(peaks["disk"], shutil.disk_usage(scratch).used - used0)
            time.sleep(0.25)
        out.seek(0)
        text = out.read()
    result: dict = {"mode": mode, "returncode": proc.returncode,
                    "peak_own_memory_gb": round(peaks["RssAnon"] / 1e9, 2),
                    "peak_resident_gb": round(peaks["VmRSS"] / 1e9, 2),
                    "peak_file_pages_gb": round(peaks["RssFile"] / 1e9, 2),
                    "peak_scratch_disk_gb": round(peaks["disk"] / 1e9, 2)}
    if group is not None:
        result["cgroup_limit_gb"] = args.limit_gb
        result["cgroup_peak_gb"] = round(int((group / "memory.max_usage_in_bytes")
                                             .read_text()) / 1e9, 2)
        result["cgroup_limit_hits"] = int((group / "memory.failcnt").read_text())
        group.rmdir()
    if proc.returncode == 0:
        result.update(json.loads(text.strip().splitlines()[-1]))
    else:
        result["error"] = ("killed: out of memory inside the limit" if proc.returncode == -9
                           else text[-2000:])
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="annotated dataset folder")
    p.add_argument("--cases", type=int, default=800, help="first N annotated cases")
    p.add_argument("--modes", nargs="+", choices=("disk", "memory"), default=["disk",
                                                                              "memory"])
    p.add_argument("--limit-gb", type=float, default=None,
                   help="run each child in a memory cgroup of this many GB (root)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--fov-cut", type=float, default=0.3)
    p.add_argument("--scratch", type=Path, default=None, help="scratch parent folder "
                   "(default: a new folder in the system's temporary folder)")
    p.add_argument("--save", type=Path, default=None, metavar="DIR",
                   help="also write each mode's detector as a bundle DIR/MODE (new folders)")
    p.add_argument("--out", type=Path,
                   default=Path(__file__).parent / "results" / "bench_train_memory.json")
    p.add_argument("--child", choices=("disk", "memory"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(args)
        return
    if args.limit_gb is not None and not os.access(CGROUP, os.W_OK):
        p.error(f"--limit-gb needs a writable cgroup v1 memory controller at {CGROUP}")
    made = args.scratch is None
    scratch = Path(tempfile.mkdtemp(prefix="bench-train-")) if made else args.scratch
    try:
        results = [_run(mode, args, scratch) for mode in args.modes]
    finally:
        if made:
            shutil.rmtree(scratch, ignore_errors=True)
    for r in results:
        line = (f"{r['mode']:>6}: own memory peak {r['peak_own_memory_gb']:.2f} GB, "
                f"resident peak {r['peak_resident_gb']:.2f} GB, scratch disk "
                f"{r['peak_scratch_disk_gb']:.2f} GB")
        if "train_seconds" in r:
            v = r["validation"]
            line += (f", {r['train_seconds']:.0f} s training, validation "
                     f"{v['position_error']['mean']:.2f} / {v['corner_error']['mean']:.2f} mm")
        else:
            line += f", FAILED ({r['error'][:200]})"
        if "cgroup_peak_gb" in r:
            line += (f"; in a {r['cgroup_limit_gb']} GB cgroup: peak {r['cgroup_peak_gb']} GB, "
                     f"limit reached {r['cgroup_limit_hits']} times")
        print(line)
    done = [r for r in results if "weights_sha256" in r]
    if len(done) == 2:
        same = done[0]["weights_sha256"] == done[1]["weights_sha256"]
        print("the two models are " + ("identical" if same else "DIFFERENT"))
    doc = {"command": "python benchmarks/bench_train_memory.py " + " ".join(sys.argv[1:]),
           "data": str(args.data), "cases": args.cases, "machine": {
               "cpus": os.cpu_count(), "platform": platform.platform(),
               "load_average_at_end": os.getloadavg()},
           "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
