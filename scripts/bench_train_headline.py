"""The paper's headline, measured: a DRN training epoch with resbench vs with ngspice.

The paper (Scellier, ICML 2024; docs/design.md §8) trains DRN-XL (1568-32768-10,
51.7M conductances) with an epoch of ≈ 6.3 min on an A100, ≈ 160× faster than the
SPICE-based epoch of a 327× smaller network (DRN-XS, 1568-100-10, the size of
Kendall et al. 2020's SPICE-simulated network): ≈ 50,000× in network size per
second of epoch.  This script measures the same quantities on this machine, in
one run:

* **ngspice** (``resbench train --simulator ngspice``'s phase solver,
  :class:`resbench.drn.spice.NgspiceSimulator`): centered-EqProp training steps at
  the paper's batch size 4 on ``--spice-limit`` samples of DRN-XS, every phase
  (free, +β, −β) of every sample an ngspice ``op`` (netlist written and parsed once
  per step and phase, sources altered per sample).  Its epoch (60,000 samples × 3
  phases) is **extrapolated** from the measured per-phase costs:
  ``steps · (3 · (write + parse) + update) + 60,000 · 3 · op``.  DRN-1H through
  ngspice (≈ 155 s per op on a quiet machine) only with ``--spice-1h``.
* **resbench** (the exact batched solver, :func:`resbench.drn.solve_drn`): the same
  training steps on each network size of ``--sizes`` for ``--resbench-seconds``
  (at most ``--resbench-samples``, 60,000 = a full epoch); the epoch time is the
  measured per-sample time × 60,000 (measured, not extrapolated, when the whole
  epoch ran).  Interleaved: on DRN-XS each ngspice step is preceded by a chunk of
  resbench steps, so both see the same load.
* **accuracy**: the ngspice-trained weights after the N samples are compared with
  those resbench trains from the same initial weights on the same samples.
* **the headline**: the epoch-time ratio at equal size; the epoch-time ratio of
  ngspice's XS epoch to resbench's epoch of every larger size, times the size ratio
  (the paper's "size per epoch time" gain, 327 × 160 ≈ 52,000 at XL); and the largest
  network resbench would train within ngspice's XS epoch time, from a **fit**
  ``T(n) = a + b · n`` of resbench's epoch time against the conductance count n over
  the measured sizes (extrapolated beyond the largest size measured, and said so).

Inputs: MNIST from ``--data-dir`` (IDX files) when given, else synthetic
MNIST-shaped images (random bytes / 255: denser than MNIST, so every input source
is altered at every sample) — the report says which.  Test-set evaluation is not
part of either epoch time.  Timings include whatever else the machine runs: the
report gives the load average before and after.

Usage::

    .venv/bin/python scripts/bench_train_headline.py                  # the final run
    .venv/bin/python scripts/bench_train_headline.py --quick          # prove the pipeline
    .venv/bin/python scripts/bench_train_headline.py --spice-1h --spice-limit-1h 1

Writes ``<out>/<stem>.md``, ``<stem>.csv`` (one row per network size) and
``<stem>.json`` (sidecar: machine, versions, options, every measurement, the fit).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

EPOCH_SAMPLES = 60_000  # MNIST's training set
PHASES = 3  # free, +beta, -beta
XS_CONDUCTANCES = 1568 * 100 + 100 * 10  # 157,800
#: the paper's figures (docs/design.md §8; A100 GPU vs SPICE)
PAPER = {
    "speedup_per_epoch": 160.0,
    "size_ratio": 327.0,
    "gain": 50_000.0,
    "xl_epoch_s": 6.3 * 60.0,
    "spice_xs_epoch_s": 6.3 * 60.0 * 160.0,  # implied: 160 × the XL epoch
    "a100_1h_epoch_s": (2 * 3600 + 36 * 60) / 50.0,
}
NAMED = {"xs": ("xs", None), "1h": ("1h", None), "xl": ("xl", None)}


# ------------------------------------------------------------------ sizes
def size_config(token: str) -> Any:
    """A network size: ``xs``, ``1h``, ``xl`` (the paper's presets) or an even number h
    (1568-h-10 with DRN-1H's hyperparameters)."""
    from resbench.drn import preset
    from resbench.errors import ResbenchError

    key = token.strip().lower()
    if key in NAMED:
        return preset(key)
    try:
        h = int(key)
    except ValueError:
        raise ResbenchError(
            f"network size {token!r}: use xs, 1h, xl or an even hidden-layer size"
        ) from None
    return preset("1h", hidden=(h,))


def label(cfg: Any) -> str:
    names = {(1568, 100, 10): "DRN-XS", (1568, 1024, 10): "DRN-1H", (1568, 32768, 10): "DRN-XL"}
    return names.get(tuple(cfg.sizes), "-".join(map(str, cfg.sizes)))


def conductances(sizes: tuple[int, ...]) -> int:
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


# ------------------------------------------------------------------ math (tested)
def spice_epoch_seconds(
    per_phase_setup: float, per_op: float, per_step_update: float, batch: int
) -> float:
    """ngspice's extrapolated epoch: ``steps · (3 · setup + update) + 60,000 · 3 · op``
    with ``steps = ceil(60,000 / batch)``; setup = writing + parsing one netlist."""
    steps = math.ceil(EPOCH_SAMPLES / batch)
    return steps * (PHASES * per_phase_setup + per_step_update) + EPOCH_SAMPLES * PHASES * per_op


def fit_linear(n: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """Fit ``t = a + b · n`` (a fixed cost plus work proportional to the conductances)
    by ordinary least squares, with ``a >= 0``; returns (a, b).  Unweighted on purpose:
    the largest sizes dominate, and they are the ones that say what a still larger
    network costs (the fit is used to extrapolate).  ValueError with fewer than two
    distinct sizes."""
    n = np.asarray(n, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if n.shape[0] < 2 or np.unique(n).shape[0] < 2:
        raise ValueError("a fit needs at least two network sizes")
    A = np.stack([np.ones_like(n), n], axis=1)
    (a, b), *_ = np.linalg.lstsq(A, t, rcond=None)
    if a < 0:  # no negative fixed cost: refit through the origin
        a, b = 0.0, float(np.dot(n, t) / np.dot(n, n))
    return float(a), float(b)


def size_within(a: float, b: float, seconds: float) -> float:
    """The conductance count n with ``a + b · n = seconds`` (the fit inverted; NaN when
    the time does not grow with n or the fixed cost alone exceeds ``seconds``)."""
    if not b > 0 or seconds <= a:
        return float("nan")
    return (seconds - a) / b


# ------------------------------------------------------------------ measurement
@dataclass
class Batches:
    """Training batches drawn from a dataset in a fixed order (the same for both)."""

    x: np.ndarray
    y: np.ndarray
    batch: int

    def get(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        n = self.x.shape[0]
        rows = np.arange(i * self.batch, (i + 1) * self.batch) % n
        return self.x[rows], self.y[rows]


def _step(cfg: Any, drn: Any, simulator: Any = None) -> Any:
    from resbench.drn import EqPropStep

    return EqPropStep(
        drn,
        lr_weights=cfg.lr_weights,
        lr_biases=cfg.lr_biases,
        beta=cfg.beta,
        simulator=simulator,
    )


class ResbenchClock:
    """Times resbench training steps on one network, chunk by chunk."""

    def __init__(self, cfg: Any, batches: Batches, dtype: Any, seed: int) -> None:
        from resbench.drn import Drn

        self.cfg = cfg
        self.batches = batches
        self.drn = Drn.from_config(cfg, seed=seed, dtype=dtype)
        self.step = _step(cfg, self.drn)
        self.seconds = 0.0
        self.samples = 0
        self.steps = 0
        self.sweeps = 0
        self.phase_s = dict.fromkeys(("free", "plus", "minus", "update"), 0.0)
        # warm-up (numba compilation, first-touch of the weights): one step on a copy
        warm = _step(cfg, self.drn.copy())
        warm.step(*batches.get(0))

    def run(self, seconds: float, max_samples: int) -> None:
        """Steps until ``seconds`` more have passed or ``max_samples`` were trained."""
        t_end = time.perf_counter() + seconds
        while self.samples < max_samples:
            x, y = self.batches.get(self.steps)
            t0 = time.perf_counter()
            st = self.step.step(x, y)
            self.seconds += time.perf_counter() - t0
            self.samples += st.n
            self.steps += 1
            self.sweeps += sum(st.sweeps.values())
            for k in self.phase_s:
                self.phase_s[k] += st.times.get(k, 0.0)
            if time.perf_counter() >= t_end and self.steps >= 2:
                break

    @property
    def per_sample(self) -> float:
        return self.seconds / max(1, self.samples)


class SpiceRun:
    """ngspice training steps from the network's initial weights, with resbench
    training a copy on the same batches (for the accuracy comparison)."""

    def __init__(self, cfg: Any, batches: Batches, dtype: Any, seed: int, timeout: float) -> None:
        from resbench.drn import Drn
        from resbench.drn.spice import NgspiceSimulator

        self.cfg = cfg
        self.batches = batches
        self.init = Drn.from_config(cfg, seed=seed, dtype=dtype)
        self.sim = NgspiceSimulator(timeout=timeout)
        self.drn = self.init.copy()
        self.twin = self.init.copy()
        self.step = _step(cfg, self.drn, self.sim)
        self.twin_step = _step(cfg, self.twin)
        self.wall = 0.0
        self.update = 0.0
        self.samples = 0
        self.steps = 0
        self.residual = 0.0

    def one_step(self, i: int) -> None:
        x, y = self.batches.get(i)
        t0 = time.perf_counter()
        st = self.step.step(x, y)
        self.wall += time.perf_counter() - t0
        self.update += st.times.get("update", 0.0)
        self.samples += st.n
        self.steps += 1
        self.twin_step.step(x, y)

    def per_phase_setup(self) -> float:
        s = self.sim.stats
        return (s["build"] + s["load_wall"]) / max(1.0, s["loads"])

    def per_op(self) -> float:
        s = self.sim.stats
        return s["ops"] / max(1.0, s["samples"])

    def agreement(self) -> dict[str, float]:
        """max |W_ngspice − W_resbench| after the same steps, and the largest weight
        change of those steps (for scale)."""

        def most(xs: list[np.ndarray], ys: list[np.ndarray]) -> float:
            return max(float(np.abs(a - b).max()) for a, b in zip(xs, ys, strict=True))

        dw = most(self.drn.weights, self.twin.weights)
        db = most(self.drn.biases, self.twin.biases)
        moved = most(self.twin.weights, self.init.weights)
        return {"max_dw": dw, "max_db": db, "max_step_dw": moved}


# ------------------------------------------------------------------ the run
def load_inputs(data_dir: str | None, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    from resbench.train.data import load_mnist, load_synthetic

    if data_dir:
        data = load_mnist(data_dir)
    else:
        data = load_synthetic(seed, n_train=2048, n_test=1)
    x = data.images(test=False, dtype=np.float64)
    return x, np.asarray(data.y_train), data.describe().get("source", data.name)


def run(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    from resbench.bench.results import machine_fingerprint

    dtype = np.dtype(args.dtype)
    x, y, source = load_inputs(args.data_dir, args.seed)
    batches = Batches(x, y, args.batch_size)
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    spice_sizes = {"xs": args.spice_limit}
    if args.spice_1h:
        spice_sizes["1h"] = args.spice_limit_1h
    log(f"inputs: {source}; machine: {machine_fingerprint().get('cpu')}")
    for token in args.sizes:
        cfg = size_config(token)
        n = conductances(cfg.sizes)
        row: dict[str, Any] = {
            "network": label(cfg),
            "sizes": "-".join(map(str, cfg.sizes)),
            "conductances": n,
            "size_vs_xs": n / XS_CONDUCTANCES,
        }
        t0 = time.perf_counter()
        clock = ResbenchClock(cfg, batches, dtype, args.seed)
        spice_limit = spice_sizes.get(token.strip().lower())
        spice = None
        if spice_limit:
            # interleaved: a resbench chunk before each ngspice step (same load)
            spice_batches = Batches(x, y, min(args.batch_size, spice_limit))
            spice = SpiceRun(cfg, spice_batches, dtype, args.seed, args.spice_timeout)
            n_steps = math.ceil(spice_limit / spice_batches.batch)
            chunk = args.resbench_seconds / (n_steps + 1)
            for i in range(n_steps):
                clock.run(chunk, args.resbench_samples)
                log(f"  {row['network']}: ngspice step {i + 1}/{n_steps} …")
                spice.one_step(i)
                log(
                    f"  {row['network']}: ngspice {spice.per_op():.3g} s/op, "
                    f"setup {spice.per_phase_setup():.3g} s/phase"
                )
            clock.run(chunk, args.resbench_samples)
        else:
            clock.run(args.resbench_seconds, args.resbench_samples)
        full = clock.samples >= EPOCH_SAMPLES
        row.update(
            resbench_samples=clock.samples,
            resbench_s_per_sample=clock.per_sample,
            resbench_epoch_s=clock.per_sample * EPOCH_SAMPLES,
            resbench_epoch_kind="measured" if full else f"scaled from {clock.samples} samples",
            resbench_sweeps_per_sample=clock.sweeps / max(1, clock.samples),
            resbench_free_s=clock.phase_s["free"] / max(1, clock.samples),
            resbench_nudged_s=(clock.phase_s["plus"] + clock.phase_s["minus"])
            / max(1, clock.samples),
            resbench_update_s=clock.phase_s["update"] / max(1, clock.samples),
        )
        if spice is not None:
            st = spice.sim.stats
            per_step_update = spice.update / max(1, spice.steps)
            epoch = spice_epoch_seconds(
                spice.per_phase_setup(), spice.per_op(), per_step_update, args.batch_size
            )
            row.update(
                spice_samples=spice.samples,
                spice_batch=spice.batches.batch,
                spice_s_per_sample_measured=spice.wall / max(1, spice.samples),
                spice_setup_s_per_phase=spice.per_phase_setup(),
                spice_write_s_per_phase=st["build"] / max(1.0, st["loads"]),
                spice_parse_s_per_phase=st["load_wall"] / max(1.0, st["loads"]),
                spice_op_s=spice.per_op(),
                spice_analysis_s=st["analysis"] / max(1.0, st["samples"]),
                spice_s_per_sample_batch4=epoch / EPOCH_SAMPLES,
                spice_epoch_s=epoch,
                spice_epoch_kind=f"extrapolated from {spice.samples} samples",
                ratio_epoch=epoch / row["resbench_epoch_s"],
                **spice.agreement(),
            )
        row["wall_s"] = time.perf_counter() - t0
        log(
            f"{row['network']}: resbench {clock.per_sample * 1e3:.3g} ms/sample "
            f"({clock.samples} samples)"
            + (f", ngspice {row['spice_s_per_sample_batch4']:.3g} s/sample" if spice else "")
        )
        rows.append(row)
    return {
        "rows": rows,
        "inputs": source,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }


def headline(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The paper's three numbers from the measured rows (see the module docstring)."""
    xs = next((r for r in rows if r["network"] == "DRN-XS" and "spice_epoch_s" in r), None)
    out: dict[str, Any] = {"paper": PAPER}
    if xs is None:
        return out
    t_spice = xs["spice_epoch_s"]
    out["spice_xs_epoch_s"] = t_spice
    out["resbench_xs_epoch_s"] = xs["resbench_epoch_s"]
    out["ratio_at_xs"] = t_spice / xs["resbench_epoch_s"]
    per_size = []
    for r in rows:
        speed = t_spice / r["resbench_epoch_s"]
        per_size.append(
            {
                "network": r["network"],
                "conductances": r["conductances"],
                "size_vs_xs": r["size_vs_xs"],
                "resbench_epoch_s": r["resbench_epoch_s"],
                "measured": r["resbench_epoch_kind"] == "measured",
                "speedup_vs_spice_xs": speed,
                "gain": speed * r["size_vs_xs"],
            }
        )
    out["per_size"] = per_size
    ns = np.array([r["conductances"] for r in rows])
    ts = np.array([r["resbench_epoch_s"] for r in rows])
    if np.unique(ns).shape[0] >= 2:
        a, b = fit_linear(ns, ts)
        n_star = size_within(a, b, t_spice)
        pred = a + b * ns
        out["fit"] = {
            "model": "resbench epoch seconds = a + b * conductances (ordinary least "
            "squares, a >= 0)",
            "a": a,
            "b": b,
            "max_relative_misfit": float(np.max(np.abs(pred - ts) / ts)),
            "sizes_fitted": [int(v) for v in ns],
            "largest_measured": int(ns.max()),
            "n_within_spice_xs_epoch": n_star,
            "size_ratio": n_star / XS_CONDUCTANCES,
            "extrapolated_beyond_measured": bool(n_star > ns.max()),
            "weights_memory_gb": n_star * 8 * 2 / 1e9,
        }
    return out


# ------------------------------------------------------------------ report
def _fmt_s(s: float | None) -> str:
    if s is None or not np.isfinite(s):
        return ""
    if s >= 86400:
        return f"{s / 86400:.3g} d"
    if s >= 3600:
        return f"{s / 3600:.3g} h"
    if s >= 60:
        return f"{s / 60:.3g} min"
    if s >= 1:
        return f"{s:.3g} s"
    return f"{s * 1e3:.3g} ms"


def _load(avg: Any) -> str:
    return ", ".join(f"{v:.2f}" for v in avg)


def _load_warning(result: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    """A warning line when the 1-minute load average exceeded the core count."""
    cores = (meta.get("machine") or {}).get("cores") or os.cpu_count() or 1
    worst = max(result["load_average_before"][0], result["load_average_after"][0])
    if worst <= cores:
        return []
    return [
        "",
        f"**Taken under load**: the 1-minute load average reached {worst:.1f} on "
        f"{cores} cores, so both sides ran slower than on a quiet machine (ngspice runs "
        "on one core, resbench on all); rerun on a quiet machine for final numbers.",
    ]


def markdown(result: dict[str, Any], meta: dict[str, Any], head: dict[str, Any]) -> str:
    from resbench.bench.results import machine_line, markdown_escape

    rows = result["rows"]
    lines = [
        "# The paper's headline, measured: a DRN training epoch, resbench vs ngspice",
        "",
        f"Command: `{markdown_escape(meta['command'])}`  ",
        machine_line(meta) + "  ",
        "Load average (1, 5, 15 min) before / after: "
        f"{_load(result['load_average_before'])} / {_load(result['load_average_after'])} "
        "(timings include whatever else ran).  ",
        f"Inputs: {result['inputs']}.  Batch size {meta['options']['batch_size']}, "
        f"{meta['options']['dtype']}, centered EqProp (free, +β, −β), the paper's "
        "hyperparameters per preset; test-set evaluation is not in either epoch time.",
        *_load_warning(result, meta),
        "",
        "## Per network size",
        "",
        "| network | conductances | resbench per sample | resbench epoch (60,000) | "
        "ngspice per op | ngspice write + parse per phase | ngspice epoch (60,000 × 3 phases) "
        "| ngspice / resbench | max \\|ΔW\\| ngspice vs resbench (step's max \\|ΔW\\|) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        spice = "spice_epoch_s" in r
        kind = "" if r["resbench_epoch_kind"] == "measured" else f" ({r['resbench_epoch_kind']})"
        cells = [
            r["network"],
            f"{r['conductances']:,}",
            _fmt_s(r["resbench_s_per_sample"]),
            _fmt_s(r["resbench_epoch_s"]) + kind,
            _fmt_s(r.get("spice_op_s")) if spice else "not run",
            _fmt_s(r.get("spice_setup_s_per_phase")) if spice else "",
            (
                f"**{_fmt_s(r['spice_epoch_s'])}** (extrapolated from "
                f"{r['spice_samples']} sample{'s' if r['spice_samples'] != 1 else ''})"
            )
            if spice
            else "",
            f"{r['ratio_epoch']:,.0f}×" if spice else "",
            f"{r['max_dw']:.2g} ({r['max_step_dw']:.2g})" if spice else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Headline beside the paper's (A100 GPU vs SPICE, docs/design.md §8)", ""]
    if "spice_xs_epoch_s" not in head:
        lines.append("ngspice did not run on DRN-XS: no headline (add xs to --sizes).")
        return "\n".join(lines) + "\n"
    t_spice = head["spice_xs_epoch_s"]
    lines += [
        f"ngspice's DRN-XS epoch: **{_fmt_s(t_spice)}, extrapolated** (paper's SPICE XS "
        f"epoch, implied by 160 × its 6.3 min XL epoch: {_fmt_s(PAPER['spice_xs_epoch_s'])}).",
        "",
        "| network | size vs XS | resbench epoch | ngspice XS epoch / resbench epoch "
        "| size × speed gain | paper |",
        "|---|---|---|---|---|---|",
    ]
    for p in head["per_size"]:
        paper = ""
        if p["network"] == "DRN-XL":
            paper = "327× larger, 160× faster, ≈ 50,000× (epoch 6.3 min on an A100)"
        elif p["network"] == "DRN-1H":
            paper = f"A100 epoch ≈ {_fmt_s(PAPER['a100_1h_epoch_s'])} (incl. test)"
        lines.append(
            f"| {p['network']} | {p['size_vs_xs']:,.3g}× | {_fmt_s(p['resbench_epoch_s'])}"
            f"{'' if p['measured'] else ' (scaled)'} | "
            f"{p['speedup_vs_spice_xs']:,.0f}× | **{p['gain']:,.0f}×** | {paper} |"
        )
    fit = head.get("fit")
    if fit and np.isfinite(fit["n_within_spice_xs_epoch"]):
        beyond = (
            f"a fit extrapolated far beyond the largest size measured "
            f"({fit['largest_measured']:,} conductances): its weights alone would take "
            f"≈ {fit['weights_memory_gb']:,.0f} GB (weights and update, float64), so memory, "
            "not time, bounds the network resbench can train here"
            if fit["extrapolated_beyond_measured"]
            else "within the measured range"
        )
        lines += [
            "",
            f"Largest network resbench trains within ngspice's XS epoch time: "
            f"**≈ {fit['n_within_spice_xs_epoch']:.3g} conductances, "
            f"{fit['size_ratio']:,.3g}× DRN-XS** — from the fit "
            f"T(n) = {fit['a']:.3g} s + {fit['b']:.3g} s · n of resbench's epoch time over "
            f"{len(fit['sizes_fitted'])} measured sizes (largest misfit "
            f"{fit['max_relative_misfit']:.0%}); {beyond}.",
        ]
    elif fit:
        lines += [
            "",
            "No fit of resbench's epoch time against the size: it does not grow with the "
            "conductance count over the sizes measured (overheads dominate; add larger "
            "--sizes).",
        ]
    lines += [
        "",
        "How it is measured (scripts/bench_train_headline.py): ngspice solves every phase "
        "of every sample (its ideal diodes as switches, ron 1e-5 Ω / roff 1e12 Ω); the "
        "netlist is written and parsed once per step and phase and each sample only "
        "alters the sources and reruns `op` (resbench.drn.spice).  ngspice's epoch = "
        "steps × (3 × (write + parse) + update) + 60,000 × 3 × op, from the measured "
        "means.  resbench's epoch = its measured time per sample × 60,000 (measured "
        "directly when a whole epoch ran).  Weights: after the same samples from the "
        "same initial weights, the ngspice-trained and resbench-trained conductances "
        "differ by the max |ΔW| shown (the switch model's error, tests/test_train_spice.py).",
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ main
def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--sizes",
        default="xs,256,1h,4096,16384,xl",
        help="network sizes: xs, 1h, xl or a hidden size h (1568-h-10); default "
        "xs,256,1h,4096,16384,xl",
    )
    ap.add_argument("--spice-limit", type=int, default=4, help="ngspice samples on XS (4)")
    ap.add_argument("--spice-1h", action="store_true", help="also run DRN-1H through ngspice")
    ap.add_argument("--spice-limit-1h", type=int, default=1, help="ngspice samples on 1H (1)")
    ap.add_argument("--spice-timeout", type=float, default=3600.0, help="seconds per ngspice op")
    ap.add_argument(
        "--resbench-seconds", type=float, default=60.0, help="resbench time per size (60)"
    )
    ap.add_argument(
        "--resbench-samples",
        type=int,
        default=EPOCH_SAMPLES,
        help="resbench samples per size at most (60000: a full epoch)",
    )
    ap.add_argument("--batch-size", type=int, default=4, help="the paper's 4")
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    ap.add_argument("--data-dir", help="MNIST IDX files (else synthetic MNIST-shaped inputs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="xs,256 with 4 s of resbench each")
    ap.add_argument("--out", default="results", help="output folder (results)")
    ap.add_argument("--stem", default="train_headline", help="file names <stem>.md/.csv/.json")
    ap.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: recompute the headline from <out>/<stem>.json, rewrite .md",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes = "xs,256"
        args.resbench_seconds = min(args.resbench_seconds, 4.0)
    args.sizes = [s for s in args.sizes.split(",") if s.strip()]
    for name in ("spice_limit", "spice_limit_1h", "batch_size", "resbench_samples"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.spice_1h and "1h" not in [s.lower() for s in args.sizes]:
        args.sizes.append("1h")
    return args


def render(out: Path, stem: str) -> int:
    """Recompute the headline and rewrite ``<stem>.md`` from the measurements in
    ``<stem>.json`` (no new run)."""
    import json

    from resbench.bench.results import atomic_write_json, atomic_write_text

    meta = json.loads((out / f"{stem}.json").read_text())
    result = {k: meta[k] for k in ("rows", "inputs", "load_average_before", "load_average_after")}
    meta["headline"] = headline(meta["rows"])
    text = markdown(result, meta, meta["headline"])
    atomic_write_json(out / f"{stem}.json", meta)
    atomic_write_text(out / f"{stem}.md", text)
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    from resbench.bench.results import (
        atomic_write_csv,
        atomic_write_json,
        atomic_write_text,
        command_line,
        output_lock,
        sidecar,
    )
    from resbench.errors import ResbenchError

    args = parse(sys.argv[1:] if argv is None else argv)
    out = Path(args.out)
    if args.render:
        return render(out, args.stem)
    try:
        for token in args.sizes:
            size_config(token)  # bad sizes fail before any work
        result = run(args, lambda s: print(s, flush=True))
        head = headline(result["rows"])
        meta = sidecar(
            command=command_line(),
            extra={
                "run": "train_headline",
                "options": {k: v for k, v in vars(args).items()},
                "epoch_samples": EPOCH_SAMPLES,
                "inputs": result["inputs"],
                "load_average_before": result["load_average_before"],
                "load_average_after": result["load_average_after"],
                "rows": result["rows"],
                "headline": head,
            },
        )
        text = markdown(result, meta, head)
        out.mkdir(parents=True, exist_ok=True)
        with output_lock(out):
            atomic_write_csv(out / f"{args.stem}.csv", pd.DataFrame(result["rows"]))
            meta["files"] = {"table": f"{args.stem}.csv", "report": f"{args.stem}.md"}
            atomic_write_json(out / f"{args.stem}.json", meta)
            atomic_write_text(out / f"{args.stem}.md", text)
    except ResbenchError as exc:
        print(exc.format(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    print(text)
    print(f"wrote {out / (args.stem + '.md')}, .csv and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
