"""Batch benchmark: resbench's Network.solve_batch vs the paper's own code (issue 12 item 5).

Per-sample time at several batch sizes on DRN-XS and DRN-1H, float64 and float32,
one thread and every core, with the agreement of the answers (docs/batch.md).
The paper's code (rain-neuromorphics/energy-based-learning) is loaded from a
checkout: --paper-code DIR or RESBENCH_PAPER_CODE; it needs torch
(pip install -e '.[peers]').  Without either its column says "skipped" and why.

Usage:
  .venv/bin/python scripts/bench_batch.py --paper-code ~/energy-based-learning
  .venv/bin/python scripts/bench_batch.py --quick
Writes results/bench_batch.md and results/bench_batch.json (--out DIR, --stem NAME).
--passive-threads: idle BLAS/OpenMP threads sleep instead of spinning, so that
interleaved calls of two runtimes in one process do not slow each other down.
--b2b K, --b2b-rounds R: after the interleaved repeats, each cell is also timed
back to back (R rounds of K calls of each method in a row, the order rotated per
round; the first call of a block kept apart), as a training loop calls: a second
table.  --b2b 0 turns it off.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resbench.bench.batch_bench import BatchBenchConfig

#: --passive-threads: idle threads sleep instead of spinning (set before numpy/torch load)
PASSIVE_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"}


def _ints(text: str, *, allow_all: bool = False) -> tuple[int, ...]:
    out = []
    for word in text.split(","):
        word = word.strip().lower()
        if allow_all and word == "all":
            out.append(0)
            continue
        try:
            out.append(int(word))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated integers{' or all' if allow_all else ''}, got {word!r}"
            ) from None
    return tuple(out)


def _words(text: str) -> tuple[str, ...]:
    return tuple(w.strip().lower() for w in text.split(",") if w.strip())


def parse(argv: list[str] | None = None) -> tuple[BatchBenchConfig, str, bool, str]:
    """Options → a BatchBenchConfig, the output folder, --passive-threads, --stem."""
    from resbench.bench.batch_bench import DEFAULT, QUICK

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=_ints, help="batch sizes (default 1,32,256,1024)")
    ap.add_argument("--presets", type=_words, help="DRN presets (default xs,1h)")
    ap.add_argument("--dtypes", type=_words, help="float64 and/or float32 (default both)")
    ap.add_argument(
        "--threads",
        type=lambda s: _ints(s, allow_all=True),
        help="thread counts, 'all' = every core (default 1,all)",
    )
    ap.add_argument("--repeats", type=int, help="timed repeats per method, >= 5 (default 5)")
    ap.add_argument("--paper-code", help="checkout of rain-neuromorphics/energy-based-learning")
    ap.add_argument(
        "--paper-iterations", type=int, help="the paper's iterations (default: its own, 4)"
    )
    ap.add_argument(
        "--inputs",
        choices=("digits", "random", "mnist"),
        help="input images (digits): scikit-learn's 8x8 digits resampled to 28x28, uniform\n"
        "random pixels, or MNIST's training images (with --data-dir)",
    )
    ap.add_argument("--data-dir", help="folder with MNIST's IDX files (--inputs mnist)")
    ap.add_argument("--seed", type=int, help="network seed (0)")
    ap.add_argument(
        "--b2b",
        type=int,
        help="calls per back-to-back block, 0 = no back-to-back timing, else >= 2 (default 3)",
    )
    ap.add_argument("--b2b-rounds", type=int, help="rounds of back-to-back blocks (default 3)")
    ap.add_argument("--quick", action="store_true", help="DRN-XS, batches 1 and 32 only")
    ap.add_argument("--out", default="results", help="output folder (results)")
    ap.add_argument("--stem", default="bench_batch", help="file names <stem>.md/.json")
    ap.add_argument(
        "--passive-threads",
        action="store_true",
        help="idle BLAS/OpenMP threads sleep instead of spinning (OMP_WAIT_POLICY=PASSIVE,\n"
        "OPENBLAS_THREAD_TIMEOUT=4): in one process on few cores, one runtime's spinning\n"
        "threads slow the other's; default: every library's own setting",
    )
    ns = ap.parse_args(argv)
    base = QUICK if ns.quick else DEFAULT
    given = {
        "sizes": ns.sizes,
        "presets": ns.presets,
        "dtypes": ns.dtypes,
        "threads": ns.threads,
        "repeats": ns.repeats,
        "paper_code": ns.paper_code,
        "paper_iterations": ns.paper_iterations,
        "inputs": ns.inputs,
        "data_dir": ns.data_dir,
        "seed": ns.seed,
        "b2b": ns.b2b,
        "b2b_rounds": ns.b2b_rounds,
    }
    import dataclasses

    config = dataclasses.replace(base, **{k: v for k, v in given.items() if v is not None})
    return config, ns.out, ns.passive_threads, ns.stem


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--passive-threads" in args:  # before numpy, numba or torch load their thread pools
        for key, value in PASSIVE_ENV.items():
            os.environ[key] = value
    from resbench.bench.batch_bench import run_batch_bench, write_batch_bench
    from resbench.errors import ResbenchError

    try:
        config, out, passive, stem = parse(args)
        result = run_batch_bench(config, log=lambda s: print(s, flush=True))
        result["passive_threads"] = passive
        paths = write_batch_bench(result, out, stem=stem)
    except ResbenchError as exc:
        print(exc.format(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    print(f"wrote {paths['markdown']} and {paths['sidecar']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
