"""The ngspice child processes: the shared-library worker and the children's lifecycle.

Split from :mod:`resbench.solvers.ngspice` (which re-exports every public name here)
so that module holds the netlist, rawfile and result mapping, and this one the
process management: starting and stopping the long-lived worker
(:class:`NgspiceWorker`, :func:`get_worker`, :func:`shutdown_worker`), the
``prctl(PR_SET_PDEATHSIG)`` ``preexec_fn`` that makes Linux kill every child with
resbench, the SIGTERM handler, the private work folders
(``$TMPDIR/resbench-ngspice-<pid>-<pid namespace>-<random>``) and the sweep of those
left by a resbench killed by SIGKILL (:func:`sweep_stale_workdirs`).  The batch mode
(``ngspice -b``) in :mod:`resbench.solvers.ngspice` uses the same helpers
(:func:`_make_workdir`, :func:`_die_with_parent_preexec`, :data:`_LIVE_PROCS`,
:func:`_kill_group`, :func:`_remove_workdir`) so no child or folder escapes either.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import pickle
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from resbench.errors import SolverError

STARTUP_TIMEOUT = 120.0
_HEADER_SIZE = 8


# The worker runs as a script (not ``-m``): importing the resbench package would cost the
# child the numeric stack; run_path keeps sys.path[0] = '' (its private directory).
_WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_ngspice_worker.py")
_WORKER_BOOT = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"


#: A work folder younger than this (seconds since its last change) is never swept.
STALE_AGE = 10.0
_WORKDIR_PREFIX = "resbench-ngspice-"
# resbench-ngspice-<owner pid>-<owner's pid namespace>-<mkdtemp's random part>
_WORKDIR_NAME = re.compile(r"^resbench-ngspice-([0-9]+)-([0-9]+)-[a-z0-9_]+$")
_PR_SET_PDEATHSIG = 1
# The worker reads the pid it must die with from this variable (see _ngspice_worker.py).
PARENT_ENV = "RESBENCH_NGSPICE_PARENT"


class WorkerTimeout(Exception):
    """The worker did not answer in time (it has been killed)."""


class WorkerCrashed(Exception):
    """The worker died while serving a request (it has been reaped)."""


# --------------------------------------------------------------------------- worker
class NgspiceWorker:
    """A child process that holds libngspice, in its own session / process group.

    ``request(msg, timeout)`` sends one request and waits for the answer; on
    timeout the whole process group is killed and :class:`WorkerTimeout` is
    raised; if the child dies, :class:`WorkerCrashed` is raised with its exit
    status and the tail of its stderr.  The next request starts a fresh child.
    """

    def __init__(self, library: str | None = None) -> None:
        self.library = library
        self.proc: subprocess.Popen | None = None
        self._workdir: str | None = None
        self._stderr_path: str | None = None
        self._owner = os.getpid()
        self._lock = threading.Lock()
        self.version: int | None = None
        self.starts = 0

    # ---------------------------------------------------------------- state
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self._owner == os.getpid()

    def start(self, timeout: float = STARTUP_TIMEOUT) -> float:
        """Start the child and load the library; returns the seconds it took."""
        from resbench.env import find_ngspice_library

        t0 = time.perf_counter()
        self.close()
        library = self.library or find_ngspice_library()
        if not library:
            raise SolverError(
                "ngspice shared library not found (Debian: apt-get install libngspice0-dev), "
                "or set NGSPICE_LIBRARY_PATH"
            )
        env = dict(os.environ)
        env["NGSPICE_LIBRARY_PATH"] = library
        env[PARENT_ENV] = str(os.getpid())
        env.setdefault("PYTHONUNBUFFERED", "1")
        # ngspice reads .spiceinit from the current directory: give it a private one.
        self._workdir = _make_workdir()
        self._stderr_path = os.path.join(self._workdir, "stderr.log")
        with open(self._stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _WORKER_BOOT, _WORKER_SCRIPT],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=self._workdir,
                env=env,
                start_new_session=True,
                close_fds=True,
                preexec_fn=_die_with_parent_preexec(),
            )
        _LIVE_PROCS[self.proc.pid] = (os.getpid(), self.proc)
        self._owner = os.getpid()
        self.starts += 1
        os.set_blocking(self.proc.stdin.fileno(), False)
        try:
            reply = self._roundtrip({"op": "ping"}, timeout)
        except WorkerTimeout:
            raise SolverError(f"ngspice worker did not start within {timeout:g} s") from None
        except WorkerCrashed as exc:
            raise SolverError(f"ngspice worker did not start: {exc}") from None
        if not reply.get("ok"):
            err = reply.get("error", "unknown error")
            self.close()
            raise SolverError(f"ngspice worker could not load libngspice: {err}")
        self.version = reply.get("version")
        return time.perf_counter() - t0

    def request(self, msg: dict, timeout: float) -> dict:
        """Send one request, wait at most ``timeout`` seconds for its answer."""
        with self._lock:
            if not self.alive():
                self.start()
            return self._roundtrip(msg, timeout)

    def close(self) -> None:
        """Stop the child (politely, then by killing its process group)."""
        proc, self.proc = self.proc, None
        if proc is not None and self._owner == os.getpid():
            try:
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                pass
            _kill_group(proc)
            try:
                proc.stdout.close()
            except OSError:
                pass
        if self._workdir is not None:
            if self._owner == os.getpid():  # a forked copy must not remove its parent's
                _remove_workdir(self._workdir)
            self._workdir = None

    # ------------------------------------------------------------- transport
    def _roundtrip(self, msg: dict, timeout: float) -> dict:
        proc = self.proc
        assert proc is not None
        deadline = time.monotonic() + max(float(timeout), 0.0)
        body = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self._write(proc, len(body).to_bytes(_HEADER_SIZE, "big") + body, deadline)
            head = self._read(proc, _HEADER_SIZE, deadline)
            reply = pickle.loads(self._read(proc, int.from_bytes(head, "big"), deadline))
        except WorkerTimeout:
            _kill_group(proc)
            self.close()
            raise
        except WorkerCrashed as exc:
            message = self._death_message(proc, str(exc))
            self.close()
            raise WorkerCrashed(message) from None
        except BaseException:  # e.g. Ctrl-C mid-request: its reply would confuse the next one
            _kill_group(proc)
            self.close()
            raise
        return reply

    def _write(self, proc: subprocess.Popen, data: bytes, deadline: float) -> None:
        fd = proc.stdin.fileno()
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimeout()
            _, w, _ = select.select([], [fd], [], min(remaining, 1.0))
            if not w:
                if proc.poll() is not None:
                    raise WorkerCrashed("worker exited")
                continue
            try:
                n = os.write(fd, view[: 1 << 20])
            except BlockingIOError:
                continue
            except (BrokenPipeError, OSError):
                raise WorkerCrashed("worker closed its input") from None
            view = view[n:]

    def _read(self, proc: subprocess.Popen, n: int, deadline: float) -> bytes:
        fd = proc.stdout.fileno()
        buf = bytearray()
        while len(buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimeout()
            r, _, _ = select.select([fd], [], [], remaining)
            if not r:
                raise WorkerTimeout()
            chunk = os.read(fd, min(n - len(buf), 1 << 22))
            if not chunk:
                raise WorkerCrashed("worker closed its output")
            buf += chunk
        return bytes(buf)

    def _death_message(self, proc: subprocess.Popen, what: str) -> str:
        try:
            rc = proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            rc = proc.wait()
        if rc is not None and rc < 0:
            try:
                status = f"killed by {signal.Signals(-rc).name}"
            except ValueError:
                status = f"killed by signal {-rc}"
        else:
            status = f"exit status {rc}"
        tail = ""
        if self._stderr_path and os.path.exists(self._stderr_path):
            with open(self._stderr_path, "rb") as fh:
                fh.seek(max(0, os.path.getsize(self._stderr_path) - 2000))
                tail = fh.read().decode("utf-8", "replace").strip()
        msg = f"ngspice worker died ({status}; {what})"
        if tail:
            msg += ": " + tail.splitlines()[-1]
        return msg


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the child's whole process group and reap the child."""
    if proc.returncode is None:  # not reaped yet: its pid (= its group) is still ours
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.wait(timeout=10.0)
    except subprocess.TimeoutExpired:  # pragma: no cover
        pass
    if proc.returncode is not None:
        _LIVE_PROCS.pop(proc.pid, None)


# ------------------------------------------------------------ children and folders
# Children and work folders alive now, with the pid of the process that owns them
# (a forked copy of this module must not touch its parent's).
_LIVE_PROCS: dict[int, tuple[int, subprocess.Popen]] = {}
_LIVE_DIRS: dict[str, int] = {}
_SWEPT_BY: int | None = None  # pid of the process that has swept stale folders
_SIGTERM_BY: int | None = None  # pid of the process that installed the SIGTERM handler
_PRCTL: Any = None


def _libc_prctl() -> Any:
    """libc's prctl, looked up once in the parent (never between fork and exec)."""
    global _PRCTL
    if _PRCTL is None:
        try:
            _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):  # pragma: no cover - not Linux
            _PRCTL = False
    return _PRCTL or None


def _die_with_parent_preexec() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes Linux SIGKILL the child when this process dies,
    even by SIGKILL (``prctl(PR_SET_PDEATHSIG)``; kept across ``exec``).  If this
    process died before the call took effect, the child kills itself."""
    prctl = _libc_prctl()
    if prctl is None:  # pragma: no cover - not Linux
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # orphaned already: reparented
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _pid_namespace() -> int:
    """Inode of this process's pid namespace (0 if unknown): a pid means something only
    inside its namespace, so folders of other namespaces are never swept."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:  # pragma: no cover - no /proc
        return 0


def _make_workdir() -> str:
    """A private folder for one ngspice child, named after this process (see the module
    docstring); stale folders of dead resbench processes are swept first (once)."""
    global _SWEPT_BY
    if _SWEPT_BY != os.getpid():
        _SWEPT_BY = os.getpid()
        sweep_stale_workdirs()
    _install_sigterm_handler()
    path = tempfile.mkdtemp(prefix=f"{_WORKDIR_PREFIX}{os.getpid()}-{_pid_namespace()}-")
    _LIVE_DIRS[path] = os.getpid()
    return path


def _remove_workdir(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
    _LIVE_DIRS.pop(path, None)


def _owner_alive(pid: int, changed: float) -> bool:
    """Whether process ``pid`` may own a folder whose inode last changed at ``changed``
    (epoch seconds).  A process that started well after that is a reused pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive (not ours to judge)
        return True
    try:
        import psutil

        return psutil.Process(pid).create_time() <= changed + 60.0
    except Exception:  # psutil missing or the process just ended: keep the folder
        return True


def sweep_stale_workdirs(
    directory: str | os.PathLike | None = None, min_age: float = STALE_AGE
) -> list[str]:
    """Remove the ngspice work folders that resbench processes killed by SIGKILL left in
    ``directory`` (default: the temp directory); return the paths removed.

    Only folders named by this version (``resbench-ngspice-<pid>-<ns>-…``) of this
    pid namespace, real directories (never a link), owned by this user, unchanged for
    ``min_age`` seconds, whose owner process is gone (or whose pid now belongs to a
    process that started after the folder last changed)."""
    directory = os.fspath(directory) if directory is not None else tempfile.gettempdir()
    ns, uid, now = _pid_namespace(), os.getuid(), time.time()
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in sorted(entries, key=lambda e: e.name):
        m = _WORKDIR_NAME.match(entry.name)
        if not m or int(m.group(2)) != ns or int(m.group(1)) == os.getpid():
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or now - st.st_mtime < min_age:
            continue
        if _owner_alive(int(m.group(1)), st.st_ctime):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)  # does not follow links inside
        if not os.path.lexists(entry.path):
            removed.append(entry.path)
    return removed


def kill_children() -> None:
    """SIGKILL the process group of every ngspice child of this process and remove
    every work folder (what the SIGTERM handler does before exiting)."""
    me = os.getpid()
    for pid, (owner, proc) in list(_LIVE_PROCS.items()):
        if owner == me:
            _kill_group(proc)
            _LIVE_PROCS.pop(pid, None)
    for path, owner in list(_LIVE_DIRS.items()):
        if owner == me:
            _remove_workdir(path)


def _on_sigterm(signum: int, frame: Any) -> None:
    # A second SIGTERM while cleaning up ends the process at once (the next run
    # sweeps any folder left).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    kill_children()
    raise SystemExit(128 + signum)  # finally blocks and atexit still run: exit 143


def _install_sigterm_handler() -> None:
    """Clean up on SIGTERM (once per process; only from the main thread, and only where
    nobody else handles SIGTERM)."""
    global _SIGTERM_BY
    if _SIGTERM_BY == os.getpid() or threading.current_thread() is not threading.main_thread():
        return
    _SIGTERM_BY = os.getpid()
    try:
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # pragma: no cover - not the main interpreter
        pass


@dataclass
class CliRun:
    """One ``ngspice -b`` child: exit status (None: killed at the timeout), stdout, stderr
    lines, the rawfile's bytes (None when it wrote none), its pid, and seconds spent
    writing the netlist (``write``) and running the child (``child``)."""

    returncode: int | None
    stdout: str
    notes: list[str]
    raw: bytes | None
    pid: int
    write: float
    child: float


def run_ngspice_cli(text: str, timeout: float) -> CliRun:
    """Run ``ngspice -b -r out.raw netlist.cir`` on ``text`` in a private work folder,
    as a child in its own process group that dies with resbench; past ``timeout``
    seconds its group is killed (``returncode`` None).  The folder is removed on
    every path out."""
    exe = shutil.which("ngspice")
    if exe is None:
        raise SolverError("ngspice executable not found (Debian: apt-get install ngspice)")
    tmp = _make_workdir()
    try:
        t1 = time.perf_counter()
        cir, raw = os.path.join(tmp, "netlist.cir"), os.path.join(tmp, "out.raw")
        with open(cir, "w", encoding="utf-8") as fh:
            fh.write(text)
        t2 = time.perf_counter()
        proc = subprocess.Popen(
            [exe, "-b", "-r", raw, cir],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp,
            start_new_session=True,
            preexec_fn=_die_with_parent_preexec(),
        )
        _LIVE_PROCS[proc.pid] = (os.getpid(), proc)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            return CliRun(None, "", [], None, proc.pid, t2 - t1, time.perf_counter() - t2)
        finally:
            _kill_group(proc)  # reaps it (killing its group first if still running)
        child = time.perf_counter() - t2
        data = None
        if os.path.exists(raw) and os.path.getsize(raw):
            with open(raw, "rb") as fh:
                data = fh.read()
    finally:
        _remove_workdir(tmp)
    notes = [ln.strip() for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
    stdout = out.decode("utf-8", "replace")
    return CliRun(proc.returncode, stdout, notes, data, proc.pid, t2 - t1, child)


_WORKER: NgspiceWorker | None = None
_WORKER_LOCK = threading.Lock()


def get_worker() -> NgspiceWorker:
    """The process-wide worker (created on first use, started on first request)."""
    global _WORKER
    with _WORKER_LOCK:
        if _WORKER is None or _WORKER._owner != os.getpid():
            _WORKER = NgspiceWorker()
        return _WORKER


def shutdown_worker() -> None:
    """Stop the process-wide worker, if any (also registered with atexit)."""
    global _WORKER
    with _WORKER_LOCK:
        if _WORKER is not None:
            _WORKER.close()
        _WORKER = None


atexit.register(shutdown_worker)
