"""``python -m resbench.precompile [--jobs N]``: compile every declared numba kernel
into numba's on-disk cache, in N processes at once (:func:`resbench._jit.compile_all`).

On a fresh clone, compilation is most of a first run's time: about 6 minutes of one
core for every kernel.  ``make test`` and ``make demo`` run this first, so that their
processes load the kernels from the cache; run it yourself after changing a kernel,
or before timing anything.  On a warm cache it only loads them (a few seconds)."""

from __future__ import annotations

import argparse
import os
import time

from resbench._jit import compile_all


def cores() -> int:
    """The cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover - not Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m resbench.precompile",
        description="Compile resbench's numba kernels into numba's cache, in parallel.",
    )
    parser.add_argument(
        "--jobs", type=int, default=cores(), help="processes (default: the cores usable)"
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    t = time.perf_counter()
    try:
        compile_all(args.jobs)
    except RuntimeError as exc:
        print(f"error: {exc}")
        return 1
    print(f"resbench: kernels compiled or loaded in {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
