"""Batch input/output files (resbench/batch/io.py) and chunked batch solves
(resbench/batch/chunked.py).

Every bad input file is an InputError naming the file, where, and what to do
(the cases in BAD_INPUTS also run through the CLI in test_cli_batch.py); good files
read back exactly what was written, compared with a plain csv-module / numpy
reading; write_batch round-trips each format.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resbench import read_netlist
from resbench.batch import chunked
from resbench.batch.io import read_inputs, write_batch, write_table
from resbench.batch.network import input_sources
from resbench.batch.result import BatchCertificate, BatchResult
from resbench.errors import InputError, ResbenchError
from resbench.netlist import parse_netlist

#: a small circuit whose V and I sources are the inputs; r1, d1 and node c are not sources
TINY = """tiny batch circuit
v1 a 0 dc 1
v2 b 0 dc -1
i1 0 c dc 1m
r1 a c 1k
r2 b c 2k
r3 c 0 3k
d1 c 0 dd
.model dd d
.end
"""


def tiny_circuit():
    return parse_netlist(TINY, file="tiny.cir")


# ------------------------------------------------------------------ bad inputs
def _text(content: str) -> Callable[[Path], None]:
    return lambda p: p.write_text(content, encoding="utf-8")


def _bytes(content: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(content)


def _npy(arr) -> Callable[[Path], None]:
    return lambda p: np.save(p, arr)


def _npz(**arrays) -> Callable[[Path], None]:
    return lambda p: np.savez(p, **arrays)


def _folder(p: Path) -> None:
    p.mkdir()


@dataclass(frozen=True)
class Bad:
    """A bad inputs file: its name, how to write it (None: leave it missing), the names
    read_inputs is given ('all': every source of TINY, with the circuit; 'v1': a network
    whose only input is v1), and words the message must hold."""

    id: str
    name: str
    write: Callable[[Path], None] | None
    expect: tuple[str, ...]
    names: str = "all"


BAD_INPUTS = [
    Bad("missing", "in.csv", None, ("in.csv", "cannot read", "No such file", "check the path")),
    Bad("folder", "in.csv", _folder, ("in.csv", "cannot read", "not a folder")),
    Bad("fifo", "in.csv", os.mkfifo, ("not a regular file", "save the inputs to a file")),
    Bad("extension", "in.txt", _text("v1\n1\n"), ("unknown input format", ".csv, .npy, .npz")),
    Bad("empty", "in.csv", _text(""), ("in.csv", "empty file", "header row")),
    Bad("blank", "in.csv", _text("\n \n"), ("empty file",)),
    Bad("header only", "in.csv", _text("v1,v2\n"), ("no samples", "add one row")),
    Bad(
        "unknown column",
        "in.csv",
        _text("v1,zz,qq\n1,2,3\n"),
        ("'zz'", "'qq'", "are not inputs", "v1, v2, i1"),
    ),
    Bad(
        "resistor column",
        "in.csv",
        _text("v1,r1\n1,2\n"),
        ("'r1' (a resistor)", "is not an input", "V or I sources"),
    ),
    Bad("diode column", "in.csv", _text("d1\n1\n"), ("'d1' (a diode)",)),
    Bad("node column", "in.csv", _text("c\n1\n"), ("'c' (a node)",)),
    Bad(
        "source not an input",
        "in.csv",
        _text("v1,v2\n1,2\n"),
        ("'v2' (a source that is not an input of this network)", "v1"),
        names="v1",
    ),
    Bad("duplicate", "in.csv", _text("v1,V1\n1,2\n"), ("duplicated column", "'v1'", "one column")),
    Bad("no header", "in.csv", _text("1,2\n3,4\n"), ("line 1 holds numbers", "header row")),
    Bad("semicolons", "in.csv", _text("v1;v2\n1;2\n"), ("'v1;v2'", "separate columns with commas")),
    Bad("unnamed column", "in.csv", _text("v1,,v2\n1,2,3\n"), ("column 2 has no name",)),
    Bad(
        "not a number",
        "in.csv",
        _text("v1,v2\n1,2\n3,abc\n"),
        ("line 3", "column 'v2'", "'abc' is not a number", "must be a number"),
    ),
    Bad("empty cell", "in.csv", _text("v1,v2\n1,\n"), ("line 2", "column 'v2'", "empty cell")),
    Bad(
        "nan",
        "in.csv",
        _text("v1,v2\n1,2\n3,4\n5,nan\n"),
        ("line 4", "column 'v2'", "not a finite number", "no NaN or inf"),
    ),
    Bad("inf", "in.csv", _text("v1,i1\n-inf,2\n"), ("line 2", "column 'v1'", "not a finite")),
    Bad("short row", "in.csv", _text("v1,v2\n1,2\n3\n"), ("line 3 has 1 cell", "header has 2")),
    Bad("long row", "in.csv", _text("v1,v2\n1,2,3\n"), ("line 2 has 3 cell", "header has 2")),
    Bad("not utf-8", "in.csv", _bytes(b"v1\n\xff\xfe1\n"), ("not UTF-8",)),
    Bad("not utf-8 header", "in.csv", _bytes(b"v\xff1\n1\n"), ("not UTF-8",)),
    Bad("leading blank lines", "in.csv", _text("\n\nv1,v2\n1,2\n3,x\n"), ("line 5", "'x'")),
    Bad("npy columns", "in.npy", _npy(np.ones((4, 2))), ("2 column(s)", "3 input(s)", "v1, v2")),
    Bad("npy 3-D", "in.npy", _npy(np.ones((2, 3, 1))), ("3-D array", "2-D array")),
    Bad("npy strings", "in.npy", _npy(np.array([["a", "b", "c"]])), ("not numbers",)),
    Bad(
        "npy nan",
        "in.npy",
        _npy(np.array([[1, 2, 3], [4, np.nan, 6.0]])),
        ("row 2 (index 1), column 'v2': nan is not a finite number",),
    ),
    Bad("npy zero rows", "in.npy", _npy(np.ones((0, 3))), ("no samples",)),
    Bad("npy corrupt", "in.npy", _bytes(b"not numpy"), ("not a readable .npy",)),
    Bad(
        "npz ragged",
        "in.npz",
        _npz(v1=np.ones(3), v2=np.ones(2)),
        ("different lengths", "'v1': 3", "'v2': 2", "same number"),
    ),
    Bad("npz unknown", "in.npz", _npz(v1=np.ones(3), r1=np.ones(3)), ("'r1' (a resistor)",)),
    Bad("npz inf", "in.npz", _npz(v1=np.array([1.0, np.inf])), ("sample 2", "'v1'", "finite")),
    Bad("npz 2-D array", "in.npz", _npz(v1=np.ones((2, 2))), ("'v1' has shape (2, 2)", "1-D")),
    Bad("npz no names", "in.npz", _npz(values=np.ones((2, 3))), ("without the array 'names'",)),
    Bad(
        "npz names count",
        "in.npz",
        _npz(values=np.ones((2, 3)), names=np.array(["v1", "v2"])),
        ("3 column(s) and 'names' 2",),
    ),
    Bad(
        "npz names not strings",
        "in.npz",
        _npz(values=np.ones((2, 1)), names=np.array([1])),
        ("'names' is a 1-D int64 array",),
    ),
    Bad("npz empty", "in.npz", _npz(), ("empty file",)),
    Bad("npz corrupt", "in.npz", _bytes(b"PK not a zip"), ("not a readable .npz",)),
    Bad("npz zero rows", "in.npz", _npz(v1=np.ones(0)), ("no samples",)),
]


def make_bad(tmp_path: Path, case: Bad) -> Path:
    path = tmp_path / case.name
    if case.write is not None:
        case.write(path)
    return path


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[c.id for c in BAD_INPUTS])
def test_bad_input_files_are_clear_errors(tmp_path, case):
    path = make_bad(tmp_path, case)
    circuit = tiny_circuit()
    names = input_sources(circuit) if case.names == "all" else [case.names]
    with pytest.raises(InputError) as exc:
        read_inputs(path, names, circuit=circuit)
    message = str(exc.value)
    assert isinstance(exc.value, ResbenchError)
    assert message.startswith(str(path))  # the file, first
    for word in case.expect:
        assert word in message, (word, message)
    assert ";" in message  # what is wrong; what to do


def test_missing_required_columns(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("v1\n1\n")
    names = input_sources(tiny_circuit())
    assert read_inputs(path, names)[0] == ["v1"]  # a subset is fine by default
    with pytest.raises(InputError, match=r"missing column\(s\) 'v2', 'i1'"):
        read_inputs(path, names, require_all=True)


def test_npy_needs_names(tmp_path):
    path = tmp_path / "in.npy"
    np.save(path, np.ones((2, 3)))
    with pytest.raises(InputError, match="no column names"):
        read_inputs(path)


def test_messages_stay_short_for_huge_name_lists(tmp_path):
    names = [f"vin{k}" for k in range(2000)]
    path = tmp_path / "in.csv"
    path.write_text(",".join(f"x{k}" for k in range(500)) + "\n" + ",".join(["1"] * 500) + "\n")
    with pytest.raises(InputError) as exc:
        read_inputs(path, names)
    assert len(str(exc.value)) < 600
    assert "(+488 more)" in str(exc.value) and "(+1,988 more)" in str(exc.value)


# ------------------------------------------------------------------ good inputs
def reference_csv(path: Path) -> tuple[list[str], np.ndarray]:
    """The slow, obvious reading: csv module, float() per cell, blank lines skipped."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    return [c.strip().lower() for c in rows[0]], np.array(
        [[float(c) for c in r] for r in rows[1:]], dtype=np.float64
    )


FIXTURE = [HealthCheck.function_scoped_fixture]
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def batches(draw):
    k = draw(st.integers(1, 5))
    b = draw(st.integers(1, 12))
    values = np.array(draw(st.lists(finite, min_size=k * b, max_size=k * b))).reshape(b, k)
    names = [f"V{j}" if draw(st.booleans()) else f"i{j}" for j in range(k)]
    return names, values


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batch=batches(),
    blank=st.booleans(),
    spaces=st.booleans(),
    bom=st.booleans(),
    lead=st.integers(0, 2),
    crlf=st.booleans(),
)
def test_csv_reads_exactly_what_was_written(tmp_path, batch, blank, spaces, bom, lead, crlf):
    names, values = batch
    lines = [""] * lead + [",".join(names)]
    for row in values:
        cells = [repr(float(x)) for x in row]
        lines.append(",".join(f" {c} " if spaces else c for c in cells))
        if blank:
            lines.append("")
    path = tmp_path / "in.csv"
    end = "\r\n" if crlf else "\n"
    path.write_bytes((("\ufeff" if bom else "") + end.join(lines) + end).encode("utf-8"))
    got_names, got = read_inputs(path)
    ref_names, ref = reference_csv(path)
    assert got_names == ref_names == [n.lower() for n in names]
    assert got.shape == values.shape
    assert np.array_equal(got, ref) and np.array_equal(got, values)


def test_names_match_case_insensitively_and_come_back_as_given(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("I1, V1 \n1e-3,2\n-1e-3,3\n")
    names, values = read_inputs(path, ["v1", "v2", "i1"])
    assert names == ["i1", "v1"]
    assert values.tolist() == [[1e-3, 2.0], [-1e-3, 3.0]]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=batches())
def test_npy_and_npz_read_back(tmp_path, batch):
    names, values = batch
    lower = [n.lower() for n in names]
    np.save(tmp_path / "in.npy", values)
    n0, v0 = read_inputs(tmp_path / "in.npy", lower)
    assert n0 == lower and np.array_equal(v0, values)
    np.save(tmp_path / "one.npy", values[0])  # 1-D: one sample
    n1, v1 = read_inputs(tmp_path / "one.npy", lower)
    assert v1.shape == (1, len(names)) and np.array_equal(v1[0], values[0])
    np.savez(tmp_path / "cols.npz", **{n: values[:, j] for j, n in enumerate(names)})
    n2, v2 = read_inputs(tmp_path / "cols.npz", [n.upper() for n in names])
    assert n2 == [n.upper() for n in names] and np.array_equal(v2, values)
    np.savez(tmp_path / "vn.npz", values=values, names=np.array(names))
    n3, v3 = read_inputs(tmp_path / "vn.npz")
    assert n3 == lower and np.array_equal(v3, values)


def test_integer_arrays_are_numbers(tmp_path):
    np.save(tmp_path / "in.npy", np.array([[1, 2], [3, 4]]))
    names, values = read_inputs(tmp_path / "in.npy", ["a", "b"])
    assert values.dtype == np.float64 and values.tolist() == [[1, 2], [3, 4]]


# ------------------------------------------------------------------ outputs
def fake_result(b: int = 5, *, currents: bool = True, certified: bool = True) -> BatchResult:
    """A BatchResult of TINY filled with arbitrary values (write_batch only stores them)."""
    c = tiny_circuit()
    rng = np.random.default_rng(3)
    names = input_sources(c)
    status = np.array(["converged"] * b, dtype=object)
    status[1] = "not_certified"
    cert = None
    if certified:
        checked = np.arange(b) % 2 == 0
        cert = BatchCertificate(
            checked=checked,
            ok=checked & (np.arange(b) != 1),
            **{
                f: np.where(checked, rng.random(b), np.nan)
                for f in (
                    "feasibility",
                    "kcl",
                    "complementarity",
                    "feas_tol",
                    "kcl_tol",
                    "comp_tol",
                )
            },
        )
    v = rng.standard_normal((b, c.n_nodes))
    v[:, 0] = 0.0
    return BatchResult(
        circuit=c,
        input_names=names,
        values=rng.standard_normal((b, len(names))),
        voltages=v,
        sweeps=rng.integers(1, 50, b),
        status=status,
        messages=["" if s == "converged" else "the certificate rejected it" for s in status],
        polished=rng.random(b) < 0.5,
        certificate=cert,
        diode_current=rng.standard_normal((b, len(c.diodes))) if currents else None,
        vsource_current=rng.standard_normal((b, len(c.vsources))) if currents else None,
    )


@pytest.mark.parametrize("currents", [True, False])
@pytest.mark.parametrize("certified", [True, False])
def test_write_npz_round_trip(tmp_path, currents, certified):
    r = fake_result(currents=currents, certified=certified)
    path = tmp_path / "sub" / "out.npz"
    path.parent.mkdir()
    write_batch(r, path)
    z = np.load(path, allow_pickle=False)
    assert np.array_equal(z["voltages"], r.voltages)
    assert z["node_names"].tolist() == r.node_names
    assert np.array_equal(z["values"], r.values) and z["names"].tolist() == r.input_names
    assert z["status"].tolist() == list(r.status)
    assert z["messages"].tolist() == r.messages
    assert np.array_equal(z["sweeps"], r.sweeps) and np.array_equal(z["polished"], r.polished)
    assert str(z["dtype"]) == "float64"
    if certified:
        for f in ("checked", "ok", "feasibility", "kcl", "complementarity", "kcl_tol"):
            assert np.array_equal(z[f"cert_{f}"], getattr(r.certificate, f), equal_nan=True)
    else:
        assert not any(k.startswith("cert_") for k in z.files)
    assert ("diode_current" in z.files) == currents
    if currents:
        assert np.array_equal(z["diode_current"], r.diode_current)
        assert z["diode_names"].tolist() == ["d1"]
        assert np.array_equal(z["vsource_current"], r.vsource_current)
        assert z["vsource_names"].tolist() == ["v1", "v2"]
    # the output holds the inputs in the layout read_inputs reads
    names, values = read_inputs(path, input_sources(r.circuit))
    assert names == r.input_names and np.array_equal(values, r.values)


def test_write_csv_round_trip(tmp_path):
    r = fake_result()
    write_batch(r, tmp_path / "out.csv")
    back = pd.read_csv(tmp_path / "out.csv")
    pd.testing.assert_frame_equal(back, r.to_frame(), check_dtype=False, check_exact=True)


def test_write_parquet_round_trip(tmp_path):
    pytest.importorskip("pyarrow", reason="the io extra (make setup installs it)")
    r = fake_result()
    write_batch(r, tmp_path / "out.parquet")
    back = pd.read_parquet(tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(back, r.to_frame(), check_dtype=False, check_exact=True)


def test_parquet_without_pyarrow_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    with pytest.raises(InputError, match=r"needs pyarrow.*resbench\[io\]"):
        write_batch(fake_result(), tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_unknown_output_extension_lists_formats_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old")
    with pytest.raises(InputError, match=r"\.npz, \.csv, \.parquet"):
        write_batch(fake_result(), path)
    assert path.read_text() == "old"


def test_writes_replace_atomically(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("old contents\n")
    write_batch(fake_result(b=3), path)
    assert len(pd.read_csv(path)) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temporary left behind


def test_write_to_a_folder_is_a_clear_error(tmp_path):
    (tmp_path / "out.csv").mkdir()
    with pytest.raises(ResbenchError, match="it is a directory"):
        write_batch(fake_result(), tmp_path / "out.csv")


def test_write_table_npz_keeps_text_columns(tmp_path):
    df = pd.DataFrame({"v1": [1.0, 2.0], "status": ["converged", "failed"]})
    write_table(df, tmp_path / "t.npz")
    z = np.load(tmp_path / "t.npz", allow_pickle=False)
    assert z["v1"].tolist() == [1.0, 2.0] and z["status"].tolist() == ["converged", "failed"]


# ------------------------------------------------------------------ chunks
@pytest.mark.parametrize(
    "samples,k", [(10, 3), (100, 7), (5, 5), (5, 9), (1000, 1), (37, 36), (8, 0)]
)
def test_certify_counts_spread_k_samples_over_the_batch(samples, k):
    for chunk in (1, 3, 16, 1000):
        bounds = [(lo, min(samples, lo + chunk)) for lo in range(0, samples, chunk)]
        counts = chunked.certify_counts(samples, bounds, k)
        total = sum(
            (hi - lo) if c is True else (0 if c is False else c)
            for c, (lo, hi) in zip(counts, bounds, strict=True)
        )
        assert total == min(k, samples)
        for c, (lo, hi) in zip(counts, bounds, strict=True):
            assert c is True or c is False or 0 < c < hi - lo
    assert chunked.certify_counts(4, [(0, 2), (2, 4)], True) == [True, True]
    assert chunked.certify_counts(4, [(0, 2), (2, 4)], False) == [False, False]


@pytest.fixture(scope="module")
def small_net():
    from resbench.batch import Network

    return Network(read_netlist(Path(__file__).resolve().parents[1] / "netlists/drn_small.cir"))


def drn_values(net, b: int, seed: int = 0) -> np.ndarray:
    """``b`` samples: input voltages in [-1, 1] V, current sources ×[0.5, 1.5] their values."""
    rng = np.random.default_rng(seed)
    s0 = net.default_values()
    vals = np.tile(s0, (b, 1))
    is_v = np.array([n.startswith("v") for n in net.input_names])
    vals[:, is_v] = rng.uniform(-1, 1, (b, int(is_v.sum())))
    vals[:, ~is_v] *= rng.uniform(0.5, 1.5, (b, int((~is_v).sum())))
    return vals


def test_chunked_equals_one_batch(small_net):
    values = drn_values(small_net, 23)
    whole = small_net.solve_batch(values, certify=False)
    done: list[int] = []
    parts = chunked.solve_chunked(
        small_net, values, chunk=5, certify=4, progress=lambda d, t: done.append(d)
    )
    assert np.array_equal(parts.values, values)
    assert np.allclose(parts.voltages, whole.voltages, rtol=0, atol=1e-12)
    assert parts.status.tolist() == whole.status.tolist()
    assert parts.certificate is not None and int(parts.certificate.checked.sum()) == 4
    assert done[-1] == 23 and done == sorted(done)


def test_memory_plan_shrinks_chunks_then_refuses(small_net, monkeypatch):
    need_1 = small_net.estimate_bytes(1) + chunked._answer_bytes(small_net, 5000, False)
    need_64 = small_net.estimate_bytes(64) + chunked._answer_bytes(small_net, 5000, False)
    monkeypatch.setattr("resbench.memory.available_memory", lambda: need_64)
    plan = chunked.plan_memory(small_net, 5000)
    assert plan.chunk <= 64 and plan.needed <= need_64
    monkeypatch.setattr("resbench.memory.available_memory", lambda: need_1 - 1)
    with pytest.raises(InputError, match=r"5,000 samples needs about .* GiB.*only .* available"):
        chunked.plan_memory(small_net, 5000)


def test_io_module_has_no_solver_imports():
    src = (Path(__file__).resolve().parents[1] / "resbench/batch/io.py").read_text()
    assert "solvers" not in src and "numba" not in src
