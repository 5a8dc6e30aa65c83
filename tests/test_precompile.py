"""``python -m resbench.precompile``: every declared kernel signature compiled into
numba's cache by several processes at once, each kernel by one of them, so that a
process started after it loads every kernel and compiles none."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from resbench import _jit, precompile


def test_parts_hold_every_signature_once_and_each_kernel_whole() -> None:
    _jit.import_kernel_modules()
    n = len(_jit.SIGNATURES)
    for jobs in (1, 2, 3, 7):
        parts = _jit._parts(jobs)
        assert 1 <= len(parts) <= jobs
        flat = [i for p in parts for i in p]
        assert sorted(flat) == list(range(n))
        owner = {}
        for k, part in enumerate(parts):
            for i in part:
                kernel = id(_jit.SIGNATURES[i][0])
                assert owner.setdefault(kernel, k) == k  # one kernel, one process
        # balanced: no part exceeds another by more than the largest kernel's count
        largest = max(
            sum(1 for d, _ in _jit.SIGNATURES if d is disp) for disp, _ in _jit.SIGNATURES
        )
        sizes = [len(p) for p in parts]
        assert max(sizes) - min(sizes) <= largest


def test_a_process_after_it_compiles_nothing() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "resbench.precompile", "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "kernels compiled or loaded in" in out.stdout
    assert "Warning" not in out.stderr  # (no runpy warning: not run as resbench._jit)
    check = textwrap.dedent(
        """
        from resbench import _jit
        _jit.import_kernel_modules()
        _jit.warm_up()
        kernels = {id(d): d for d, _ in _jit.SIGNATURES}.values()
        misses = sum(sum(d.stats.cache_misses.values()) for d in kernels)
        hits = sum(sum(d.stats.cache_hits.values()) for d in kernels)
        print(misses, hits, len(_jit.SIGNATURES))
        """
    )
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    misses, hits, declared = map(int, out.stdout.split())
    assert misses == 0
    assert hits == declared  # every declared signature came from the cache


def test_a_failed_process_is_an_error_with_its_output(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with pytest.raises(RuntimeError, match="part 0 of 2 exited 1"):
        _jit.compile_all(2)
    assert precompile.main(["--jobs", "2"]) == 1
    assert "error: compiling resbench's kernels failed" in capsys.readouterr().out


def test_jobs_below_one_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        precompile.main(["--jobs", "0"])
    assert exc.value.code == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_function_ids_differ_between_processes() -> None:
    """numba's function ids start at a random number in each process (resbench._jit),
    so that what two processes compile and cache (the precompile's workers, a run that
    compiles an undeclared signature) never shares a symbol name with another body
    (numba issues #10128, #10486: fold_check's np.sort once called another library's
    quicksort)."""
    import subprocess
    import sys

    from resbench import _jit

    assert _jit.UNIQUE_IDS_RANDOMISED
    code = (
        "import resbench._jit\n"
        "from numba.core.bytecode import FunctionIdentity\n"
        "print(next(FunctionIdentity._unique_ids))"
    )
    starts = [
        int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout)
        for _ in range(3)
    ]  # fmt: skip
    assert len(set(starts)) == 3 and min(starts) > 1 << 8
