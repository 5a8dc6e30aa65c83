"""``resbench solve NET --inputs FILE`` and ``.dc`` netlists through the CLI.

End to end: the answers written to -o equal a loop of single ``resbench.solve`` on
the equivalent circuits (``with_values``) to 1e-9 of the voltage scale; every bad
inputs file of test_batch_io.BAD_INPUTS is one clean line and exit 2; a batch that
does not fit in memory is refused with the numbers; single-solve options are
refused in batch runs and batch options without a batch.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from test_batch_io import BAD_INPUTS, TINY, make_bad

import resbench
from resbench import read_netlist
from resbench.batch.network import input_sources, with_values
from resbench.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
NETLISTS = ROOT / "netlists"


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_clean_failure(res, code: int = 2) -> None:
    assert res.exit_code == code, res.output
    assert isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output


def write_csv(path: Path, names: list[str], values: np.ndarray) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        w.writerows([[repr(float(x)) for x in row] for row in values])
    return path


def drn_inputs(circuit, b: int, seed: int, *, every: int = 1) -> tuple[list[str], np.ndarray]:
    """``b`` samples of every ``every``-th source: voltages in [-1, 1] V, current
    sources ×[0.5, 1.5] their netlist value."""
    rng = np.random.default_rng(seed)
    names = input_sources(circuit)[::every]
    value = dict(zip(circuit.vsources.names, circuit.vsources.value, strict=True))
    value.update(zip(circuit.isources.names, circuit.isources.value, strict=True))
    cols = []
    for n in names:
        if n in circuit.vsources.names:
            cols.append(rng.uniform(-1, 1, b))
        else:
            cols.append(value[n] * rng.uniform(0.5, 1.5, b))
    return names, np.stack(cols, axis=1)


def reference_voltages(circuit, names, values) -> np.ndarray:
    """The slow way: one full single solve per sample on the equivalent circuit."""
    return np.stack(
        [resbench.solve(with_values(circuit, names, row), certify=False).voltages for row in values]
    )


def assert_agrees(got: np.ndarray, ref: np.ndarray) -> None:
    scale = np.max(np.abs(ref), axis=1, keepdims=True)
    assert got.shape == ref.shape
    assert np.all(np.abs(got - ref) <= 1e-9 * scale), np.max(np.abs(got - ref) / scale)


@pytest.fixture
def tiny(tmp_path) -> Path:
    p = tmp_path / "tiny.cir"
    p.write_text(TINY)
    return p


# ------------------------------------------------------------------ end to end
@pytest.mark.parametrize("netlist,every", [("drn_small.cir", 1), ("drn_xs.cir", 3)])
def test_batch_equals_a_loop_of_single_solves(tmp_path, netlist, every):
    circuit = read_netlist(NETLISTS / netlist)
    names, values = drn_inputs(circuit, 50, seed=len(netlist), every=every)
    inputs = write_csv(tmp_path / "in.csv", [n.upper() for n in names], values)
    out = tmp_path / "out.npz"
    res = run("solve", NETLISTS / netlist, "--inputs", inputs, "-o", out)
    assert res.exit_code == 0, res.output
    assert "converged" in res.output and "50 of 50" in res.output
    assert f"wrote {out}" in res.output.replace("\n", "")
    z = np.load(out, allow_pickle=False)
    assert z["names"].tolist() == names and np.array_equal(z["values"], values)
    assert z["node_names"].tolist() == circuit.nodes
    assert set(z["status"].tolist()) == {"converged"}
    assert z["cert_checked"].all() and z["cert_ok"].all()
    assert_agrees(z["voltages"], reference_voltages(circuit, names, values))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """drn_small, 12 samples of voltage inputs only, written as .npz."""
    tmp = tmp_path_factory.mktemp("small")
    circuit = read_netlist(NETLISTS / "drn_small.cir")
    names, values = drn_inputs(circuit, 12, seed=7)
    keep = [j for j, n in enumerate(names) if n.startswith("v")]
    names, values = [names[j] for j in keep], values[:, keep]
    inputs = write_csv(tmp / "in.csv", names, values)
    res = run("solve", NETLISTS / "drn_small.cir", "--inputs", inputs, "-o", tmp / "out.npz")
    assert res.exit_code == 0, res.output
    return circuit, names, values, inputs, np.load(tmp / "out.npz", allow_pickle=False)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_outputs_hold_the_same_answers(tmp_path, small_run, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow", reason="the io extra (make setup installs it)")
    circuit, names, values, inputs, z = small_run
    out = tmp_path / f"out{suffix}"
    res = run("solve", NETLISTS / "drn_small.cir", "--inputs", inputs, "-o", out)
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert len(df) == 12 and df["status"].tolist() == ["converged"] * 12
    assert np.array_equal(df[names].to_numpy(), values)
    for k, node in enumerate(circuit.nodes[1:], start=1):
        assert np.array_equal(df[f"v({node})"].to_numpy(), z["voltages"][:, k])


def test_inputs_a_subset_of_sources_keep_the_others_at_netlist_values(small_run):
    circuit, names, values, _, z = small_run
    assert all(n.startswith("v") for n in names)  # the current sources are not inputs
    assert_agrees(z["voltages"], reference_voltages(circuit, names, values))


def test_npy_and_npz_inputs(tmp_path, small_run):
    circuit, names, values, _, z = small_run
    everything = input_sources(circuit)
    full = np.tile(
        np.concatenate([circuit.vsources.value, circuit.isources.value]), (len(values), 1)
    )
    for j, n in enumerate(names):
        full[:, everything.index(n)] = values[:, j]
    np.save(tmp_path / "in.npy", full)  # .npy: every source, netlist order (V then I)
    np.savez(tmp_path / "in.npz", **{n: values[:, j] for j, n in enumerate(names)})
    for f in ("in.npy", "in.npz"):
        out = tmp_path / f"{f}.out.npz"
        res = run("solve", NETLISTS / "drn_small.cir", "--inputs", tmp_path / f, "-o", out)
        assert res.exit_code == 0, res.output
        assert_agrees(np.load(out)["voltages"], z["voltages"])


def test_without_output_prints_summary_and_first_samples(small_run):
    _, _, _, inputs, z = small_run
    res = run("solve", NETLISTS / "drn_small.cir", "--inputs", inputs, "--limit", "3")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    for word in ("samples", "converged", "certified", "worst residuals", "sweeps", "per sample"):
        assert word in res.output
    assert "#0" in res.output and "#4" in res.output and "#5" not in res.output
    assert f"{z['voltages'][0, 1]:.6g}" in res.output  # first node, first sample
    assert "more samples" in res.output and "more nodes" in res.output


def test_certify_counts_and_none(small_run):
    _, _, _, inputs, _ = small_run
    res = run("solve", NETLISTS / "drn_small.cir", "--inputs", inputs, "--certify", "3")
    assert res.exit_code == 0 and "3 of 3 checked" in res.output, res.output
    res = run("solve", NETLISTS / "drn_small.cir", "--inputs", inputs, "--certify", "none")
    assert res.exit_code == 0 and "none checked" in res.output, res.output


def test_not_certified_samples_exit_1(small_run):
    _, _, _, inputs, _ = small_run
    res = run("solve", NETLISTS / "drn_small.cir", "--inputs", inputs, "--rtol", "1e-30")
    assert res.exit_code == 1, res.output
    assert "sample 0: not_certified" in res.output


def test_currents_are_written(tmp_path, small_run):
    circuit, names, values, inputs, _ = small_run
    out = tmp_path / "out.npz"
    res = run("solve", NETLISTS / "drn_small.cir", "--inputs", inputs, "--currents", "-o", out)
    assert res.exit_code == 0, res.output
    z = np.load(out)
    assert z["diode_current"].shape == (12, len(circuit.diodes))
    assert z["vsource_current"].shape == (12, len(circuit.vsources))
    sol = resbench.solve(with_values(circuit, names, values[0]))
    ref = np.array([d["current"] for d in sol.to_dict()["vsources"]])
    scale = np.max(np.abs(ref))
    assert np.allclose(z["vsource_current"][0], ref, rtol=0, atol=1e-6 * scale)


def test_float32_is_close_to_float64(tmp_path, small_run):
    _, _, _, inputs, z = small_run
    out = tmp_path / "out32.npz"
    res = run("solve", NETLISTS / "drn_small.cir", "--inputs", inputs, "--dtype", "float32")
    assert res.exit_code in (0, 1), res.output
    res = run(
        "solve", NETLISTS / "drn_small.cir", "--inputs", inputs, "--dtype", "float32", "-o", out
    )
    z32 = np.load(out)
    assert str(z32["dtype"]) == "float32"
    scale = np.max(np.abs(z["voltages"]))
    assert np.max(np.abs(z32["voltages"] - z["voltages"])) <= 1e-4 * scale


# ------------------------------------------------------------------ bad inputs
CLI_BAD = [c for c in BAD_INPUTS if c.names == "all"]


@pytest.mark.parametrize("case", CLI_BAD, ids=[c.id for c in CLI_BAD])
def test_bad_inputs_files_through_the_cli(tmp_path, tiny, case):
    path = make_bad(tmp_path, case)
    out = tmp_path / "out.npz"
    res = run("solve", tiny, "--inputs", path, "-o", out)
    assert_clean_failure(res)
    assert res.output.startswith(f"error: {path}")
    for word in case.expect:
        assert word in res.output, (word, res.output)
    assert not out.exists()


def test_memory_refusal(tmp_path, tiny, monkeypatch):
    inputs = write_csv(tmp_path / "in.csv", ["v1"], np.linspace(-1, 1, 50)[:, None])
    monkeypatch.setattr("resbench.memory.available_memory", lambda: 1000)
    out = tmp_path / "out.npz"
    res = run("solve", tiny, "--inputs", inputs, "-o", out)
    assert_clean_failure(res)
    assert "a batch of 50 samples needs about" in res.output
    assert "only 9.3e-07 GiB of memory is available" in res.output
    assert not out.exists()


@pytest.mark.parametrize(
    "args,expect",
    [
        (["--solver", "reference"], "--solver reference does not apply"),
        (["--polish", "always"], "--polish apply to single solves"),
        (["--format", "json"], "--format apply to single solves"),
        (["--show-diodes"], "--show-diodes apply"),
        (["--plot", "x.png"], "--plot draws a .dc sweep"),
        (["-o", "out.json"], "name the file with one of .npz, .csv, .parquet"),
        (["--certify", "some"], "'some' is not 'all', 'none' or a whole number"),
        (["--certify", "-2"], "is negative"),
        (["--dtype", "float16"], "'float16' is not one of"),
        (["--threads", "0"], "0 is not in the range x>=1"),
    ],
)
def test_batch_option_errors(tmp_path, tiny, monkeypatch, args, expect):
    monkeypatch.chdir(tmp_path)
    inputs = write_csv(tmp_path / "in.csv", ["v1"], np.ones((2, 1)))
    res = run("solve", tiny, "--inputs", inputs, *args)
    assert_clean_failure(res)
    assert expect in res.output, res.output
    assert not (tmp_path / "out.json").exists()


def test_inputs_take_one_netlist(tmp_path, tiny):
    inputs = write_csv(tmp_path / "in.csv", ["v1"], np.ones((2, 1)))
    res = run("solve", tiny, tiny, "--inputs", inputs)
    assert_clean_failure(res)
    assert "--inputs takes exactly one netlist (found 2)" in res.output


@pytest.mark.parametrize("flag", [["--dtype", "float32"], ["--currents"], ["--plot", "x.png"]])
def test_batch_options_need_a_batch(tiny, flag):
    res = run("solve", tiny, *flag)
    assert_clean_failure(res)
    assert "apply to --inputs FILE or to a netlist with a .dc card" in res.output


def test_single_solves_unchanged_by_batch_options(tiny):
    res = run("solve", tiny, "--format", "json")
    assert res.exit_code == 0, res.output
    assert '"certified": true' in res.output


# ------------------------------------------------------------------ .dc netlists
DC_IV = NETLISTS / "dc_diode_iv.cir"


def test_dc_sweep_writes_the_table_and_plot(tmp_path):
    out, png = tmp_path / "iv.csv", tmp_path / "iv.png"
    res = run("solve", DC_IV, "-o", out, "--plot", png)
    assert res.exit_code == 0, res.output
    assert "101 of 101" in res.output
    df = pd.read_csv(out)
    vin = df["v1"].to_numpy()
    assert len(df) == 101 and vin[0] == -2.0 and abs(vin[-1] - 3.0) < 1e-9
    # the analytic answer of the netlist's comment: the diode turns on at v(in) = 1/3 V
    expect = np.where(vin < 1 / 3, 1 / 3, (vin + 0.25) / 1.75)
    assert np.allclose(df["v(out)"].to_numpy(), expect, rtol=0, atol=1e-9)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dc_sweep_without_output_prints_points(tmp_path):
    res = run("solve", DC_IV, "--limit", "4")
    assert res.exit_code == 0, res.output
    assert ".dc sweep" in res.output and "97 more points" in res.output
    assert max(len(line) for line in res.output.splitlines()) <= 80


def test_dc_sweep_refuses_single_options_and_bad_outputs(tmp_path):
    res = run("solve", DC_IV, "--format", "json")
    assert_clean_failure(res)
    assert "--format apply to single solves, not to a .dc sweep" in res.output
    res = run("solve", DC_IV, "-o", tmp_path / "x.md")
    assert_clean_failure(res)
    assert ".npz, .csv, .parquet" in res.output
    assert not (tmp_path / "x.md").exists()


def test_dc_netlist_among_others_solves_its_operating_point():
    res = run("solve", DC_IV, NETLISTS / "divider.cir")
    assert res.exit_code == 0, res.output
    # rich wraps the note to the terminal width (where depends on the path's length) and
    # keeps the space before a break: compare with whitespace runs collapsed
    assert "has a .dc card; solve it on its own to run the sweep" in " ".join(res.output.split())


CLAMP = """diode clamped between two sources
va a 0 dc 0
vb b 0 dc 1
d1 a b dd
r1 a 0 1k
r2 b 0 1k
.model dd d
.end
"""


def test_infeasible_sample_is_a_failed_row_and_exit_2(tmp_path):
    net = tmp_path / "clamp.cir"
    net.write_text(CLAMP)
    inputs = write_csv(tmp_path / "in.csv", ["va"], np.array([[0.0], [2.0], [0.5]]))
    out = tmp_path / "out.npz"
    res = run("solve", net, "--inputs", inputs, "-o", out)
    assert_clean_failure(res, 2)
    assert "2 of 3" in res.output and "sample 1: failed" in res.output
    z = np.load(out)  # the answers are written all the same
    assert z["status"].tolist() == ["converged", "failed", "converged"]
    assert np.isnan(z["voltages"][1, 1:]).all()
    assert z["voltages"][2].tolist() == [0.0, 0.5, 1.0]


def test_threads_and_reading_an_output_back_as_inputs(tmp_path, small_run):
    _, _, _, inputs, z = small_run
    first = tmp_path / "first.npz"
    res = run(
        "solve", NETLISTS / "drn_small.cir", "--inputs", inputs, "--threads", "1", "-o", first
    )
    assert res.exit_code == 0, res.output
    assert_agrees(np.load(first)["voltages"], z["voltages"])
    again = tmp_path / "again.npz"  # an output .npz holds 'values' + 'names': valid inputs
    res = run("solve", NETLISTS / "drn_small.cir", "--inputs", first, "-o", again)
    assert res.exit_code == 0, res.output
    assert np.array_equal(np.load(again)["values"], z["values"])
    assert_agrees(np.load(again)["voltages"], z["voltages"])


# ------------------------------------------------------------------ kernel warm-up
def _record_solves(monkeypatch) -> list[int]:
    """The samples of every Network.solve_batch call, in order."""
    from resbench.batch.network import Network

    calls: list[int] = []
    real = Network.solve_batch

    def spy(self, values, **kw):
        calls.append(int(np.atleast_2d(values).shape[0]))
        return real(self, values, **kw)

    monkeypatch.setattr(Network, "solve_batch", spy)
    return calls


@pytest.mark.parametrize("samples, solves", [(300, [256, 300]), (5, [5, 5])])
def test_inputs_load_the_kernels_before_the_timed_solve(tmp_path, monkeypatch, samples, solves):
    """A first untimed solve of up to 256 samples loads the kernels; the summary's time
    is the second (whole) solve's, and its set-up says it holds the kernel load."""
    from resbench.batch.chunked import WARM_UP_SAMPLES

    assert WARM_UP_SAMPLES == 256
    circuit = read_netlist(NETLISTS / "drn_small.cir")
    names, values = drn_inputs(circuit, samples, seed=3)
    inputs = write_csv(tmp_path / "in.csv", names, values)
    calls = _record_solves(monkeypatch)
    res = run("solve", NETLISTS / "drn_small.cir", "--inputs", inputs, "-o", tmp_path / "o.npz")
    assert res.exit_code == 0, res.output
    assert calls == solves
    assert "parse + set-up + kernel load, not in time" in res.output.replace("\n", " ")
    z = np.load(tmp_path / "o.npz", allow_pickle=False)
    assert_agrees(z["voltages"], reference_voltages(circuit, names, values))


def test_dc_sweep_loads_the_kernels_untimed(monkeypatch):
    from resbench.batch.dc import run_dc

    calls = _record_solves(monkeypatch)
    res = run("solve", DC_IV, "--limit", "4")
    assert res.exit_code == 0, res.output
    assert calls == [101, 101]  # the warm-up, then the sweep (one chunk)
    assert "kernel load" in res.output
    c = read_netlist(DC_IV)
    plain, warmed = run_dc(c, certify=False), run_dc(c, certify=False, warm_up=True)
    assert "warm_up" not in plain.info and warmed.info["warm_up"] > 0.0
    assert np.array_equal(plain.result.voltages, warmed.result.voltages)
