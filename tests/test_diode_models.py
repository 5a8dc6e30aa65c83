"""Diode models (docs/diodes.md): ideal, piecewise linear (VON, RON), Shockley (IS, N, RS).

The fast solver (cd → resbench.solvers.shockley) and the reference (damped Newton on
linearised diodes solved exactly) are checked against brute force (scipy's bracketing
root finders on one- and two-node circuits, nested), against each other on hypothesis
circuits, and by the certificate (KCL with the Shockley currents).  ngspice comparisons
carry ``@pytest.mark.spice``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from resbench import parse_netlist, solve
from resbench.circuit import Circuit, Model
from resbench.diodes import VT, diode_model, expand, model_warnings
from resbench.errors import (
    CircuitError,
    IgnoredModelParameterWarning,
    NetlistError,
    ResbenchError,
    ResbenchWarning,
)
from resbench.netlist import write_netlist
from tests.strategies import random_circuits

FAST = (Phase.explicit, Phase.reuse, Phase.generate)  # no shrinking: each try solves 2-3 times


def shockley(vd: float, i_s: float, n: float) -> float:
    return i_s * math.expm1(min(vd / (n * VT), 700.0))


def diode_with_rs(vd: float, i_s: float, n: float, rs: float) -> float:
    """Current of a Shockley diode with series RS at total drop vd (brute force)."""
    if rs == 0:
        return shockley(vd, i_s, n)
    lo, hi = min(0.0, vd), max(0.0, vd)
    if lo == hi:
        return 0.0
    x = brentq(lambda x: (vd - x) / rs - shockley(x, i_s, n), lo, hi, xtol=1e-300, rtol=1e-15)
    return (vd - x) / rs


def model_text(i_s: float, n: float, rs: float = 0.0) -> str:
    return f".model dm D(IS={i_s!r} N={n!r}" + (f" RS={rs!r})" if rs else ")")


def solve_all(text: str):
    c = parse_netlist(text)
    return c, solve(c), solve(c, "reference")


# ----------------------------------------------------------------- the issue's example
def test_divider_of_the_issue() -> None:
    """ngspice gives 0.4988 V (with R2) and 0.62944 V (without); resbench gave 0 V."""
    for extra, want in (("R2 mid 0 1k\n", 0.4988), ("", 0.62944)):
        c, cd, ref = solve_all(
            "t\nV1 in 0 1\nR1 in mid 1k\n" + extra + "D1 mid 0 dmod\n.model dmod D(IS=1e-14 N=1)\n"
        )
        assert cd.ok and ref.ok
        assert cd.voltage("mid") == pytest.approx(want, abs=5e-5)
        assert abs(cd.voltage("mid") - ref.voltage("mid")) <= 1e-12
        exact = brentq(
            lambda v, extra=extra: (
                (1 - v) / 1e3 - (v / 1e3 if extra else 0) - shockley(v, 1e-14, 1)
            ),
            0.0,
            1.0,
            xtol=1e-15,
        )
        assert abs(cd.voltage("mid") - exact) <= 1e-12


def test_thermal_voltage_is_ngspices() -> None:
    # k·T/q with ngspice 39's constants (CODATA 2014) at 27 °C
    assert pytest.approx(0.025864917007157463, rel=1e-15) == VT


# ------------------------------------------------------------------------ brute force
@settings(max_examples=40, deadline=None, phases=FAST)
@given(
    v=st.integers(-300, 300).map(lambda k: k / 100),
    r=st.floats(10.0, 1e5),
    i_s=st.sampled_from([1e-30, 1e-14, 1e-9, 1e-3]),
    n=st.sampled_from([0.05, 1.0, 2.0, 10.0]),
    rs=st.sampled_from([0.0, 1.0, 50.0]),
)
def test_one_node_against_brentq(v: float, r: float, i_s: float, n: float, rs: float) -> None:
    """V —R— a —D— gnd: KCL (V − a)/R = i(a) is one monotone equation."""
    c, cd, ref = solve_all(
        f"t\nV1 in 0 {v!r}\nR1 in a {r!r}\nD1 a 0 dm\n{model_text(i_s, n, rs)}\n"
    )
    lo, hi = min(0.0, v), max(0.0, v)
    if lo == hi:
        exact = 0.0
    else:
        exact = brentq(lambda x: (v - x) / r - diode_with_rs(x, i_s, n, rs), lo, hi, xtol=1e-300,
                       rtol=1e-15)  # fmt: skip
    for sol in (cd, ref):
        assert sol.ok, sol.certificate.summary()
        assert abs(sol.voltage("a") - exact) <= 1e-10 * max(1.0, abs(v))


@settings(max_examples=30, deadline=None, phases=FAST)
@given(
    v=st.floats(0.1, 5.0),
    r1=st.floats(100.0, 1e4),
    r2=st.floats(100.0, 1e4),
    r3=st.floats(100.0, 1e5),
    n=st.sampled_from([1.0, 1.7]),
    flip=st.booleans(),
)
def test_diode_between_free_nodes_against_nested_brentq(
    v: float, r1: float, r2: float, r3: float, n: float, flip: bool
) -> None:
    """V —R1— a —D— b —R2— gnd, R3 a–gnd: both ends of the diode free.  The smooth problem
    converges under exact coordinate descent (no polish, no stall as ideal diodes do)."""
    d = "D1 b a dm" if flip else "D1 a b dm"
    c, cd, ref = solve_all(
        f"t\nV1 in 0 {v!r}\nR1 in a {r1!r}\nR3 a 0 {r3!r}\n{d}\nR2 b 0 {r2!r}\n"
        f"{model_text(1e-14, n)}\n"
    )
    sign = -1.0 if flip else 1.0

    def vb_of(va: float) -> float:  # KCL at b: diode current = vb / R2 (monotone in vb)
        return brentq(lambda vb: sign * shockley(sign * (va - vb), 1e-14, n) - vb / r2,
                      min(0.0, va), max(0.0, va) + 1e-30, xtol=1e-300, rtol=1e-15)  # fmt: skip

    def kcl_a(va: float) -> float:
        vb = vb_of(va)
        return (v - va) / r1 - va / r3 - sign * shockley(sign * (va - vb), 1e-14, n)

    va = brentq(kcl_a, 0.0, v, xtol=1e-300, rtol=1e-15)
    vb = vb_of(va)
    for sol in (cd, ref):
        assert sol.ok, sol.certificate.summary()
        assert abs(sol.voltage("a") - va) <= 1e-10
        assert abs(sol.voltage("b") - vb) <= 1e-10
    # the smooth problem converges under plain exact coordinate descent (no polish)
    pure = solve(c, polish="never")
    assert pure.ok and not pure.info["polished"]
    assert np.max(np.abs(pure.voltages - ref.voltages)) <= 1e-10


def test_forward_chain_between_free_nodes() -> None:
    text = (
        "chain\nV1 in 0 5\nR1 in a 1k\nD1 a b dm\nD2 b c dm\nD3 c d dm\nR2 d 0 1k\n"
        "R3 b 0 10k\nR4 c 0 10k\n.model dm D(IS=1e-14 N=1)\n"
    )
    c, cd, ref = solve_all(text)
    assert cd.ok and ref.ok
    assert np.max(np.abs(cd.voltages - ref.voltages)) <= 1e-10


def test_extreme_parameters() -> None:
    for i_s, n in ((1e-40, 1.0), (1e-14, 0.01), (1e-2, 1.0), (1e-14, 50.0), (1e-25, 0.2)):
        c, cd, ref = solve_all(
            f"t\nV1 in 0 2\nR1 in a 1k\nD1 a b dm\nR2 b 0 1k\nD2 b 0 dm\nI1 0 b 1u\n"
            f"{model_text(i_s, n)}\n"
        )
        assert cd.ok, (i_s, n, cd.certificate.summary())
        assert ref.ok, (i_s, n, ref.certificate.summary())
        assert np.max(np.abs(cd.voltages - ref.voltages)) <= 1e-9, (i_s, n)


def test_reverse_biased_chain() -> None:
    """Five diodes reverse biased in series (with resistors to ground at each node):
    every diode carries about −IS; KCL is certified with those currents."""
    lines = ["rev", "V1 top 0 3", "D1 n1 top dm"]
    for k in range(1, 5):
        lines.append(f"D{k + 1} n{k + 1} n{k} dm")
        lines.append(f"R{k} n{k} 0 1g")
    lines += ["R9 n5 0 1g", ".model dm D(IS=1e-9 N=1)"]
    c, cd, ref = solve_all("\n".join(lines) + "\n")
    assert cd.ok and ref.ok
    assert np.max(np.abs(cd.voltages - ref.voltages)) <= 1e-9
    assert np.all(cd.diode_current < 0)
    assert np.all(cd.diode_current >= -1e-9 * (1 + 1e-6))


def test_reverse_chain_without_resistors() -> None:
    """Nodes held only by reverse-biased diodes: the smooth problem still has one answer."""
    c, cd, ref = solve_all(
        "rev2\nV1 top 0 0.2\nD1 a top dm\nD2 0 a dm\n.model dm D(IS=1e-12 N=1)\n"
    )
    assert cd.ok and ref.ok
    assert cd.voltage("a") == pytest.approx(0.1, abs=1e-9)  # equal diodes split the drop
    assert ref.voltage("a") == pytest.approx(0.1, abs=1e-9)


def test_rs_is_a_series_resistor() -> None:
    a = parse_netlist("t\nV1 in 0 2\nR1 in a 100\nD1 a 0 dm\n.model dm D(IS=1e-12 N=1.5 RS=20)\n")
    b = parse_netlist(
        "t\nV1 in 0 2\nR1 in a 100\nRS a x 20\nD1 x 0 dm\n.model dm D(IS=1e-12 N=1.5)\n"
    )
    sa, sb = solve(a), solve(b)
    assert sa.ok and sb.ok
    assert sa.voltage("a") == pytest.approx(sb.voltage("a"), abs=1e-12)
    assert sa.diode_current[0] == pytest.approx(sb.diode_current[0], rel=1e-10)


def _with_shockley(c: Circuit, i_s: float, n: float) -> Circuit:
    c = dataclasses.replace(c, models=dict(c.models))
    c.models["d"] = Model("d", "d", {"is": i_s, "n": n})
    return c


@settings(
    max_examples=40,
    deadline=None,
    phases=FAST,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    circuit=random_circuits(max_nodes=6, max_diodes=5, islands=0),
    i_s=st.sampled_from([1e-14, 1e-9, 1e-4]),
    n=st.sampled_from([1.0, 4.0, 8.0, 20.0]),
)
def test_random_circuits_cd_vs_reference(circuit: Circuit, i_s: float, n: float) -> None:
    c = _with_shockley(circuit, i_s, n)
    # sources can sit right across a diode: keep its current physical (≤ IS·e^40)
    assume(float(np.abs(c.vsources.value).sum()) < 40 * n * VT)
    try:
        ref = solve(c, "reference")
    except CircuitError:
        with pytest.raises(CircuitError):
            solve(c)
        return
    cd = solve(c)
    assert ref.ok, ref.certificate.summary()
    assert cd.ok, cd.certificate.summary()
    scale = max(1.0, float(np.max(np.abs(ref.voltages))))
    assert np.max(np.abs(cd.voltages - ref.voltages)) <= 1e-8 * scale


# -------------------------------------------------------------------- piecewise linear
def test_pwl_closed_form() -> None:
    c, cd, ref = solve_all("pwl\nV1 in 0 1\nR1 in a 1k\nD1 a 0 dp\n.model dp D(VON=0.3 RON=100)\n")
    i = (1 - 0.3) / 1100
    for sol in (cd, ref):
        assert sol.ok
        assert sol.voltage("a") == pytest.approx(0.3 + 100 * i, abs=1e-12)
        assert sol.diode_current[0] == pytest.approx(i, rel=1e-9)
        assert sol.circuit is c and len(sol.voltages) == c.n_nodes


def test_pwl_off_and_threshold_only() -> None:
    # below threshold: no current; RON = 0: the bound moves to VON
    _, cd, _ = solve_all("p\nV1 in 0 0.2\nR1 in a 1k\nD1 a 0 dp\n.model dp D(VON=0.3 RON=100)\n")
    assert cd.voltage("a") == pytest.approx(0.2, abs=1e-12) and cd.ok
    _, cd, ref = solve_all("p\nV1 in 0 1\nR1 in a 1k\nD1 a 0 dp\n.model dp D(VON=0.45)\n")
    assert cd.voltage("a") == pytest.approx(0.45, abs=1e-12) and cd.ok and ref.ok


def test_pwl_between_free_nodes() -> None:
    text = (
        "p\nV1 in 0 2\nR1 in a 1k\nD1 a b dp\nR2 b 0 1k\nD2 b c dp\nR3 c 0 500\n"
        ".model dp D(VON=0.6 RON=20)\n"
    )
    c, cd, ref = solve_all(text)
    assert cd.ok and ref.ok
    assert np.max(np.abs(cd.voltages - ref.voltages)) <= 1e-10


def test_ideal_models_unchanged() -> None:
    """A .model D without parameters (or with only capacitance ones) stays ideal."""
    for card in (".model d1 D", ".model d1 D(CJO=1p TT=1n M=0.5)"):
        c = parse_netlist(f"t\nV1 in 0 1\nR1 in a 1k\nD1 a 0 d1\n{card}\n")
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResbenchWarning)
            sol = solve(c)
        assert sol.voltage("a") == 0.0 and sol.ok


# ------------------------------------------------------------- warnings and bad values
def test_ignored_parameters_warn_on_api() -> None:
    c = parse_netlist("t\nV1 in 0 1\nR1 in a 1k\nD1 a 0 dm\n.model dm D(IS=1e-14 BV=5 IBV=1m)\n")
    assert model_warnings(c) == [
        "model dm: parameters BV, IBV are ignored (resbench applies VON, RON or IS, N, RS; "
        "this diode is Shockley; docs/diodes.md)"
    ]
    for solver in ("cd", "reference"):
        with pytest.warns(IgnoredModelParameterWarning, match="BV, IBV"):
            solve(c, solver)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResbenchWarning)
        with pytest.raises(ResbenchError, match="BV, IBV are ignored"):
            solve(c)


def test_ideal_model_with_other_parameters_warns() -> None:
    c = parse_netlist("t\nV1 in 0 1\nR1 in a 1k\nD1 a 0 dm\n.model dm D(BV=5)\n")
    with pytest.warns(IgnoredModelParameterWarning, match="this diode is ideal"):
        assert solve(c).voltage("a") == 0.0


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ("is=-1e-14", "IS = -1e-14 must be > 0"),
        ("is=0", "IS = 0 must be > 0"),
        ("n=0", "N = 0 must be > 0"),
        ("rs=-1", "RS = -1 must be >= 0"),
        ("ron=-5", "RON = -5 must be >= 0"),
        ("von=0.3 is=1e-14", "mixes piecewise-linear (VON) and Shockley (IS)"),
    ],
)
def test_bad_parameters_are_errors_at_their_line(card: str, message: str) -> None:
    with pytest.raises(NetlistError) as e:
        parse_netlist(f"t\nR1 a 0 1k\nD1 a 0 dm\n.model dm D({card})\n", file="bad.cir")
    assert e.value.line == 4 and e.value.file == "bad.cir"
    assert message in e.value.format()


def test_bad_parameters_on_the_api() -> None:
    with pytest.raises(CircuitError, match="N = 0 must be > 0"):
        diode_model(Model("dm", "d", {"n": 0.0}))


def test_cli_warns_in_yellow_and_strict_fails(tmp_path) -> None:
    from click.testing import CliRunner

    from resbench.cli.main import cli

    f = tmp_path / "div.cir"
    f.write_text("t\nV1 in 0 1\nR1 in a 1k\nD1 a 0 dm\n.model dm D(IS=1e-14 BV=5)\n")
    run = CliRunner().invoke(cli, ["solve", str(f)])
    assert run.exit_code == 0, run.output
    assert "warning: model dm: parameters BV are ignored" in run.output
    run = CliRunner().invoke(cli, ["solve", "--strict", str(f)])
    assert run.exit_code == 2
    assert "error: model dm: parameters BV are ignored" in run.output
    # the settings do not leak out of the command
    with pytest.warns(IgnoredModelParameterWarning):
        solve(parse_netlist(f.read_text()))


def test_written_netlists_keep_the_models() -> None:
    c = parse_netlist(
        "t\nV1 in 0 1\nR1 in a 1k\nD1 a 0 dm\nD2 a 0 dp\n.model dm D(IS=1e-14 N=1.5 RS=2)\n"
        ".model dp D(VON=0.2 RON=10)\n"
    )
    assert parse_netlist(write_netlist(c)) == c
    ex = expand(c)
    assert ex.circuit.n_nodes == c.n_nodes + 3  # RS node; RON node and VON node
    assert [str(x) for x in ex.circuit.nodes[: c.n_nodes]] == c.nodes


# ---------------------------------------------------------------------------- ngspice
@pytest.mark.spice
def test_ngspice_agrees_on_shockley_and_pwl() -> None:
    text = (
        "t\nV1 in 0 3\nR1 in a 1k\nD1 a b dm\nR2 b 0 2k\nD2 b 0 dr\nD3 in c dp\nR3 c 0 1k\n"
        "I1 0 b 100u\n.model dm D(IS=1e-14 N=1)\n.model dr D(IS=1e-12 N=1.8 RS=15)\n"
        ".model dp D(VON=0.4 RON=50)\n"
    )
    c = parse_netlist(text)
    sp = solve(c, "ngspice")
    ref = solve(c, "reference")
    assert sp.status == "converged" and ref.ok  # ngspice: a switch of 1e-5 ohm, not exact
    assert np.max(np.abs(sp.voltages - ref.voltages)) <= 1e-6


@pytest.mark.spice
@settings(
    max_examples=8,
    deadline=None,
    phases=FAST,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    circuit=random_circuits(max_nodes=5, max_diodes=4, islands=0), n=st.sampled_from([8.0, 20.0])
)
def test_random_circuits_vs_ngspice(circuit: Circuit, n: float) -> None:
    # sources up to 5 V can sit right across a diode: with N·Vt ≥ 0.2 V the currents stay
    # physical (≤ IS·e^30 ≈ 0.1 A); at e^70 ngspice "converges" to infeasible answers
    c = _with_shockley(circuit, 1e-14, n)
    v_max = float(np.abs(c.vsources.value).sum())
    assume(v_max < 30 * n * VT)
    try:
        cd = solve(c)
    except CircuitError:
        return
    sp = solve(c, "ngspice")
    assert cd.ok
    if sp.status == "converged":
        # ngspice stops at its own tolerances: where its answer does not certify (seed 33
        # found one 2.1e-6 V off, KCL 1.6e-11 A), it is held to 1e-5 V, and cd to the
        # reference instead
        tol = 1e-6 if sp.ok else 1e-5
        assert np.max(np.abs(sp.voltages - cd.voltages)) <= tol
        if not sp.ok:
            ref = solve(c, "reference")
            scale = max(1.0, float(np.max(np.abs(ref.voltages))))
            assert np.max(np.abs(ref.voltages - cd.voltages)) <= 1e-9 * scale


@pytest.mark.spice
def test_ngspice_warns_too() -> None:
    c = parse_netlist("t\nV1 in 0 1\nR1 in a 1k\nD1 a 0 dm\n.model dm D(IS=1e-14 BV=5)\n")
    with pytest.warns(IgnoredModelParameterWarning):
        solve(c, "ngspice")


def test_cd_refuses_shockley_with_free_ideal_diodes() -> None:
    """Ideal diodes between free nodes beside Shockley diodes: cd says to use the
    reference, which solves it (certified)."""
    from resbench.errors import SolverError

    c = parse_netlist(
        "t\nV1 in 0 1\nR1 in a 1k\nD1 a b dm\nR2 b 0 1k\nD3 b c di\nR3 c 0 1k\n"
        ".model dm D(IS=1e-14)\n.model di D\n"
    )
    with pytest.raises(SolverError, match="use the reference solver"):
        solve(c)
    assert solve(c, "reference").ok


@pytest.mark.spice
def test_compare_cli_warns_and_strict_fails(tmp_path) -> None:
    from click.testing import CliRunner

    from resbench.cli.main import cli

    f = tmp_path / "div.cir"
    f.write_text("t\nV1 in 0 1\nR1 in a 1k\nD1 a 0 dm\n.model dm D(IS=1e-14 BV=5)\n")
    run = CliRunner().invoke(cli, ["compare", "--no-files", "--repeats", "1", str(f)])
    assert run.exit_code == 0, run.output
    assert run.output.count("warning: model dm: parameters BV are ignored") == 1
    run = CliRunner().invoke(cli, ["compare", "--no-files", "--repeats", "1", "--strict", str(f)])
    assert run.exit_code == 2
    assert "parameters BV are ignored" in run.output


def test_solvers_that_read_diodes_as_ideal_refuse_models() -> None:
    """compile_problem (the peers' setup) never reads a Shockley or PWL diode as a bound."""
    from resbench.errors import SolverError
    from resbench.solvers.problem import compile_problem

    for card in ("D(IS=1e-14)", "D(VON=0.3)"):
        c = parse_netlist(f"t\nV1 in 0 1\nR1 in a 1k\nD1 a 0 dm\n.model dm {card}\n")
        with pytest.raises(SolverError, match="reads every diode as ideal"):
            compile_problem(c)


def test_kcl_finish_meets_the_certificate_when_currents_are_small() -> None:
    """Found by test_random_circuits_vs_ngspice: a 2.75 mA current source into 41.6 kΩ
    puts 114 V on the net, so the solver's crude current scale (max diag × v_scale,
    4.8 A) allowed a KCL imbalance (2.6e-11 A) that the certificate, whose scale is the
    current that flows (5.5 mA), rejects.  The final Newton steps now bring KCL below
    the certificate's tolerance: certified, and equal to the reference."""
    c = parse_netlist(
        "t\nr1 n1 0 100\nr2 n2 0 526.842\nr3 n3 n2 80666.487\nr4 n4 0 100.002\n"
        "r5 n5 n2 41646.261\nr6 n1 n2 100.002\nr7 0 n2 100.002\nr8 n2 n4 0\n"
        "d1 n4 0 d\ni1 n5 n1 -0.00275\n.model d D(IS=1e-14 N=8)\n"
    )
    cd = solve(c)
    assert cd.ok, cd.certificate.summary()
    assert cd.certificate.kcl <= 0.1 * cd.certificate.kcl_tol
    ref = solve(c, "reference")
    assert ref.ok
    assert np.max(np.abs(cd.voltages - ref.voltages)) <= 1e-9 * np.max(np.abs(ref.voltages))


def test_kcl_finish_with_a_floating_source_and_a_dangling_node() -> None:
    """Found the same way (seed 7): a dangling node behind 100 Ω on a node held by a
    floating 2.25 V source; the certificate's current scale (0.13 mA) is 350× below the
    solver's.  Certified after the final Newton steps."""
    c = parse_netlist(
        "t\nr1 n1 0 6058.069\nr2 n2 n1 100.002\nr3 n3 0 11155.289\nd1 0 n1 d\n"
        "v1 n1 n3 -2.25\n.model d D(IS=1e-14 N=8)\n"
    )
    cd = solve(c)
    assert cd.ok, cd.certificate.summary()
    ref = solve(c, "reference")
    assert np.max(np.abs(cd.voltages - ref.voltages)) <= 1e-9 * np.max(np.abs(ref.voltages))
