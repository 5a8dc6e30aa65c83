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

``--cold N``: the first call in a fresh process, which the interleaved loop above never
sees (its repeats reuse memory the allocator already holds).  N child processes per
network, old and new alternating; each compiles the kernels on a tiny grid, then times
one setup of the network: wall, user and system CPU time (the system time is the kernel
mapping and zeroing the setup's fresh pages), page faults, and, right after, the wall
time of touching a fresh buffer as large as the Problem's arrays (``fresh memory``:
what the kernel charges for that many new pages at that moment, the floor that no
setup writing those arrays can go below in a fresh process).

Usage:  .venv/bin/python scripts/bench_setup.py [--repeats 10] [--only grid707,drn1h,grid300c]
        .venv/bin/python scripts/bench_setup.py --netlists netlists/ [--repeats 7]
        .venv/bin/python scripts/bench_setup.py --cold 10 [--only grid707]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
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


def _cold_child(tag: str, name: str) -> None:
    """One fresh process: time the first setup of network ``name`` by ``tag``'s version
    (numba kernels loaded first, on a tiny grid through the large path); print one JSON line."""
    import numpy as np

    from resbench.solvers import _memory

    comp = {"old": old_compile_problem, "new": compile_problem}[tag]
    circuit = NETWORKS[name]()
    ensure_compiled()
    _problem._is_small = lambda c: False  # the tiny grid through the large path: its
    comp(grid(60, 60, seed=0, clamps=False))  # kernels load or compile; ~1 MB, freed
    _problem._is_small = _IS_SMALL
    r0, f0, w0 = resource.getrusage(resource.RUSAGE_SELF), _faults(), time.perf_counter()
    p = comp(circuit)
    w1, r1, f1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF), _faults()
    nbytes = sum(v.nbytes for v in vars(p).values() if isinstance(v, np.ndarray))
    t = time.perf_counter()
    buf = _memory.empty(nbytes, np.uint8)
    buf[::4096] = 1
    fresh = time.perf_counter() - t
    row = {
        "wall": w1 - w0,
        "user": r1.ru_utime - r0.ru_utime,
        "sys": r1.ru_stime - r0.ru_stime,
        "faults": f1 - f0,
        "mib": nbytes / 2**20,
        "fresh": fresh,
    }
    print(json.dumps(row))


def bench_cold(name: str, count: int) -> None:
    """``count`` fresh processes per version, alternating: the first setup in each."""
    rows: dict[str, list[dict]] = {"old": [], "new": []}
    for k in range(2 * count):
        tag = ("new", "old")[k % 2]
        out = subprocess.run(
            [sys.executable, __file__, "--child", f"{tag}:{name}"],
            capture_output=True,
            text=True,
            check=True,
        )
        rows[tag].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{name}: first setup in a fresh process, {count} processes per version")
    for tag, rs in rows.items():
        each = ", ".join(
            f"{1e3 * r['wall']:.0f} ({1e3 * r['sys']:.0f}/{1e3 * r['fresh']:.0f})" for r in rs
        )
        print(f"  {tag} each: wall (sys / fresh) ms: {each}")
        for key in ("wall", "user", "sys", "fresh"):
            v = [r[key] for r in rs]
            print(
                f"  {tag} {key:6s} min {1e3 * min(v):8.2f} ms  median "
                f"{1e3 * statistics.median(v):8.2f} ms  max {1e3 * max(v):8.2f} ms"
            )
        print(f"  {tag} faults {rs[-1]['faults']:,}, Problem arrays {rs[-1]['mib']:.1f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--only", default=",".join(NETWORKS), help="comma-separated networks")
    ap.add_argument("--netlists", metavar="DIR", help="time the bundled netlists instead")
    ap.add_argument("--cold", type=int, metavar="N", help="first calls in N fresh processes")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        tag, name = args.child.split(":")
        _cold_child(tag, name)
        return
    if args.cold:
        for name in args.only.split(","):
            bench_cold(name, args.cold)
        print("load average (1, 5, 15 min):", ", ".join(f"{x:.2f}" for x in os.getloadavg()))
        return
    ensure_compiled()
    if args.netlists:
        bench_netlists(args.netlists, args.repeats)
    else:
        for name in args.only.split(","):
            bench(name, args.repeats)
    print("load average (1, 5, 15 min):", ", ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
