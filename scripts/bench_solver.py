"""Benchmark of the numba CD solver (issue 3's speed figures).

Prints, for this machine:
  * DRN-XS and DRN-1H (one input): setup, solve, total (median of repeats), sweeps;
  * sweep throughput (best and median of 30 timed calls of 3 sweeps) on networks
    of >= 1M free–free resistors: a 710x710 grid without and with clamp diodes,
    a 1414x1414 grid (4M) and a random graph (1M), in resistor updates per
    second and as a fraction of the measured single-core DRAM read bandwidth
    (bytes a sweep must stream / sweep time; above 100 % part of the working
    set stayed in the 32 MiB L3);
  * sweeps to converge on 2-D grids with the automatic omega vs omega = 1;
  * setup time for ~1M resistors.

Usage:  .venv/bin/python scripts/bench_solver.py [--quick]
Compile time (JIT) is measured once and reported on its own line.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from numba import njit

from resbench.generate import drn, grid, random_network
from resbench.solvers import _kernels as kernels
from resbench.solvers.cd import ensure_compiled, solve_cd, sweep_arrays
from resbench.solvers.problem import compile_problem


@njit(cache=True, fastmath=True)
def _read_sum(a):  # pragma: no cover - compiled  (fastmath: vectorised, not add-latency bound)
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i]
    return s


def read_bandwidth(nbytes: int = 800 * 2**20) -> float:
    """Single-core streaming read bandwidth (bytes/s), best of 5."""
    a = np.ones(nbytes // 8)
    _read_sum(a[:10])
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        _read_sum(a)
        best = min(best, time.perf_counter() - t)
    return a.nbytes / best


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def bench_drn(preset: str, repeats: int) -> None:
    c = drn(preset=preset, seed=0)
    sizes = c.sizes()
    runs = [solve_cd(c) for _ in range(repeats + 1)][1:]
    s = runs[-1]
    print(
        f"DRN-{preset.upper()} ({sizes['nodes']} nodes, {sizes['resistors']} resistors, "
        f"{sizes['diodes']} diodes): status {s.status}, {s.sweeps} sweeps, "
        f"setup {1e3 * med([r.timings['setup'] for r in runs]):.2f} ms, "
        f"solve {1e3 * med([r.timings['solve'] for r in runs]):.3f} ms, "
        f"total {1e3 * med([r.timings['total'] for r in runs]):.2f} ms "
        f"(median of {repeats}; ff edges {s.info['ff_edges']})"
    )


def _sweep_times(p, sargs, runs: int = 30, sweeps: int = 3) -> list[float]:
    """Seconds per sweep of `runs` timed calls of `sweeps` sweeps each (ω = 1)."""
    u = p.start.copy()
    kernels.cd_sweeps(*sargs, u, 1.0, 0.0, 1, np.zeros(0), np.zeros(kernels.STATE_LEN))  # warm
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        kernels.cd_sweeps(*sargs, u, 1.0, 0.0, sweeps, np.zeros(0), np.zeros(kernels.STATE_LEN))
        out.append((time.perf_counter() - t) / sweeps)
    return sorted(out)


def bench_throughput(label: str, c, bw: float) -> None:
    """Sweep throughput of the sweep kernel the solver runs on this circuit."""
    t = time.perf_counter()
    p = compile_problem(c)
    setup = time.perf_counter() - t
    sargs = sweep_arrays(p)
    m = p.n_ff_edges
    # bytes a sweep must move at least: per directed edge uint32 index + float64
    # scaled conductance; per node uint32 row pointer, scaled injection q, voltage
    # u three times (its own value read and written back, and gathered once as a
    # neighbour: exact for a grid, where the gathers stream; a random graph
    # re-fetches lines), and lo/hi when the net has bounds.
    nbytes = sargs.deg.nbytes + sargs.idx.nbytes + sargs.g_over_diag.nbytes + sargs.q.nbytes
    nbytes += 3 * p.n * 8 + (2 * p.n * 8 if sargs.bounded else 0)
    ts = _sweep_times(p, sargs)
    best, median = ts[0], ts[len(ts) // 2]
    print(
        f"{label}: {len(c.resistors)} resistors, {m} free-free, {p.n} free nodes, "
        f"bounds {'yes' if sargs.bounded else 'no'}; setup {1e3 * setup:.1f} ms; "
        f"{nbytes / 1e6:.1f} MB moved per sweep (at least)"
    )
    for name, dt in (("best", best), ("median", median)):
        print(
            f"  {name} of {len(ts)}: {1e3 * dt:.2f} ms/sweep = {m / dt / 1e6:.0f} M "
            f"resistor-updates/s ({2 * m / dt / 1e6:.0f} M directed edge reads/s), "
            f"{nbytes / dt / 1e9:.1f} GB/s = {nbytes / dt / bw:.0%} of read bandwidth"
        )


def bench_grid_sweeps(side: int) -> None:
    c = grid(side, side, seed=0, clamps=True)
    a = solve_cd(c)
    b = solve_cd(c, omega=1.0, max_sweeps=20_000)  # capped: ω = 1 is the slow baseline
    print(
        f"grid {side}x{side} with clamps: auto omega={a.info['omega']:.3f}: {a.sweeps} sweeps "
        f"({1e3 * a.timings['solve']:.1f} ms); omega=1: {b.sweeps} sweeps "
        f"({1e3 * b.timings['solve']:.1f} ms); both {a.status}/{b.status}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    t = time.perf_counter()
    ensure_compiled()
    print(f"JIT compile/cache load: {time.perf_counter() - t:.2f} s (not part of any time below)")
    bw = read_bandwidth()
    print(f"single-core memory read bandwidth: {bw / 1e9:.1f} GB/s")
    bench_drn("xs", args.repeats)
    if not args.quick:
        bench_drn("1h", args.repeats)
    side = 300 if args.quick else 710
    bench_throughput(f"grid {side}x{side}", grid(side, side, seed=0, clamps=False), bw)
    bench_throughput(f"grid {side}x{side} + clamps", grid(side, side, seed=0), bw)
    if not args.quick:  # 4M resistors, ~150 MB per sweep: far out of cache
        bench_throughput("grid 1414x1414", grid(1414, 1414, seed=0, clamps=False), bw)
    nodes = 90_000 if args.quick else 500_000
    rnd = random_network(nodes, seed=0, diodes=0.0, vsources=nodes // 1000, isources=0)
    bench_throughput(f"random graph {nodes} nodes", rnd, bw)
    for side in (30, 100) if args.quick else (30, 100, 300):
        bench_grid_sweeps(side)


if __name__ == "__main__":
    main()
