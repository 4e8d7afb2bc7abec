"""Pre-defined sparse connection patterns (Dey et al., arXiv 1711.02131), seeded.

Every generator returns an int64 0/1 matrix ``A`` of shape (N_out, N_in), the layout of
:mod:`napari_msdl.sparse.connectivity`, so patterns can be compared by scatter or
installed in a :class:`~napari_msdl.sparse.layers.SparseLinear` with ``set_mask_``.

- :func:`random_density`: a given number of connections anywhere (no fan constraint).
- :func:`random_fixed_fan`: random, with every output reading ``fan_in`` inputs and every
  input feeding ``fan_out`` outputs (``N_in * fan_out == N_out * fan_in``).
- :func:`clash_free`: the structured patterns of Dey et al.'s hardware architecture:
  the inputs sit in ``z`` memories (input j in memory ``j % z`` at address ``j // z``)
  and the junction's N_in * fan_out weights are read z per cycle, one from each memory,
  so reads never clash; ``fan_out`` sweeps each read every input once. ``kind`` 1: any
  address order per memory and sweep; 2: each memory reads consecutive addresses
  (mod N_in / z) from a random start; 3: kind 2 with the same order in every sweep.
  ``dither`` permutes the memory order of each sweep. :func:`clash_free_order` returns
  the read order itself, from which clash freedom can be checked.
"""

from __future__ import annotations

import numpy as np


def _check_sizes(n_in: int, n_out: int, fan_in: int | None, fan_out: int | None,
                 ) -> tuple[int, int]:
    if n_in < 1 or n_out < 1:
        raise ValueError(f"n_in and n_out must be >= 1, received {n_in}, {n_out}")
    if fan_in is None and fan_out is None:
        raise ValueError("give fan_in or fan_out")
    if fan_out is None:
        fan_out, rem = divmod(n_out * fan_in, n_in)
    elif fan_in is None:
        fan_in, rem = divmod(n_in * fan_out, n_out)
    else:
        rem = n_in * fan_out - n_out * fan_in
    if rem or not (1 <= fan_in <= n_in and 1 <= fan_out <= n_out):
        raise ValueError(f"need N_in * fan_out == N_out * fan_in with 1 <= fan_in <= N_in "
                         f"and 1 <= fan_out <= N_out; received N_in={n_in}, N_out={n_out}, "
                         f"fan_in={fan_in}, fan_out={fan_out}")
    return int(fan_in), int(fan_out)


def random_density(n_in: int, n_out: int, density: float, seed: int) -> np.ndarray:
    """``ceil(density * N_in * N_out)`` connections at distinct random places."""
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must be in (0, 1], received {density}")
    rng = np.random.default_rng(seed)
    a = np.zeros(n_in * n_out, np.int64)
    a[rng.choice(a.size, int(np.ceil(density * a.size - 1e-9)), replace=False)] = 1
    return a.reshape(n_out, n_in)


def random_fixed_fan(n_in: int, n_out: int, fan_in: int | None = None,
                     fan_out: int | None = None, seed: int = 0) -> np.ndarray:
    """A random pattern with constant fan-in and fan-out (give either, or both).

    Input "stubs" (each input ``fan_out`` times) are shuffled into the outputs' slots,
    then repeated connections are swapped away with random slots of other outputs. Past
    half density the complement is drawn instead, which keeps the swaps few.
    """
    fi, fo = _check_sizes(n_in, n_out, fan_in, fan_out)
    rng = np.random.default_rng(seed)
    if 2 * fi > n_in:
        if fi == n_in:
            return np.ones((n_out, n_in), np.int64)
        return 1 - random_fixed_fan(n_in, n_out, n_in - fi, n_out - fo, seed)
    slots = rng.permutation(np.repeat(np.arange(n_in), fo)).reshape(n_out, fi)
    count = np.zeros((n_out, n_in), np.int64)
    np.add.at(count, (np.repeat(np.arange(n_out), fi), slots.ravel()), 1)
    tries = 0
    for r in range(n_out):
        for p in range(fi):
            v = slots[r, p]
            while count[r, v] > 1:
                tries += 1
                if tries > 1000 * n_out * fi:
                    raise ValueError(f"could not spread the connections of N_in={n_in}, "
                                     f"N_out={n_out}, fan_in={fi} without repeats")
                r2, p2 = int(rng.integers(n_out)), int(rng.integers(fi))
                w = slots[r2, p2]
                if r2 == r or count[r, w] or count[r2, v]:
                    continue
                slots[r, p], slots[r2, p2] = w, v
                count[r, v] -= 1
                count[r, w] += 1
                count[r2, w] -= 1
                count[r2, v] += 1
                v = w
    return count


def clash_free_order(n_in: int, fan_out: int, z: int, seed: int, kind: int = 2,
                     dither: bool = False) -> np.ndarray:
    """The input read for each of the N_in * fan_out weights, in read order (z per cycle)."""
    if z < 1 or n_in % z:
        raise ValueError(f"z must divide N_in; received N_in={n_in}, z={z}")
    if kind not in (1, 2, 3):
        raise ValueError(f"kind must be 1, 2 or 3, received {kind}")
    rng = np.random.default_rng(seed)
    depth = n_in // z
    sweeps, addresses, memories = [], None, np.arange(z)
    for s in range(fan_out):
        if kind == 1:
            addresses = np.stack([rng.permutation(depth) for _ in range(z)], axis=1)
        elif addresses is None or kind == 2:
            start = rng.integers(depth, size=z)
            addresses = (start[None, :] + np.arange(depth)[:, None]) % depth
        if dither and (s == 0 or kind != 3):
            memories = rng.permutation(z)
        sweeps.append((addresses * z + memories[None, :]).ravel())
    return np.concatenate(sweeps)


def clash_free(n_in: int, n_out: int, fan_out: int, z: int, seed: int, kind: int = 2,
               dither: bool = False, max_tries: int = 100) -> np.ndarray:
    """A clash-free pattern with constant fan-in and fan-out.

    Weight e of the read order connects its input to output ``e // fan_in``. A draw
    that connects an output twice to one input (possible when fan_in does not divide
    N_in) is redrawn, up to ``max_tries`` times.
    """
    fi, fo = _check_sizes(n_in, n_out, None, fan_out)
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n_out), fi)
    for _ in range(max_tries):
        order = clash_free_order(n_in, fo, z, int(rng.integers(2**63 - 1)), kind, dither)
        a = np.zeros((n_out, n_in), np.int64)
        np.add.at(a, (rows, order), 1)
        if a.max() == 1:
            return a
    raise ValueError(f"no clash-free pattern without repeated connections found in "
                     f"{max_tries} draws for N_in={n_in}, N_out={n_out}, fan_out={fo}, z={z}")
