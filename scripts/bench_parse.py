#!/usr/bin/env python3
"""Parse benchmark: how long resbench takes to read a large netlist, and its peak memory.

Generates a random sparse resistor network (``--resistors`` resistors on
``resistors / 5`` nodes, a few voltage and current sources, values written with
SPICE suffixes) to a temporary file, then parses it with ``read_netlist`` in a
fresh child process and prints one line: parse wall time and CPU time (CPU time
is the steadier figure on a shared machine), peak RSS of the child (VmHWM, which
includes the Python interpreter and numpy), and the RSS it had before parsing.

    python scripts/bench_parse.py                     # 1,000,000 resistors
    python scripts/bench_parse.py --resistors 100000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

# VmHWM (peak RSS of this process image) rather than ru_maxrss: Linux carries
# ru_maxrss across fork+exec, so it would report the parent's size.
CHILD = r"""
import json, sys, time
def hwm():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM"))
import resbench.netlist as rn
before = hwm()
t0, c0 = time.perf_counter(), time.process_time()
c = rn.read_netlist(sys.argv[1])
t1, c1 = time.perf_counter(), time.process_time()
print(json.dumps({"seconds": t1 - t0, "cpu": c1 - c0, "peak_kib": hwm(),
                  "before_kib": before, "sizes": c.sizes()}))
"""


def make_netlist(path: str, n_res: int, seed: int = 0) -> int:
    """Write a random connected sparse resistor network; return its size in bytes."""
    rng = np.random.default_rng(seed)
    n_nodes = max(2, n_res // 5)
    # a spanning chain keeps every node connected, the rest are random edges
    a = np.empty(n_res, dtype=np.int64)
    b = np.empty(n_res, dtype=np.int64)
    chain_len = min(n_res, n_nodes - 1)
    a[:chain_len] = np.arange(1, chain_len + 1)
    b[:chain_len] = np.arange(0, chain_len)
    rest = n_res - chain_len
    a[chain_len:] = rng.integers(0, n_nodes, rest)
    b[chain_len:] = (a[chain_len:] + rng.integers(1, n_nodes, rest)) % n_nodes
    mant = np.round(rng.uniform(1.0, 999.0, n_res), 2)
    units = np.array(["", "k", "meg", "m"], dtype=object)
    suffix = rng.choice(units, n_res, p=[0.4, 0.4, 0.1, 0.1])
    names = [f"n{i}" if i else "0" for i in range(n_nodes)]
    lines = ["* resbench parse benchmark: random sparse resistor network"]
    lines.extend(
        f"R{i} {names[x]} {names[y]} {m:g}{s}"
        for i, (x, y, m, s) in enumerate(
            zip(a.tolist(), b.tolist(), mant.tolist(), suffix.tolist(), strict=True)
        )
    )
    for k in range(4):
        lines.append(f"V{k} {names[1 + k]} 0 DC {k + 1}")
        lines.append(f"I{k} 0 {names[n_nodes // 2 + k]} {k + 1}mA")
    lines += [".op", ".end", ""]
    text = "\n".join(lines)
    with open(path, "w") as fh:
        fh.write(text)
    return len(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resistors", type=int, default=1_000_000, help="number of resistors")
    ap.add_argument("--repeat", type=int, default=1, help="parse this many times (fresh child)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", metavar="PATH", help="also keep the generated netlist here")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or os.path.join(tmp, "bench.cir")
        t0 = time.perf_counter()
        size = make_netlist(path, args.resistors, args.seed)
        gen = time.perf_counter() - t0
        results = []
        for _ in range(args.repeat):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, path], capture_output=True, text=True, check=False
            )
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                return 1
            results.append(json.loads(out.stdout))
    secs = sorted(r["seconds"] for r in results)
    cpu = sorted(r["cpu"] for r in results)
    peak = max(r["peak_kib"] for r in results) / 1024
    before = results[0]["before_kib"] / 1024
    s = results[0]["sizes"]
    print(
        f"parse {args.resistors:,} resistors ({size / 1e6:.1f} MB, {s['nodes']:,} nodes): "
        f"median {secs[len(secs) // 2]:.2f} s (min {secs[0]:.2f}, max {secs[-1]:.2f}, "
        f"n={len(secs)}; CPU median {cpu[len(cpu) // 2]:.2f} s), "
        f"peak RSS {peak:.0f} MiB (process before parse {before:.0f} MiB); "
        f"generated in {gen:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
