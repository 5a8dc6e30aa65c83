"""ngspice children and work folders when resbench itself is killed (issue 10, item 5).

Real processes: a ``resbench compare`` is started on a netlist ngspice needs
seconds for, killed with SIGKILL or SIGTERM as soon as its ngspice child is
running, and then no ngspice child may survive, and no work folder may remain
(SIGTERM) or survive the next run (SIGKILL: no handler sees it, the next run
sweeps it away).  Every wait is bounded; nothing here measures a duration.
"""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from resbench.generate import grid
from resbench.netlist import write_netlist
from resbench.solvers import ngspice as ng

pytestmark = pytest.mark.spice  # every test here runs ngspice

WAIT = 120.0  # bound of every wait (seconds); the waits end as soon as the event happens
CLI = [sys.executable, "-m", "resbench.cli.main"]


def _slow_netlist(tmp_path: Path) -> Path:
    """A 90×90 mesh: ngspice takes several seconds, cd milliseconds."""
    path = tmp_path / "mesh90.cir"
    path.write_text(write_netlist(grid(90, 90, clamps=False)))
    return path


def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE  # dead, not yet reaped by init
    except psutil.NoSuchProcess:
        return True


def _wait_until(cond, what: str, timeout: float = WAIT) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            pytest.fail(f"not after {timeout:g} s: {what}")
        time.sleep(0.05)


def _ngspice_child(parent: subprocess.Popen, mode: str) -> psutil.Process:
    """Wait for the ngspice process (batch) or the worker holding libngspice (shared)."""
    found: list[psutil.Process] = []

    def look() -> bool:
        if parent.poll() is not None:
            pytest.fail(f"resbench exited ({parent.returncode}) before ngspice started")
        try:
            kids = psutil.Process(parent.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return False
        for kid in kids:
            try:
                cmd = " ".join(kid.cmdline())
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            if (mode == "batch" and kid.name() == "ngspice") or (
                mode == "shared" and "_ngspice_worker.py" in cmd
            ):
                found.append(kid)
                return True
        return False

    _wait_until(look, "an ngspice child of resbench")
    return found[0]


def _folders(pid: int) -> list[str]:
    return glob.glob(os.path.join(tempfile.gettempdir(), f"resbench-ngspice-{pid}-*"))


def _start_compare(netlist: Path, mode: str, tmp_path: Path) -> subprocess.Popen:
    log = open(tmp_path / "compare.log", "wb")  # noqa: SIM115 - closed by the caller's wait
    cmd = [
        *CLI,
        "compare",
        "--spice-mode",
        mode,
        "--warmup",
        "0",
        "--repeats",
        "1",
        "--no-files",
        str(netlist),
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    log.close()
    return proc


@pytest.mark.parametrize("mode", ["batch", "shared"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_resbench_leaves_no_ngspice_and_no_folder(
    tmp_path: Path, mode: str, sig: signal.Signals
) -> None:
    proc = _start_compare(_slow_netlist(tmp_path), mode, tmp_path)
    try:
        child = _ngspice_child(proc, mode)
        pgid = os.getpgid(child.pid)
        assert pgid == child.pid != os.getpgid(proc.pid)  # its own process group
        folders = _folders(proc.pid)
        assert len(folders) == 1, folders  # the folder names carry the owner's pid
        os.kill(proc.pid, sig)
        rc = proc.wait(timeout=WAIT)
    finally:
        if proc.poll() is None:  # pragma: no cover - only when an assertion failed
            proc.kill()
            proc.wait()
    _wait_until(lambda: _gone(child), f"ngspice child {child.pid} to die with resbench")
    leftover = [p for p in psutil.process_iter() if _pgid(p.pid) == pgid and not _gone(p)]
    assert not leftover, leftover
    if sig == signal.SIGTERM:
        assert rc == 143, (tmp_path / "compare.log").read_text()
        assert "Traceback" not in (tmp_path / "compare.log").read_text()
        assert not _folders(proc.pid)
        return
    assert rc == -signal.SIGKILL
    assert _folders(proc.pid) == folders  # nothing could remove it...
    old = time.time() - 3600  # ...and a while later
    os.utime(folders[0], (old, old))
    code = (
        "from resbench.netlist import parse_netlist\n"
        "from resbench.solvers.ngspice import solve_ngspice\n"
        "c = parse_netlist('t\\nV1 a 0 1\\nR1 a 0 1k\\n.end\\n')\n"
        f"assert solve_ngspice(c, mode={mode!r}).status == 'converged'\n"
    )
    subprocess.run([sys.executable, "-c", code], timeout=WAIT, check=True)
    assert not _folders(proc.pid)  # the next run that uses ngspice swept it away


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


# ----------------------------------------------------------------- the sweep itself
def _dead_pid() -> int:
    """A pid that no process has now (a child that has been reaped)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert not psutil.pid_exists(p.pid)
    return p.pid


def _make(directory: Path, name: str, age: float) -> Path:
    path = directory / name
    path.mkdir()
    (path / "stderr.log").write_text("x")
    t = time.time() - age
    os.utime(path, (t, t))
    return path


def test_sweep_removes_only_stale_folders_of_dead_owners(tmp_path: Path) -> None:
    ns = ng._pid_namespace()
    dead, me = _dead_pid(), os.getpid()
    stale = _make(tmp_path, f"resbench-ngspice-{dead}-{ns}-abc_12", 3600)
    young = _make(tmp_path, f"resbench-ngspice-{dead}-{ns}-young1", 0)
    alive = _make(tmp_path, f"resbench-ngspice-{me}-{ns}-mine_1", 3600)
    other_ns = _make(tmp_path, f"resbench-ngspice-{dead}-{ns + 1}-other1", 3600)
    old_style = _make(tmp_path, "resbench-ngspice-k2j4h5g6", 3600)
    not_ours = _make(tmp_path, f"something-{dead}-{ns}-abc", 3600)
    target = _make(tmp_path, "target", 0)
    link = tmp_path / f"resbench-ngspice-{dead}-{ns}-link_1"
    link.symlink_to(target, target_is_directory=True)
    plain = tmp_path / f"resbench-ngspice-{dead}-{ns}-file_1"
    plain.write_text("a file, not a folder")
    removed = ng.sweep_stale_workdirs(tmp_path)
    assert removed == [str(stale)]
    assert not stale.exists()
    for kept in (young, alive, other_ns, old_style, not_ours, target, link, plain):
        assert os.path.lexists(kept), kept
    assert (target / "stderr.log").exists()  # a link is never followed


def test_sweep_of_a_missing_directory_is_a_no_op(tmp_path: Path) -> None:
    assert ng.sweep_stale_workdirs(tmp_path / "missing") == []


def test_work_folders_carry_the_owner_pid_and_go_away(tmp_path: Path) -> None:
    path = ng._make_workdir()
    try:
        name = os.path.basename(path)
        assert name.startswith(f"resbench-ngspice-{os.getpid()}-{ng._pid_namespace()}-")
        assert ng._WORKDIR_NAME.match(name)
        assert path in ng._LIVE_DIRS
    finally:
        ng._remove_workdir(path)
    assert not os.path.exists(path) and path not in ng._LIVE_DIRS


def test_batch_run_removes_its_folder_and_forgets_its_child() -> None:
    from resbench.netlist import parse_netlist

    c = parse_netlist("t\nV1 a 0 1\nR1 a 0 1k\n.end\n")
    before = set(_folders(os.getpid()))
    sol = ng.solve_ngspice(c, mode="batch")
    assert sol.status == "converged"
    assert set(_folders(os.getpid())) == before
    assert sol.info["ngspice_pid"] not in ng._LIVE_PROCS


def test_a_forked_child_leaves_the_parents_worker_and_folder_alone() -> None:
    """A fork (multiprocessing, say) inherits the worker object; shutting it down there
    must neither kill the parent's worker nor remove its folder."""
    from resbench.netlist import parse_netlist

    c = parse_netlist("t\nV1 a 0 1\nR1 a 0 1k\n.end\n")
    assert ng.solve_ngspice(c).status == "converged"
    worker = ng.get_worker()
    pid, folder = worker.pid, worker._workdir
    assert folder is not None and os.path.isdir(folder)
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            ng.shutdown_worker()
            ng.kill_children()
        finally:
            os._exit(0)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert os.path.isdir(folder) and worker.alive() and worker.pid == pid
    assert ng.solve_ngspice(c).status == "converged"
