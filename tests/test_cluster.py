"""``scale`` and ``compare`` on a real Dask ``LocalCluster`` (2 single-threaded workers).

One cluster serves the whole module (starting one, and loading numba's kernels on its
workers, is the slow part).  The cluster runs must give the rows of the in-process
runs (timings aside), keep every finished row when the client stops, retry or fail
(with the reason) a cell whose worker is killed, and say clearly when there is no
scheduler.  The scale figures are built but not rendered here (``unrendered_plots``,
tests/conftest.py): the figure is drawn on the client as in-process, and is checked in
tests/test_scale.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from resbench import generate
from resbench.bench import cluster as cl
from resbench.bench import compare as bench_compare
from resbench.bench import scale as bench_scale
from resbench.bench.compare import CompareInterrupted, CompareOptions, run_compare
from resbench.bench.scale import run_scale
from resbench.cli.main import cli
from resbench.netlist import write_netlist

pytest.importorskip("distributed")

#: the columns that must not depend on where (or when) a cell ran
SCALE_SAME = ["size", "solver", "status", "nodes", "resistors", "diodes", "repeats", "agree"]
SCALE_SAME += ["certified", "worst_node", "claimed"]
SCALE_CLOSE = ["max_abs_diff", "diff_vs_cd", "residual", "feasibility", "kcl"]
COMPARE_SAME = ["netlist", "status", "nodes", "resistors", "fast_status", "spice_status"]
COMPARE_SAME += ["agree", "fast_certified", "worst_node", "repeats", "scipy_status"]
COMPARE_CLOSE = ["max_abs_diff", "max_rel_diff", "fast_kcl", "scipy_max_abs_diff"]


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 single-threaded worker processes, as ``--cluster local:2``
    makes it (one retry of a cell whose worker dies)."""
    with cl.connect("local:2") as c:
        c.wait_for_workers(2, timeout=120)
        yield c


def _same_rows(a: pd.DataFrame, b: pd.DataFrame, same: list[str], close: list[str]) -> None:
    assert len(a) == len(b)
    for col in same:
        if col in a:
            assert a[col].astype(str).tolist() == b[col].astype(str).tolist(), col
    for col in close:
        if col in a:
            x, y = a[col].to_numpy(float), b[col].to_numpy(float)
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-15, err_msg=col)


def _key(summary: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(summary["size"].astype(str), summary["solver"].astype(str), strict=True))


# --------------------------------------------------------------------------- same rows
@pytest.mark.spice
def test_scale_on_cluster_gives_the_in_process_rows(
    client, tmp_path: Path, unrendered_plots: list[Path]
) -> None:
    kw = dict(solvers=("cd", "spice", "scipy"), repeats=2, warmup=1, spice_max_size=30)
    here = run_scale("grid", "5,3", out=tmp_path / "here", **kw)
    there = run_scale("grid", "5,3", out=tmp_path / "there", cluster=client, **kw)
    assert _key(here) == _key(there)  # the summary in sweep order, whatever finished first
    assert set(here["status"]) == {"ok", "skipped"}  # 5x5 has 40 resistors > 30
    _same_rows(here, there, SCALE_SAME, SCALE_CLOSE)
    assert "worker_host" not in here  # in-process files are as before
    assert there["worker_host"].notna().all() and (there["worker_cores"] >= 1).all()
    assert set(there["worker_cpu"]) == {cl.worker_info()["worker_cpu"]}
    meta = json.loads((tmp_path / "there" / "scale.json").read_text())
    assert meta["options"]["cluster"] == client.scheduler.address
    samples = there.attrs["samples"]
    assert len(samples) == len(here.attrs["samples"])  # every run of every cell came back
    assert [p.parent.name for p in unrendered_plots] == ["here", "there"]


@pytest.mark.spice
def test_compare_on_cluster_gives_the_in_process_rows(client, tmp_path: Path) -> None:
    nets = tmp_path / "nets"
    nets.mkdir()
    (nets / "a_grid.cir").write_text(write_netlist(generate.grid(4, 4, seed=1)))
    (nets / "b_drn.cir").write_text(write_netlist(generate.drn((12, 6, 3), seed=2)))
    (nets / "c_bad.cir").write_text("* not a circuit\nR1 1\n.end\n")
    (nets / "d_rand.cir").write_text(write_netlist(generate.random_network(30, seed=3)))
    files = bench_compare.collect_netlists([nets])
    opts = CompareOptions(repeats=2, warmup=1, peers=("scipy",))
    here = run_compare(files, opts, out=tmp_path / "here")
    there = run_compare(files, opts, out=tmp_path / "there", cluster=client)
    assert here.summary["netlist"].tolist() == there.summary["netlist"].tolist()
    assert here.summary["status"].tolist() == ["ok", "ok", "error", "ok"]
    _same_rows(here.summary, there.summary, COMPARE_SAME, COMPARE_CLOSE)
    assert here.exit_code == there.exit_code == 2
    assert "parse" in str(there.summary["message"][2]).lower() or there.summary["message"][2]
    assert there.summary["worker_host"].notna().all()
    on_disk = pd.read_csv(tmp_path / "there" / "compare_summary.csv")
    assert on_disk["netlist"].tolist() == there.summary["netlist"].tolist()
    assert list(on_disk.columns[-3:]) == ["worker_host", "worker_cpu", "worker_cores"]


# --------------------------------------------------------------------------- nothing lost
def test_scale_interrupted_on_cluster_keeps_rows_and_resumes(
    client, tmp_path: Path, unrendered_plots: list[Path]
) -> None:
    """Ctrl-C after the first finished size (simulated by the callback): that size's rows
    stay on disk, the sidecar says 'interrupted', and --resume runs only the rest."""
    out = tmp_path / "out"
    seen: list[str] = []

    def stop(size: str, rows: list[dict]) -> None:
        seen.append(size)
        raise KeyboardInterrupt

    kw = dict(solvers=("cd",), repeats=1, warmup=1, out=out)
    with pytest.raises(KeyboardInterrupt):
        run_scale("grid", "3,4,5", cluster=client, on_size=stop, **kw)
    first = pd.read_csv(out / "scale_summary.csv", dtype={"size": str})
    assert first["size"].tolist() == [seen[0]]
    assert json.loads((out / "scale.json").read_text())["state"] == "interrupted"

    ran: list[str] = []
    done = run_scale(
        "grid", "3,4,5", cluster=client, resume=True, on_size=lambda s, r: ran.append(s), **kw
    )
    assert sorted(ran) == sorted({"3", "4", "5"} - {seen[0]})
    assert _key(done) == [("3", "cd"), ("4", "cd"), ("5", "cd")]
    assert set(done["status"]) == {"ok"}
    kept = done[done["size"] == seen[0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, first, check_dtype=False)  # the old rows, untouched


def test_compare_killed_client_keeps_finished_rows(client, tmp_path: Path) -> None:
    """A client that stops after its first finished netlist (the callback raises) leaves
    that row in the summary file; the cells not yet done are cancelled."""
    nets = []
    for i in range(3):
        path = tmp_path / f"g{i}.cir"
        path.write_text(write_netlist(generate.grid(3 + i, 3, seed=i)))
        nets.append(path)

    def die(row: dict) -> None:
        raise KeyboardInterrupt

    opts = CompareOptions(repeats=1, warmup=1, spice=False, peers=("scipy",))
    with pytest.raises(CompareInterrupted) as info:
        run_compare(nets, opts, out=tmp_path / "out", cluster=client, on_row=die)
    assert len(info.value.run.summary) == 1 and info.value.run.exit_code == 130
    on_disk = pd.read_csv(tmp_path / "out" / "compare_summary.csv")
    assert on_disk["status"].tolist() == ["ok"]
    assert json.loads((tmp_path / "out" / "compare.json").read_text())["state"] == "interrupted"


def test_compare_cell_without_result_is_a_failed_row(
    client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A netlist whose cell comes back without a result (here its function raises on the
    worker; a dead worker is the same path) is a ``failed`` row with the reason, in its
    place among the others."""
    real = bench_compare.compare_cell
    nets = []
    for i in range(3):
        path = tmp_path / f"n{i}.cir"
        path.write_text(write_netlist(generate.grid(3, 3 + i, seed=i)))
        nets.append(path)

    def broken(item, label, *args):  # noqa: ANN001, ANN002, ANN202 - runs on a worker
        if str(item).endswith("n1.cir"):
            raise MemoryError("no room")
        return real(item, label, *args)

    monkeypatch.setattr(bench_compare, "compare_cell", broken)
    opts = CompareOptions(repeats=1, warmup=0, spice=False, peers=("scipy",))
    run = run_compare(nets, opts, out=tmp_path / "out", cluster=client)
    assert run.summary["status"].tolist() == ["ok", "failed", "ok"]
    assert run.summary["message"][1].endswith("n1.cir: MemoryError: no room")
    assert run.exit_code == 2


def test_resume_an_in_process_sweep_on_the_cluster(
    client, tmp_path: Path, unrendered_plots: list[Path]
) -> None:
    """The worker columns are added to a sweep begun in-process (its rows: empty there)."""
    out = tmp_path / "out"
    kw = dict(solvers=("cd",), repeats=1, warmup=0, out=out)
    run_scale("grid", "3", **kw)
    done = run_scale("grid", "3,4", cluster=client, resume=True, **kw)
    assert _key(done) == [("3", "cd"), ("4", "cd")]
    assert done["worker_host"].isna().tolist() == [True, False]
    again = run_scale("grid", "3,4,5", resume=True, **kw)  # and back in-process
    assert again["worker_host"].notna().tolist() == [False, True, True]


# --------------------------------------------------------------------------- dead workers
def test_killed_worker_is_retried_or_failed_with_reason(
    client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unrendered_plots: list[Path]
) -> None:
    """A cell that kills its worker once is run again on another worker (its rows are
    ``ok``); one that kills every worker it runs on is ``failed``, with the reason; the
    other size's rows stay (each sweep: one such cell beside an ordinary one)."""
    real = bench_scale.scale_cell
    marker = tmp_path / "killed_once"

    def deadly(opts, size, *args):  # noqa: ANN001, ANN002, ANN202 - runs on a worker
        if size == "5" or (size == "4" and not marker.exists()):
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return real(opts, size, *args)

    monkeypatch.setattr(bench_scale, "scale_cell", deadly)
    kw = dict(solvers=("cd",), repeats=1, warmup=0, cluster=client)
    client.wait_for_workers(2, timeout=120)
    once = run_scale("grid", "3,4", out=tmp_path / "once", **kw)
    assert marker.exists()
    assert once["status"].tolist() == ["ok"] * 2
    assert once["message"].isna().all()

    client.wait_for_workers(2, timeout=120)
    always = run_scale("grid", "3,5", out=tmp_path / "always", **kw)
    status = dict(zip(_key(always), always["status"], strict=True))
    assert status == {("3", "cd"): "ok", ("5", "cd"): "failed"}
    failed = always[always["size"] == "5"]
    assert failed["message"].str.contains("grid 5: the worker running it died").all()
    assert always.attrs["exit_code"] == 2
    on_disk = pd.read_csv(tmp_path / "always" / "scale_summary.csv", dtype={"size": str})
    assert sorted(on_disk["status"]) == ["failed", "ok"]
    client.wait_for_workers(2, timeout=120)  # the nannies restart them for the next tests


def test_run_cells_reports_a_raising_cell_and_runs_the_rest(client) -> None:
    def boom(x: int) -> int:
        if x == 2:
            raise ValueError("two is bad")
        return x * 10

    got: dict[int, cl.Outcome] = {}
    cells = [cl.Cell(i, f"cell {i}", boom, (i,)) for i in range(4)]
    cl.run_cells(client, cells, lambda o: got.setdefault(o.cell.index, o))
    assert {i: o.result for i, o in got.items() if o.error is None} == {0: 0, 1: 10, 3: 30}
    assert got[2].error == "cell 2: ValueError: two is bad"
    assert got[0].worker["worker_cores"] == os.cpu_count()


# --------------------------------------------------------------------------- addresses
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_scheduler_address_is_a_clear_error_quickly(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "scale_summary.csv").write_text("kept\n")
    address = f"tcp://127.0.0.1:{_closed_port()}"
    t0 = time.perf_counter()
    with pytest.raises(cl.ClusterError, match="no Dask scheduler at .*dask scheduler"):
        run_scale("grid", "3", solvers=("cd",), out=out, cluster=address)
    assert time.perf_counter() - t0 < 8
    assert (out / "scale_summary.csv").read_text() == "kept\n"  # nothing touched

    net = tmp_path / "g.cir"
    net.write_text(write_netlist(generate.grid(3, 3)))
    result = CliRunner().invoke(cli, ["compare", str(net), "--cluster", address, "--no-files"])
    assert result.exit_code == 2
    assert "no Dask scheduler at" in result.output and "Traceback" not in result.output


def test_a_listener_that_is_not_a_scheduler_is_refused_quickly() -> None:
    """Something accepts connections at the address but never speaks Dask: refused after
    the handshake wait, not left hanging."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        t0 = time.perf_counter()
        with pytest.raises(cl.ClusterError, match="no Dask handshake"):
            with cl.connect(address, timeout=1.0):
                pass
        assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize(
    "bad", ["local:0", "local:two", "local:", "a b", "tcp://host", "ftp://h:1"]
)
def test_bad_cluster_option_is_refused_before_any_work(bad: str, tmp_path: Path) -> None:
    with pytest.raises(cl.ClusterError, match="expected local:N"):
        cl.parse_cluster(bad)
    result = CliRunner().invoke(
        cli, ["scale", "--family", "grid", "--sizes", "3", "--cluster", bad, "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "--cluster" in result.output
    assert not list(tmp_path.iterdir())


def test_parse_cluster_forms() -> None:
    assert cl.parse_cluster("local:3") == ("local", 3)
    assert cl.parse_cluster(" LOCAL:1 ") == ("local", 1)
    assert cl.parse_cluster("10.0.0.5:8786") == ("address", "tcp://10.0.0.5:8786")
    assert cl.parse_cluster("tcp://h:1") == ("address", "tcp://h:1")


def test_cli_scale_on_a_running_scheduler(
    client, tmp_path: Path, unrendered_plots: list[Path]
) -> None:
    """``resbench scale --cluster tcp://…`` (the module's scheduler) prints the usual table
    and writes the worker columns."""
    result = CliRunner().invoke(
        cli,
        [
            "scale", "--family", "grid", "--sizes", "3,4", "--repeats", "1", "--solvers", "cd",
            "--cluster", client.scheduler.address, "--out", str(tmp_path), "--wide",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "worker" in result.output
    summary = pd.read_csv(tmp_path / "scale_summary.csv")
    assert summary["status"].tolist() == ["ok"] * 2
    assert summary["worker_host"].notna().all()


def test_cli_compare_on_a_running_scheduler(client, tmp_path: Path) -> None:
    """``resbench compare --cluster tcp://…``: rows in netlist order, the worker in --wide."""
    for i in (2, 1):
        (tmp_path / f"n{i}.cir").write_text(write_netlist(generate.grid(3, 2 + i, seed=i)))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "compare", str(tmp_path), "--solvers", "cd,scipy", "--repeats", "1",
            "--cluster", client.scheduler.address, "--out", str(out), "--wide",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out / "compare_summary.csv")
    assert [Path(n).name for n in summary["netlist"]] == ["n1.cir", "n2.cir"]
    assert summary["scipy_status"].tolist() == ["ok", "ok"]
    assert summary["worker_host"].notna().all()
    meta = json.loads((out / "compare.json").read_text())
    assert meta["options"]["cluster"] == client.scheduler.address
