"""The solver registry: a new backend is one function plus one register line; unknown
options and solvers are refused with the valid names; Solution.message explains the status."""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import resbench
from resbench.cli.main import cli
from resbench.errors import ResbenchError
from resbench.netlist import read_netlist
from resbench.solution import CONVERGED, FAILED, Solution
from resbench.solvers import registry
from resbench.solvers.registry import (
    ReferenceOptions,
    SolverOptionError,
    SolverSpec,
    UnknownSolverError,
)

NETLISTS = Path(__file__).resolve().parents[1] / "netlists"
BRIDGE = NETLISTS / "bridge.cir"


def solve_echo(circuit: resbench.Circuit, *, gmin: float = 0.0) -> Solution:
    """A test-only backend: the reference solver's answer under another name."""
    from resbench.solvers.reference import solve_reference

    sol = solve_reference(circuit, gmin=gmin)
    sol.solver = "echo"
    return sol


@pytest.fixture
def echo() -> Iterator[SolverSpec]:
    spec = registry.register(
        SolverSpec("echo", solve_echo, ReferenceOptions, exact=True, description="test echo")
    )
    try:
        yield spec
    finally:
        registry.unregister("echo")


def test_builtin_solvers_are_registered() -> None:
    peers = ("osqp", "clarabel", "highs", "scipy", "paper")  # compare/scale --solvers
    assert registry.solver_names() == ("cd", "reference", "ngspice", *peers)
    assert registry.exact_solver_names() == ("cd", "reference")
    from resbench import solvers

    assert solvers.SOLVERS == ("cd", "reference", "ngspice", *peers)
    assert solvers.EXACT_SOLVERS == ("cd", "reference")


@pytest.mark.parametrize("name", ["cd", "reference", "ngspice"])
def test_options_dataclass_defaults_match_the_entry_function(name: str) -> None:
    """The dataclass is the solver's signature: same names, same defaults, nothing else."""
    spec = registry.get_solver(name)
    params = {
        p.name: p.default
        for p in inspect.signature(spec.function()).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    fields = {f.name: f.default for f in dataclasses.fields(spec.options)}
    assert fields == params
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.make_options().gmin = 1.0  # type: ignore[misc]


def test_unknown_option_is_refused_naming_the_valid_ones() -> None:
    circuit = read_netlist(BRIDGE)
    with pytest.raises(SolverOptionError) as err:
        resbench.solve(circuit, "cd", tols=1e-9)
    msg = str(err.value)
    assert "tols" in msg and "'cd'" in msg
    for valid in ("tol", "max_sweeps", "omega", "polish", "gmin", "warm_start"):
        assert valid in msg
    assert isinstance(err.value, ResbenchError) and isinstance(err.value, TypeError)
    with pytest.raises(SolverOptionError, match=r"unknown options for solver 'reference'"):
        resbench.solve(circuit, "reference", tol=1e-9, mode="batch")


def test_unknown_solver_is_refused_naming_the_registered_ones() -> None:
    with pytest.raises(UnknownSolverError, match="choose one of cd, reference, ngspice") as err:
        resbench.solve(read_netlist(BRIDGE), "cdd")
    assert isinstance(err.value, ValueError) and err.value.exit_code == 2


def test_register_refuses_a_taken_name_and_a_non_dataclass() -> None:
    with pytest.raises(ValueError, match="already registered"):
        registry.register(SolverSpec("cd", solve_echo, ReferenceOptions, exact=True))
    with pytest.raises(TypeError, match="dataclass"):
        registry.register(SolverSpec("bad", solve_echo, dict, exact=True))
    assert "bad" not in registry.solver_names()


def test_a_registered_solver_runs_through_solve(echo: SolverSpec) -> None:
    circuit = read_netlist(BRIDGE)
    sol = resbench.solve(circuit, solver="echo")
    ref = resbench.solve(circuit, solver="reference")
    assert sol.solver == "echo" and sol.status == CONVERGED and sol.ok
    assert sol.certificate is not None and sol.certificate.ok
    np.testing.assert_array_equal(sol.voltages, ref.voltages)
    assert sol.message == "converged; the optimality certificate proves the answer"
    from resbench import solvers

    assert "echo" in solvers.SOLVERS and "echo" in solvers.EXACT_SOLVERS
    with pytest.raises(SolverOptionError, match=r"valid: gmin"):
        resbench.solve(circuit, solver="echo", tol=1.0)


def test_a_registered_solver_runs_through_the_cli(echo: SolverSpec) -> None:
    res = CliRunner().invoke(cli, ["solve", str(BRIDGE), "--solver", "echo", "--format", "json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["solver"] == "echo" and d["certified"] is True
    assert d["message"] == "converged; the optimality certificate proves the answer"
    assert d["nodes"]["p"] == pytest.approx(10.0)
    # an option of another solver is refused, naming the solvers that take it
    res = CliRunner().invoke(cli, ["solve", str(BRIDGE), "--solver", "echo", "--tol", "1e-9"])
    assert res.exit_code == 2
    assert "--tol applies to --solver cd only (not echo)" in res.output


def test_cli_solver_choices_are_the_registry() -> None:
    res = CliRunner().invoke(cli, ["solve", str(BRIDGE), "--solver", "echo"])
    assert res.exit_code == 2 and "'cd', 'reference', 'ngspice'" in res.output
    res = CliRunner().invoke(cli, ["compare", str(BRIDGE), "--solver", "ngspice"])
    assert res.exit_code == 2 and "'cd', 'reference'" in res.output


def test_message_of_a_failed_solution_is_its_error() -> None:
    from resbench.solvers import status_message

    circuit = read_netlist(BRIDGE)
    sol = Solution(circuit, np.zeros(circuit.n_nodes), "x", FAILED, info={"error": "boom\nmore"})
    assert status_message(sol) == "boom"
    assert Solution(circuit, np.zeros(circuit.n_nodes), "x", CONVERGED).message == ""


def test_show_diodes_and_its_deprecated_alias_give_the_same_output() -> None:
    new = CliRunner().invoke(cli, ["solve", str(BRIDGE), "--show-diodes"])
    old = CliRunner().invoke(cli, ["solve", str(BRIDGE), "--diodes"])
    assert new.exit_code == old.exit_code == 0
    assert "diodes" in new.output and "D1" in new.output.upper()
    assert _strip_times(new.output) == _strip_times(old.output)
    helptext = CliRunner().invoke(cli, ["solve", "--help"]).output
    assert "--show-diodes" in helptext and "--diodes " not in helptext


def _strip_times(text: str) -> str:
    """Output without its timing lines (they differ between two runs)."""
    return "\n".join(line for line in text.splitlines() if "time" not in line and "JIT" not in line)


def test_info_lists_the_registered_solvers(echo: SolverSpec) -> None:
    res = CliRunner().invoke(cli, ["info", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert (
        json.loads(res.output)["solvers"] == "cd (exact), reference (exact), ngspice, "
        "osqp (peer), clarabel (peer), highs (peer), scipy (peer), paper (peer), echo (exact)"
    )
    assert json.loads(CliRunner().invoke(cli, ["info", "--json"]).output)["solvers"]


def test_the_bench_times_the_registrys_solvers(echo: SolverSpec) -> None:
    """scale and regress take the solvers they time from the registry: the fast one must
    be registered and exact, the reference registered and inexact."""
    from resbench.bench import scale, timing
    from resbench.bench.regress import policy

    assert timing.timed_solver("cd", exact=True) is registry.get_solver("cd")
    assert timing.timed_solver("echo", exact=True) is echo  # a plug-in is found as well
    assert (policy.FAST, policy.SPICE) == (scale.CD, scale.SPICE) == ("cd", "ngspice")
    assert set(scale.SOLVER_IDS.values()) <= set(registry.solver_names())
    with pytest.raises(UnknownSolverError, match="choose one of"):
        timing.timed_solver("cdd", exact=True)
    with pytest.raises(ResbenchError, match="not an exact"):
        timing.timed_solver("ngspice", exact=True)
    with pytest.raises(ResbenchError, match="not an inexact"):
        timing.timed_solver("cd", exact=False)
