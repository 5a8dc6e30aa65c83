"""Side by side on one machine: a centered-EqProp training step of resbench.drn and of
the paper's own code (rain-neuromorphics/energy-based-learning), same weights, same batches.

For each (preset, batch, dtype) both trainings start from the SAME initial weights
(``Drn.from_config``, loaded into the paper's ``DeepResistiveEnergy`` in its own layout)
and train on the SAME synthetic MNIST-shaped batches (seeded; as
scripts/bench_train_step.py: 784 pixels, ~19 % nonzero, random labels).  The steps are
INTERLEAVED: ``--chunk`` resbench steps, then ``--chunk`` paper steps on the same
batches, repeated, so that a change in the machine's load hits both alike; ``--warmup``
steps of each come first and are not timed.  resbench's JIT compile is timed on its own
line, never inside a step.

The paper's step is its ``Trainer.run`` body (training/epoch.py) with its own objects, as
``papers/fast-drn/drn.py`` builds them: ``network.set_input(x, reset=False)``, its
inference ``QuadraticMinimizer`` (mode 'asynchronous', the preset's iterations: 4 for
XS / 1H), ``cost.set_target``, ``EquilibriumProp`` (variant 'centered', nudging β) over an
``AugmentedFunction`` with its own training ``QuadraticMinimizer``, ``.grad`` set, its
``Optimizer`` (SGD with the per-layer learning rates) ``step()``, then every parameter's
``clamp_()``.  Nothing of the paper's code is copied: it is imported from its checkout
(``--paper-code DIR`` or ``RESBENCH_PAPER_CODE``), as resbench.bench.paper does.

Both use the same thread count (``--threads``, default: every core): torch's intra-op
threads, numba's threads and the BLAS pools (threadpoolctl).  Reported: median time per
step of each, the epoch (60,000 samples, no test evaluation) it extrapolates to, the
ratio paper / resbench, and after all the steps, max |ΔW| between the two trainings'
weights (they differ: the paper runs a fixed number of relaxation iterations, resbench
solves each phase exactly; reported, not asserted).

    .venv/bin/python scripts/bench_train_paper.py --preset xs 1h --batch 4 256 \\
        --dtype float64 float32 --out results/bench_train_paper
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from resbench.bench import paper
from resbench.drn import Drn, EqPropStep, preset
from resbench.drn.solver import ensure_compiled

EPOCH = 60_000


def synthetic(n: int, pixels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-shaped inputs (~19 % nonzero pixels in (0, 1]) and random labels."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, pixels)) * (rng.random((n, pixels)) < 0.19)
    return x, rng.integers(0, 10, n)


@contextlib.contextmanager
def _tensorboard_stand_in() -> Iterator[None]:
    """training/monitor.py imports ``torch.utils.tensorboard.SummaryWriter`` at its top
    (its Monitor logs with it); the step uses only its ``Optimizer``, a torch SGD.  When
    tensorboard is not installed, an empty module stands in for the import's duration."""
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        name = "torch.utils.tensorboard"
        stand_in = types.ModuleType(name)
        stand_in.SummaryWriter = None  # type: ignore[attr-defined]
        sys.modules[name] = stand_in
        try:
            yield
        finally:
            sys.modules.pop(name, None)
        return
    yield


class PaperTrainer:
    """The paper's objects for one training run, built as papers/fast-drn/drn.py builds
    them, with ``drn``'s weights and biases; :meth:`step` is one Trainer.run iteration."""

    def __init__(self, code: Any, drn: Drn, cfg: Any, iterations: int, torch_dtype: Any):
        torch = code.torch
        with paper._checkout_on_path(code.root), _tensorboard_stand_in():
            from model.function.cost import SquaredError
            from training.monitor import Optimizer
            from training.sgd import AugmentedFunction, EquilibriumProp
        self.torch, self.dtype = torch, torch_dtype
        side = int(round(np.sqrt(drn.pixels)))
        img = (side, side) if side * side == drn.pixels else (drn.pixels,)
        self.img = img
        shapes = [(2, *img)] + [(n,) for n in drn.sizes[1:]]
        energy = code.DeepResistiveEnergy(shapes, list(cfg.weight_gains), drn.input_gain)
        arrays = drn.biases + [
            w.reshape(shapes[k] + shapes[k + 1]) for k, w in enumerate(drn.weights)
        ]
        for p, a in zip(energy.params(), arrays, strict=True):
            p.state = torch.tensor(np.ascontiguousarray(a, dtype=np.float64), dtype=torch_dtype)
        cost = SquaredError(energy.layers()[-1])
        self.network = code.Network(energy)
        free_layers = self.network.free_layers()
        augmented = AugmentedFunction(energy, cost)
        training = code.QuadraticMinimizer(augmented, free_layers)
        training.num_iterations = iterations
        training.mode = "asynchronous"
        self.estimator = EquilibriumProp(
            energy.params(), energy.layers(), augmented, cost, training
        )
        self.estimator.nudging = cfg.beta
        self.estimator.variant = "centered"
        self.inference = code.QuadraticMinimizer(energy, free_layers)
        self.inference.num_iterations = iterations
        self.inference.mode = "asynchronous"
        self.params = energy.params()
        lrs = list(cfg.lr_biases) + list(cfg.lr_weights)
        self.optimizer = Optimizer(energy, cost, lrs, 0.0, 0.0)
        self.cost = cost
        self.n_weights = len(drn.weights)
        self.sizes = drn.sizes

    def tensors(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        """A batch in the paper's dataloader form: ``[B, 1, 28, 28]`` and int64 labels."""
        t = self.torch.tensor(x.reshape(x.shape[0], 1, *self.img), dtype=self.dtype)
        return t, self.torch.tensor(y, dtype=self.torch.int64)

    def step(self, x: Any, y: Any) -> None:
        """training/epoch.py Trainer.run's loop body (statistics left out)."""
        self.network.set_input(x, reset=False)
        self.inference.compute_equilibrium()
        self.cost.set_target(y)
        grads = self.estimator.compute_gradient()
        for param, grad in zip(self.params, grads, strict=True):
            param.state.grad = grad
        self.optimizer.step()
        for param in self.params:
            param.clamp_()

    def weights(self) -> list[np.ndarray]:
        """The weight matrices, flattened to resbench's ``[sizes[k], sizes[k+1]]``."""
        ws = self.params[-self.n_weights :]
        return [
            p.state.detach().cpu().numpy().astype(np.float64).reshape(n, -1)
            for p, n in zip(ws, self.sizes[:-1], strict=True)
        ]


def set_threads(code: Any, n: int) -> dict:
    """The same thread count for torch, numba and the BLAS pools; what each now has."""
    import numba
    from threadpoolctl import threadpool_info, threadpool_limits

    code.torch.set_num_threads(n)
    numba.set_num_threads(n)
    threadpool_limits(n)
    return {
        "torch": code.torch.get_num_threads(),
        "torch_interop": code.torch.get_num_interop_threads(),
        "numba": numba.get_num_threads(),
        "numba_layer": numba.threading_layer() if _numba_ran() else "not yet chosen",
        "blas": [
            {k: i.get(k) for k in ("internal_api", "num_threads", "filepath")}
            for i in threadpool_info()
        ],
    }


def _numba_ran() -> bool:
    import numba

    try:
        numba.threading_layer()
    except ValueError:
        return False
    return True


def run(code: Any, name: str, batch: int, dtype: str, a: argparse.Namespace) -> dict:
    cfg = preset(name)
    iterations = {"xs": 4, "1h": 4, "xl": 4, "2h": 5, "3h": 6}[name]
    torch = code.torch
    tdt = {"float64": torch.float64, "float32": torch.float32}[dtype]
    steps = a.steps if batch <= 16 else a.steps_large
    chunk = min(a.chunk, steps)
    warmup = a.warmup if batch <= 16 else a.warmup_large
    total = warmup + steps
    d = Drn.from_config(cfg, seed=a.seed, dtype=dtype)
    ours = EqPropStep(d, lr_weights=cfg.lr_weights, lr_biases=cfg.lr_biases, beta=cfg.beta)
    x, y = synthetic(batch * (total + 1), cfg.sizes[0] // 2, a.seed + 1)
    with paper._torch_settings(torch, tdt, a.threads):
        theirs = PaperTrainer(code, d, cfg, iterations, tdt)
        # the paper's dataloader hands tensors; making them is not part of its step
        px = [
            theirs.tensors(x[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch])
            for i in range(total)
        ]

        def ours_step(i: int) -> float:
            sl = slice(i * batch, (i + 1) * batch)
            nxt = x[sl.stop : sl.stop + batch] if i + 1 < total else None
            t0 = time.perf_counter()
            ours.step(x[sl], y[sl], next_x=nxt)
            return time.perf_counter() - t0

        def paper_step(i: int) -> float:
            t0 = time.perf_counter()
            theirs.step(*px[i])
            return time.perf_counter() - t0

        for i in range(warmup):  # warm-up, interleaved too, not timed
            ours_step(i)
            paper_step(i)
        t_ours: list[float] = []
        t_paper: list[float] = []
        i = warmup
        while i < total:
            j = min(i + chunk, total)
            t_ours += [ours_step(k) for k in range(i, j)]
            t_paper += [paper_step(k) for k in range(i, j)]
            i = j
        dw = [
            float(np.max(np.abs(w.astype(np.float64) - p)))
            for w, p in zip(d.weights, theirs.weights(), strict=True)
        ]
        wmax = [float(np.max(np.abs(w))) for w in d.weights]
    mo, mp = float(np.median(t_ours)), float(np.median(t_paper))
    return {
        "preset": name,
        "net": f"DRN-{name.upper()}",
        "sizes": list(cfg.sizes),
        "batch": batch,
        "dtype": dtype,
        "paper_iterations": iterations,
        "steps_timed": steps,
        "warmup": warmup,
        "chunk": chunk,
        "resbench_step_ms": mo * 1e3,
        "paper_step_ms": mp * 1e3,
        "resbench_step_ms_quartiles": [float(q) * 1e3 for q in np.percentile(t_ours, [25, 75])],
        "paper_step_ms_quartiles": [float(q) * 1e3 for q in np.percentile(t_paper, [25, 75])],
        "resbench_epoch_s": mo * EPOCH / batch,
        "paper_epoch_s": mp * EPOCH / batch,
        "ratio_paper_over_resbench": mp / mo,
        "steps_trained_each": total,
        "max_abs_dW": dw,
        "max_abs_W": wmax,
    }


def versions(code: Any) -> dict:
    import numba

    import resbench

    head = "unknown (the checkout has no .git)"
    try:
        head = (Path(code.root) / ".git" / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = Path(code.root) / ".git" / head[5:]
            head = ref.read_text().strip() if ref.exists() else head
    except OSError:
        pass
    return {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "numba": numba.__version__,
        "torch": code.torch.__version__,
        "resbench": getattr(resbench, "__version__", "?"),
        "paper_code": str(code.root),
        "paper_code_commit": head,
    }


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_before": list(os.getloadavg()),
    }


def markdown(rec: dict) -> str:
    th = rec["threads"]
    blas = ", ".join(f"{b['internal_api']}={b['num_threads']}" for b in th["blas"]) or "none"
    lines = [
        "# resbench vs the paper's code: one centered-EqProp training step, side by side",
        "",
        f"Command: `{rec['command']}`",
        "",
        f"Machine: {rec['machine']['cpu']}, {rec['machine']['cores']} cores, "
        f"{rec['machine']['platform']}. Load average before / after: "
        f"{', '.join(f'{v:.2f}' for v in rec['machine']['load_before'])} / "
        f"{', '.join(f'{v:.2f}' for v in rec['load_after'])}.",
        "",
        f"Threads (both): torch {th['torch']} (inter-op {th['torch_interop']}), "
        f"numba {th['numba']} ({th['numba_layer']}), BLAS {blas}.",
        "",
        f"Versions: {', '.join(f'{k} {v}' for k, v in rec['versions'].items())}.",
        "",
        f"resbench JIT compile/load (not in any step): {rec['jit_s']:.2f} s.",
        "",
        "Synthetic MNIST-shaped batches (784 pixels, ~19 % nonzero, random labels), the same "
        "for both, from the same initial weights; steps interleaved in chunks; median of the "
        "timed steps; epoch = 60,000 samples extrapolated (no test evaluation).",
        "",
        "| net | batch | dtype | resbench ms/step | paper ms/step | paper / resbench | "
        "resbench epoch s | paper epoch s | steps | max abs ΔW after all steps (per layer) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rec["rows"]:
        dw = ", ".join(f"{v:.2g}" for v in r["max_abs_dW"])
        lines.append(
            f"| {r['net']} | {r['batch']} | {r['dtype']} | {r['resbench_step_ms']:.2f} | "
            f"{r['paper_step_ms']:.2f} | **{r['ratio_paper_over_resbench']:.1f}×** | "
            f"{r['resbench_epoch_s']:.1f} | {r['paper_epoch_s']:.1f} | "
            f"{r['steps_timed']} (+{r['warmup']}) | {dw} |"
        )
    lines += [
        "",
        "ΔW: the two trainings' weights after the same steps on the same batches. They "
        "differ because the paper relaxes each phase with a fixed number of asynchronous "
        "iterations (4 for XS / 1H) while resbench solves each phase exactly; reported, "
        "not asserted (max |W| per layer: see the JSON).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", nargs="+", default=["xs", "1h"])
    ap.add_argument("--batch", nargs="+", type=int, default=[4, 256])
    ap.add_argument("--dtype", nargs="+", default=["float64", "float32"])
    ap.add_argument("--steps", type=int, default=60, help="timed steps at batch <= 16")
    ap.add_argument("--steps-large", type=int, default=10, help="timed steps at batch > 16")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps at batch <= 16")
    ap.add_argument("--warmup-large", type=int, default=1, help="untimed steps at batch > 16")
    ap.add_argument("--chunk", type=int, default=10, help="steps of one before the other")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--paper-code", default=None, help=f"the checkout (else ${paper.ENV_VAR})")
    ap.add_argument("--out", help="write OUT.md and OUT.json")
    a = ap.parse_args()
    try:
        code = paper.load_paper_code(a.paper_code or os.environ.get(paper.ENV_VAR))
    except paper.PaperCodeUnavailable as exc:
        print(f"skipped: {exc}")
        return
    mach = machine()
    threads = set_threads(code, a.threads)
    jit = ensure_compiled()
    print(f"JIT compile/load: {jit:.2f} s (not in any step)")
    rows = []
    for name in a.preset:
        for b in a.batch:
            for dt in a.dtype:
                r = run(code, name, b, dt, a)
                rows.append(r)
                print(
                    f"{r['net']} batch {b:4d} {dt}: resbench {r['resbench_step_ms']:.2f} ms/step "
                    f"(epoch {r['resbench_epoch_s']:.1f} s), paper {r['paper_step_ms']:.2f} "
                    f"ms/step (epoch {r['paper_epoch_s']:.1f} s): paper/resbench "
                    f"{r['ratio_paper_over_resbench']:.1f}x; max|dW| "
                    + ", ".join(f"{v:.2g}" for v in r["max_abs_dW"]),
                    flush=True,
                )
    threads = set_threads(code, a.threads)  # numba's threading layer is known now
    print(
        f"threads: torch {threads['torch']}, numba {threads['numba']} "
        f"({threads['numba_layer']}), BLAS "
        + ", ".join(f"{b['internal_api']}={b['num_threads']}" for b in threads["blas"])
    )
    rec = {
        "command": " ".join([".venv/bin/python", *sys.argv]),
        "machine": mach,
        "load_after": list(os.getloadavg()),
        "threads": threads,
        "versions": versions(code),
        "jit_s": jit,
        "epoch_samples": EPOCH,
        "rows": rows,
    }
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out + ".json").write_text(json.dumps(rec, indent=1) + "\n")
        Path(a.out + ".md").write_text(markdown(rec))
        print(f"wrote {a.out}.md and {a.out}.json")


if __name__ == "__main__":
    main()
