"""Benchmark of the setup (issue 16 part 3): compile_problem and sweep_arrays.

For each network, old and new in turn (interleaved, the order alternating), in one
process: the multi-pass setup that the fused kernels replaced (``old_compile_problem``
and ``old_sweep_arrays`` of tests/test_problem_setup.py, which checks that both build
the same Problem bit for bit) against the current one.  Prints min and median of the
wall time and of the thread's CPU time (``time.thread_time``: on a shared machine it
leaves out the time other processes ran), the page faults of one call, and the load.

Networks: a 707×707 grid without clamps (998k resistors, all free–free but the four
corners'), DRN-1H (808k resistors, 5k free–free) and the 300×300 grid with clamps.

``--netlists DIR``: compile_problem on each netlist of DIR with ideal diodes (parsed
once) by its one-call path (``problem._compile_small``, what compile_problem runs up to
``problem.SMALL_SIZE`` elements) and by its large path, interleaved: min and median
of the per-call time (``timeit``, batches of calls).

Usage:  .venv/bin/python scripts/bench_setup.py [--repeats 10] [--only grid707,drn1h,grid300c]
        .venv/bin/python scripts/bench_setup.py --netlists netlists/ [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_problem_setup import old_compile_problem, old_sweep_arrays  # noqa: E402

from resbench.generate import drn, grid  # noqa: E402
from resbench.solvers import problem as _problem  # noqa: E402
from resbench.solvers.cd import ensure_compiled, sweep_arrays  # noqa: E402
from resbench.solvers.problem import compile_problem  # noqa: E402

_IS_SMALL = _problem._is_small

NETWORKS = {
    "grid707": lambda: grid(707, 707, seed=0, clamps=False),
    "drn1h": lambda: drn(preset="1h", seed=0),
    "grid300c": lambda: grid(300, 300, seed=0),
}


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def bench(name: str, repeats: int) -> None:
    circuit = NETWORKS[name]()
    versions = {
        "old": (old_compile_problem, old_sweep_arrays),
        "new": (compile_problem, sweep_arrays),
    }
    times: dict[str, list[float]] = {}
    faults: dict[str, int] = {}
    for r in range(repeats + 1):  # the first round warms up and is not counted
        order = ["old", "new"] if r % 2 else ["new", "old"]
        for tag in order:
            comp, sweep = versions[tag]
            f0, w0, c0 = _faults(), time.perf_counter(), time.thread_time()
            p = comp(circuit)
            f1, w1, c1 = _faults(), time.perf_counter(), time.thread_time()
            s = sweep(p)
            w2, c2 = time.perf_counter(), time.thread_time()
            if r:
                for key, v in (
                    ("setup wall", w1 - w0),
                    ("setup cpu", c1 - c0),
                    ("sweep_arrays wall", w2 - w1),
                    ("sweep_arrays cpu", c2 - c1),
                ):
                    times.setdefault(f"{tag} {key}", []).append(v)
                faults[tag] = f1 - f0
            del p, s
    sizes = circuit.sizes()
    print(f"{name}: {sizes['resistors']:,} resistors, {sizes['nodes']:,} nodes")
    for key in sorted(times):
        v = times[key]
        print(
            f"  {key:22s} min {1e3 * min(v):8.2f} ms  median {1e3 * statistics.median(v):8.2f} ms"
            f"  (n={len(v)})"
        )
    print(f"  page faults of the last setup: old {faults['old']:,}, new {faults['new']:,}")


def bench_netlists(folder: str, repeats: int) -> None:
    """Per netlist: compile_problem's one-call path against its large path."""
    from resbench.diodes import has_models
    from resbench.errors import ResbenchError
    from resbench.netlist.parser import read_netlist

    print(f"{'netlist':24s} {'elements':>8s}   one-call min / median   large path min / median")
    for path in sorted(Path(folder).glob("*.cir")):
        try:
            circuit = read_netlist(path)
        except ResbenchError:
            continue
        if has_models(circuit):
            continue
        paths = {"one-call": True, "large": False}
        times: dict[str, list[float]] = {k: [] for k in paths}
        try:
            for r in range(repeats + 1):
                for tag in list(paths) if r % 2 else list(paths)[::-1]:
                    _problem._is_small = lambda c, small=paths[tag]: small
                    number = max(1, int(2e-2 / max(_one_call(circuit), 1e-7)))
                    t = timeit.timeit(lambda c=circuit: compile_problem(c), number=number)
                    if r:
                        times[tag].append(t / number)
        except ResbenchError as e:  # a netlist the setup rejects: its error, as solve says
            print(f"{path.name:24s} error: {e}")
            continue
        finally:
            _problem._is_small = _IS_SMALL
        n = circuit.n_nodes + len(circuit.resistors) + len(circuit.diodes)
        cols = "   ".join(
            f"{1e6 * min(v):8.1f} / {1e6 * statistics.median(v):8.1f} µs" for v in times.values()
        )
        print(f"{path.name:24s} {n:8,d}   {cols}")


def _one_call(circuit) -> float:
    """Seconds of one compile_problem call (to size the timeit batches)."""
    t = time.perf_counter()
    compile_problem(circuit)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--only", default=",".join(NETWORKS), help="comma-separated networks")
    ap.add_argument("--netlists", metavar="DIR", help="time the bundled netlists instead")
    args = ap.parse_args()
    ensure_compiled()
    if args.netlists:
        bench_netlists(args.netlists, args.repeats)
    else:
        for name in args.only.split(","):
            bench(name, args.repeats)
    print("load average (1, 5, 15 min):", ", ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
