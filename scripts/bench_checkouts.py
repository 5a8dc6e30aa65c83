"""Paired batch timings of several checkouts of resbench, one process per checkout in turn.

Two versions of the same package cannot be imported into one process, so each
checkout runs in its own process (``PYTHONPATH`` pointing at it), the checkouts in
rotated order round after round, all on the same generated networks and inputs.
Per case and checkout: the median over rounds of each round's median per-sample
time of ``Network.solve_batch(certify=False)`` and ``(certify=True)`` (every sample
certified; a round fails if one is not), and the certificate's cost as a multiple
of the solve.  This is how docs/batch.md's "three checkouts in turn" figures were
made; the batch benchmark (scripts/bench_batch.py) compares with the paper's code.

    git worktree add /tmp/before c4f3ab2
    .venv/bin/python scripts/bench_checkouts.py --checkout before=/tmp/before \\
        --checkout now=. --rounds 4 1h:256:random:float64 1h:1024:digits:float64

A case is ``PRESET:BATCH:INPUTS:DTYPE`` (INPUTS ``digits`` or ``random``, as
scripts/bench_batch.py's ``--inputs``), on both cores (``threads=2``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def measure(cases: list[str], calls: int) -> dict[str, list[float]]:
    """Per case: median µs per sample without and with the certificate (this
    process's resbench)."""
    from resbench.batch import Network
    from resbench.bench import batch_bench as bb
    from resbench.bench.paper import export_paper_params
    from resbench.generate import DEFAULT_GAINS, drn

    out: dict[str, list[float]] = {}
    for case in cases:
        preset, batch, inputs, dtype = case.split(":")
        B = int(batch)
        c = drn(preset=preset, seed=0)
        net = Network(c, inputs=export_paper_params(c).input_names)
        if inputs == "random":
            pixels = np.random.default_rng([0, 7]).random((B, 784))
        else:
            pixels = bb.digits_pixels(784, B)
        vals = bb.input_values(pixels, DEFAULT_GAINS[preset])
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(2):  # warm-up (JIT loaded, maps and buffers made)
            for cert in (False, True):
                net.solve_batch(vals, certify=cert, threads=2, dtype=dtype)
        for i in range(calls):
            for cert in (False, True) if i % 2 else (True, False):
                t = time.perf_counter()
                r = net.solve_batch(vals, certify=cert, threads=2, dtype=dtype)
                times[cert].append(time.perf_counter() - t)
                if cert and not r.certificate.ok.all():
                    raise SystemExit(f"{case}: a sample was not certified")
        out[case] = [float(np.median(times[k])) / B * 1e6 for k in (False, True)]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="+", help="PRESET:BATCH:INPUTS:DTYPE (1h:256:random:float64)")
    ap.add_argument("--checkout", action="append", default=[], metavar="NAME=DIR")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--calls", type=int, default=8, help="timed calls per case and round")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args.cases, args.calls)))
        return 0
    if not args.checkout or args.rounds < 1 or args.calls < 1:
        ap.error("give at least one --checkout NAME=DIR, --rounds >= 1 and --calls >= 1")
    checkouts = []
    for spec in args.checkout:
        name, _, folder = spec.partition("=")
        path = Path(folder).resolve()
        if not name or not (path / "resbench" / "__init__.py").is_file():
            ap.error(f"--checkout {spec!r}: expected NAME=DIR with DIR a resbench checkout")
        checkouts.append((name, path))
    rows: dict[str, dict[str, list[list[float]]]] = {c: {} for c in args.cases}
    for r in range(args.rounds):
        for j in range(len(checkouts)):
            name, path = checkouts[(j + r) % len(checkouts)]
            env = dict(os.environ, PYTHONPATH=str(path))
            cmd = [sys.executable, __file__, "--worker", "--calls", str(args.calls), *args.cases]
            done = subprocess.run(cmd, env=env, cwd=path, capture_output=True, text=True)
            if done.returncode:
                print(f"{name}: round {r + 1} failed:\n{done.stderr.strip()}", file=sys.stderr)
                return 1
            for case, value in json.loads(done.stdout.strip().splitlines()[-1]).items():
                rows[case].setdefault(name, []).append(value)
    print(f"median over {args.rounds} rounds, µs per sample: solve / solve + certificate (cost)")
    for case, by in rows.items():
        print(case)
        for name, values in by.items():
            v = np.array(values)
            a, b = np.median(v[:, 0]), np.median(v[:, 1])
            print(f"  {name:12s} {a:8.1f} / {b:8.1f} ({(b - a) / a:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
