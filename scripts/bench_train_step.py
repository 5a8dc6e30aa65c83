"""Time one centered-EqProp training step of a DRN (resbench.drn.EqPropStep).

Synthetic MNIST-shaped inputs (784 pixels, ~19 % of them nonzero as in MNIST,
values uniform in (0, 1]; random labels): the step's cost does not depend on
what the digits look like, only on the shapes, the sparsity and the sweeps.
Prints, per (preset, batch, dtype): the median step time over ``--steps`` steps
after ``--warmup`` steps, the phase times, the sweeps, and the epoch time it
extrapolates to (60,000 samples, without test evaluation), in wall-clock time and
in CPU time of this process (all threads: on a shared machine the CPU time is the
closer estimate of an idle machine's wall time when one thread works).

    .venv/bin/python scripts/bench_train_step.py --preset 1h --batch 4 256 --dtype float64 float32
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from resbench.drn import Drn, EqPropStep, preset
from resbench.drn.solver import ensure_compiled


def synthetic(n: int, pixels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, pixels)) * (rng.random((n, pixels)) < 0.19)
    return x, rng.integers(0, 10, n)


def run(
    name: str, batch: int, dtype: str, steps: int, warmup: int, seed: int, prefetch: bool
) -> dict:
    cfg = preset(name)
    d = Drn.from_config(cfg, seed=seed, dtype=dtype)
    step = EqPropStep(d, lr_weights=cfg.lr_weights, lr_biases=cfg.lr_biases, beta=cfg.beta)
    x, y = synthetic(batch * (steps + warmup), cfg.sizes[0] // 2, seed)
    times, cpu, phases, sweeps = [], [], {}, {}
    for i in range(steps + warmup):
        sl = slice(i * batch, (i + 1) * batch)
        t0, c0 = time.perf_counter(), time.process_time()
        nxt = x[sl.stop : sl.stop + batch] if prefetch and i + 1 < steps + warmup else None
        st = step.step(x[sl], y[sl], next_x=nxt)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if i >= warmup:
            times.append(dt)
            cpu.append(dc)
            for k, v in st.times.items():
                phases.setdefault(k, []).append(v)
            for k, v in st.sweeps.items():
                sweeps.setdefault(k, []).append(v / batch)
    med = float(np.median(times))
    return {
        "preset": name,
        "batch": batch,
        "dtype": dtype,
        "next_x": prefetch,
        "step_ms": med * 1e3,
        "step_cpu_ms": float(np.mean(cpu)) * 1e3,
        "phases_ms": {k: float(np.median(v)) * 1e3 for k, v in phases.items()},
        "sweeps_per_sample": {k: float(np.mean(v)) for k, v in sweeps.items()},
        "epoch_s_60k": med * 60000 / batch,
        "epoch_cpu_s_60k": float(np.mean(cpu)) * 60000 / batch,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", nargs="+", default=["1h"])
    ap.add_argument("--batch", nargs="+", type=int, default=[4, 256])
    ap.add_argument("--dtype", nargs="+", default=["float64", "float32"])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the rows to this file")
    ap.add_argument(
        "--no-next",
        action="store_true",
        help="do not pass the next batch to step (its injection then costs a pass of its own)",
    )
    a = ap.parse_args()
    print(f"JIT compile/load: {ensure_compiled():.2f} s")
    rows = []
    for name in a.preset:
        for b in a.batch:
            for dt in a.dtype:
                steps = a.steps if b <= 16 else max(10, a.steps // 10)
                r = run(name, b, dt, steps, min(a.warmup, steps), a.seed, not a.no_next)
                rows.append(r)
                ph = " ".join(f"{k}={v:.2f}" for k, v in r["phases_ms"].items())
                sw = " ".join(f"{k}={v:.1f}" for k, v in r["sweeps_per_sample"].items())
                print(
                    f"DRN-{name.upper()} batch {b:4d} {dt}: step {r['step_ms']:.2f} ms wall, "
                    f"{r['step_cpu_ms']:.2f} ms CPU ({ph} ms; sweeps/sample {sw}) -> epoch of "
                    f"60k ≈ {r['epoch_s_60k']:.1f} s wall, {r['epoch_cpu_s_60k']:.1f} s CPU"
                )
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
