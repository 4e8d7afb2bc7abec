"""Inference throughput of the sparse first layer and of the cascade net (5832 x 60 x 1).

    python benchmarks/bench_sparse.py [--out FILE.json] [--batch 100000] [--repeats 3]
                                      [--threads 1]

Per density (2 %, 5 %, 10 %, 100 % of the 5832 grid points per filter), batch 100 000
hypotheses, one run on this machine, it times:
  (a) ``gather``: each filter gathers its own inputs (numba kernel),
  (b) ``union``: a dense matmul on the K columns of the filters' union of inputs,
  (c) ``dense``: the 5832-input dense layer (and the dense cascade net);
the whole net is timed through the inference path detection uses
(:class:`~napari_msdl.sparse.networks.ActiveNet`, the union matmul), against dense,
and reports hypotheses per second and speed-ups over dense (medians of the repeats, one
thread by default: the machine's cores may be shared, and a busy core stalls every
multi-threaded op). The inputs are random matrices already gathered: (N, K)
for the sparse paths, (N, 5832) for dense; sampling the volume is the detector's job,
and its cost grows with K as well. Two pattern families bracket what training yields:
``independent`` (each filter draws its own points: the union K is large, the worst case
for (b)) and ``shared`` (all filters read the same points: K = points per filter).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from napari_msdl.sparse import N_INPUTS, SADNN, SparseLinear, cascade_net_config
from napari_msdl.sparse.layers import DEFAULT_METHOD, gather_linear, linear_active
from napari_msdl.sparse.networks import ActiveNet

FILTERS = 60
DENSITIES = (0.02, 0.05, 0.10, 1.0)


def _masks(density: float, family: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = max(1, round(density * N_INPUTS))
    mask = np.zeros((FILTERS, N_INPUTS), np.float32)
    if family == "shared":
        mask[:, rng.choice(N_INPUTS, k, replace=False)] = 1
    else:
        for row in mask:
            row[rng.choice(N_INPUTS, k, replace=False)] = 1
    return mask


def _interleaved_medians(fns: dict, repeats: int, budget_s: float = 15.0,
                         ) -> dict[str, tuple[float, int]]:
    """Median seconds per method, the methods timed in turn each repeat so that they see
    the same load; a method past ``budget_s`` in total stops repeating (at least 1 run)."""
    times: dict[str, list[float]] = {m: [] for m in fns}
    for _ in range(repeats):
        for m, (fn, x) in fns.items():
            if times[m] and sum(times[m]) > budget_s:
                continue
            t0 = time.perf_counter()
            fn(x)
            times[m].append(time.perf_counter() - t0)
    return {m: (statistics.median(t), len(t)) for m, t in times.items()}


def _entry(seconds: float, runs: int, batch: int) -> dict:
    return {"seconds": seconds, "hypotheses_per_s": batch / seconds, "runs": runs}


@torch.no_grad()
def bench_case(density: float, family: str, x_full: torch.Tensor, repeats: int,
               seed: int) -> dict:
    batch = x_full.shape[0]
    net = SADNN(cascade_net_config(), seed=seed)
    net.first.set_mask_(_masks(density, family, seed))
    layer: SparseLinear = net.first
    cols = layer.active_inputs()
    x_active = x_full.index_select(1, cols).contiguous()
    weight, bias = layer.compact()
    dense_net = SADNN(cascade_net_config(dense=True), seed=seed)
    dense_w, dense_b = dense_net.first.weight.detach(), dense_net.first.bias.detach()

    probe = x_active[:2000]
    np.testing.assert_allclose(gather_linear(probe, weight, bias).numpy(),
                               linear_active(probe, weight, bias).numpy(), rtol=1e-3,
                               atol=1e-3)
    layer_fns = {"gather": (lambda x: gather_linear(x, weight, bias), x_active),
                 "union": (lambda x: linear_active(x, weight, bias), x_active),
                 "dense": (lambda x: linear_active(x, dense_w, dense_b), x_full)}
    sparse_net, full_net = ActiveNet(net), ActiveNet(dense_net)
    net_fns = {"union": (sparse_net.logits, x_active), "dense": (full_net.logits, x_full)}
    out = {"pattern": family, "density": density,
           "points_per_filter": int(layer.n_active[0]), "union_K": int(cols.numel())}
    for name, fns in (("layer", layer_fns), ("net", net_fns)):
        for fn, x in fns.values():
            fn(x[:1000])  # warm up: numba compile, allocator
        timed = _interleaved_medians(fns, repeats)
        out[name] = {m: _entry(*timed[m], batch) for m in fns}
        dense_s = out[name]["dense"]["seconds"]
        out[name]["speedup_vs_dense"] = {m: dense_s / out[name][m]["seconds"]
                                         for m in fns if m != "dense"}
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch and numba threads (1: steadier timings on shared cores)")
    args = ap.parse_args(argv)
    import numba

    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)

    gen = torch.Generator().manual_seed(args.seed)
    x_full = torch.rand(args.batch, N_INPUTS, generator=gen)
    cases = [(d, f) for d in DENSITIES for f in ("independent", "shared")
             if not (d == 1.0 and f == "shared")]
    results = []
    print(f"batch {args.batch}, torch threads {torch.get_num_threads()}, numba threads "
          f"{numba.get_num_threads()}; hypotheses/s (speed-up vs dense)")
    print(f"{'pattern':12s} {'dens':>5s} {'K':>5s} | {'layer gather':>20s} {'layer union':>20s} "
          f"{'layer dense':>11s} | {'net union':>20s} {'net dense':>11s}")
    for density, family in cases:
        r = bench_case(density, family, x_full, args.repeats, args.seed)
        results.append(r)
        cells = []
        for part, methods in (("layer", ("gather", "union", "dense")),
                              ("net", ("union", "dense"))):
            for m in methods:
                rate = r[part][m]["hypotheses_per_s"]
                cells.append(f"{rate:11.3g}" + ("" if m == "dense" else
                             f" ({r[part]['speedup_vs_dense'][m]:5.2f}x)"))
        print(f"{family:12s} {density:5.2f} {r['union_K']:5d} | {' '.join(cells[:3])} | "
              f"{' '.join(cells[3:])}", flush=True)
    faster = {m: sum(r["layer"][m]["seconds"] for r in results) for m in ("gather", "union")}
    for r in results:
        r["fastest_sparse"] = min(("gather", "union"), key=lambda m: r["layer"][m]["seconds"])
    at5 = {r["pattern"]: r["net"]["speedup_vs_dense"]["union"] for r in results
           if r["density"] == 0.05}
    print(f"default method: {DEFAULT_METHOD}; faster over all cases: {min(faster, key=faster.get)}"
          f"; cascade net at 5 %, union vs dense: " +
          ", ".join(f"{k} {v:.1f}x" for k, v in at5.items()))
    doc = {"benchmark": "sparse first layer and cascade net inference",
           "command": "python benchmarks/bench_sparse.py",
           "machine": {"platform": platform.platform(), "processor": platform.processor(),
                       "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                       "numba_threads": numba.get_num_threads()},
           "batch": args.batch, "filters": FILTERS, "repeats": args.repeats,
           "inputs": "random matrices already gathered ((N, K) sparse, (N, 5832) dense); "
                     "the volume gather is not timed",
           "default_method": DEFAULT_METHOD, "faster_overall": min(faster, key=faster.get),
           "net_speedup_at_5_percent": at5, "results": results}
    if args.out:
        args.out.write_text(json.dumps(doc, indent=2))
        print(f"wrote {args.out}")
    return doc


if __name__ == "__main__":
    main()
