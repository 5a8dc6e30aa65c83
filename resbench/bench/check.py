"""One checked comparison: certify a fast answer and a reference (ngspice) answer,
measure how far apart they are, and decide the row status.

``compare`` (one row per netlist), ``scale`` (one row per size × solver) and
``regress`` (one check per case) all ask the same questions of a pair of answers:

* does each answer pass its KKT certificate (:func:`resbench.certificate.certify`,
  computed from the circuit, never from the solver's state)?
* did the fast solver converge to a certified answer?
* what is the largest |Δv| between the two answers, at which node, and what is the
  largest relative difference?  Do they agree within ``atol``?

:func:`check_answers` answers them once, in one :class:`Comparison`; the bench
commands only lay its fields out in their own rows.  A certificate that raises
(a bug, an odd circuit) never loses the row: it is recorded as the answer's
``error`` and makes the status ``error``.

Statuses (:attr:`Comparison.status`), worst last:

* ``ok`` — every given answer checked, the fast one certified, both agree;
* ``uncertified`` — the fast answer did not converge or fails its certificate;
* ``disagree`` — the answers differ by more than ``atol`` somewhere (wins over
  ``uncertified``: both messages are kept);
* ``error`` — a certificate raised (only its message is kept).

Runs that produced no answer at all (timeout, failure, exception) are the
caller's to report: :func:`no_answer` gives their status and message, and
:func:`row_status` puts them together with a :class:`Comparison` the way
``compare`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from resbench.bench import timing
from resbench.circuit import Circuit
from resbench.solution import CONVERGED, FAILED, TIMEOUT, Solution

if TYPE_CHECKING:  # only for annotations
    from resbench.certificate import Certificate

__all__ = [
    "DISAGREE",
    "ERROR",
    "OK",
    "SKIPPED",
    "UNCERTIFIED",
    "AnswerCheck",
    "Comparison",
    "certify_answer",
    "check_answers",
    "no_answer",
    "row_status",
    "voltage_difference",
]

OK, UNCERTIFIED, ERROR = timing.OK, timing.UNCERTIFIED, timing.ERROR
DISAGREE = "disagree"
SKIPPED = "skipped"  # scale: a solver not run at a size (ngspice above --spice-max-size)
NAN = float("nan")


@dataclass(frozen=True)
class AnswerCheck:
    """The certificate of one answer, flattened for result rows.

    ``certified`` is None when there was nothing to certify (no answer, or
    non-finite voltages: ``finite`` is then False) or the certificate raised
    (``error`` holds the message).  ``converged`` is the solver's own verdict.
    """

    certified: bool | None = None
    feasibility: float = NAN
    kcl: float = NAN
    complementarity: float = NAN
    status: str | None = None  # the solver's status (None: no answer)
    finite: bool | None = None
    error: str | None = None
    certificate: Certificate | None = field(default=None, repr=False, compare=False)

    def fields(self, prefix: str = "") -> dict[str, Any]:
        """``{prefix_certified, prefix_feasibility, prefix_kcl, prefix_complementarity}``
        (no prefix: the bare names, as in scale's rows)."""
        p = f"{prefix}_" if prefix else ""
        return {
            f"{p}certified": self.certified,
            f"{p}feasibility": self.feasibility,
            f"{p}kcl": self.kcl,
            f"{p}complementarity": self.complementarity,
        }

    @property
    def converged(self) -> bool | None:
        """The solver's own verdict (None: no answer)."""
        return None if self.status is None else self.status == CONVERGED

    @property
    def uncertified(self) -> bool:
        """An answer that exists but did not converge or fails its certificate."""
        return self.status is not None and (self.status != CONVERGED or not self.certified)

    def uncertified_message(self, name: str) -> str:
        """``cd answer not certified (status …, kcl … A, feasibility … V)``."""
        return (
            f"{name} answer not certified (status {self.status}, kcl {self.kcl:.3g} A, "
            f"feasibility {self.feasibility:.3g} V)"
        )


def certify_answer(
    circuit: Circuit, sol: Solution | None, gmin: float | None = None
) -> AnswerCheck:
    """Certify ``sol`` against ``circuit`` (with the solver's ``gmin`` leak, if any).

    Never raises: a certificate that fails with an exception is an AnswerCheck whose
    ``error`` says so.  Stores the Certificate on ``sol.certificate`` as well.
    """
    from resbench.certificate import certify

    if sol is None:
        return AnswerCheck()
    if sol.voltages is None or not np.all(np.isfinite(sol.voltages)):
        return AnswerCheck(status=sol.status, finite=False)
    try:
        cert = certify(circuit, sol.voltages, gmin=gmin or 0.0)
    except Exception as exc:  # noqa: BLE001 - the certificate must not lose the row
        return AnswerCheck(
            status=sol.status, finite=True, error=f"certificate: {type(exc).__name__}: {exc}"
        )
    sol.certificate = cert
    return AnswerCheck(
        certified=bool(cert.ok),
        feasibility=float(cert.feasibility),
        kcl=float(cert.kcl),
        complementarity=float(cert.complementarity),
        status=sol.status,
        finite=True,
        certificate=cert,
    )


def voltage_difference(
    circuit: Circuit, fast: np.ndarray, spice: np.ndarray, atol: float
) -> tuple[float, float, str | None]:
    """(max |Δ|, max relative Δ, node with the largest |Δ|) over every node.

    The relative difference is ``|Δ| / max(|v_fast|, |v_spice|)`` over the nodes
    where either voltage exceeds ``atol`` (0 where none does); a non-finite
    difference is ``inf`` at the first node that has one."""
    d = np.abs(np.asarray(fast, float) - np.asarray(spice, float))
    if d.size == 0:
        return 0.0, 0.0, None
    if not np.all(np.isfinite(d)):
        k = int(np.argmax(~np.isfinite(d)))
        return float("inf"), float("inf"), circuit.nodes[k]
    k = int(np.argmax(d))
    scale = np.maximum(np.abs(fast), np.abs(spice))
    big = scale > atol
    rel = float(np.max(d[big] / scale[big])) if np.any(big) else 0.0
    return float(d[k]), rel, circuit.nodes[k]


@dataclass
class Comparison:
    """Both answers checked, their difference, and the status it implies.

    ``max_abs_diff``/``max_rel_diff`` are NaN, ``worst_node`` and ``agree`` None
    unless both answers exist.  ``messages`` say why the status is not ``ok``.
    """

    fast: AnswerCheck
    reference: AnswerCheck
    atol: float
    max_abs_diff: float = NAN
    max_rel_diff: float = NAN
    worst_node: str | None = None
    agree: bool | None = None
    status: str = OK
    messages: list[str] = field(default_factory=list)

    def difference_fields(self) -> dict[str, Any]:
        """``max_abs_diff``, ``max_rel_diff``, ``worst_node``, ``agree``."""
        return {
            "max_abs_diff": self.max_abs_diff,
            "max_rel_diff": self.max_rel_diff,
            "worst_node": self.worst_node,
            "agree": self.agree,
        }

    def fields(self, fast: str = "fast", reference: str = "spice") -> dict[str, Any]:
        """Every field of a compare row: both certificates (prefixed) and the difference."""
        return {
            **self.fast.fields(fast),
            **self.reference.fields(reference),
            **self.difference_fields(),
        }

    def disagree_message(self) -> str:
        """``max |Δv| … V at node … > atol … V``."""
        return (
            f"max |Δv| {self.max_abs_diff:.3g} V at node {self.worst_node} > atol {self.atol:g} V"
        )


def check_answers(
    circuit: Circuit,
    fast: Solution | None,
    reference: Solution | None,
    *,
    atol: float,
    gmin: float | None = None,
    fast_name: str = "cd",
    certify_reference: bool = True,
) -> Comparison:
    """Certify both answers, compare them node by node and decide the status.

    ``fast`` / ``reference``: the final answers (None where a run produced none).
    ``gmin``: the leak both solvers were given (the certificate must include it).
    ``certify_reference=False`` skips the reference's certificate (its fields stay
    empty) where only the fast answer is judged.  See the module doc for the status.
    """
    fc = certify_answer(circuit, fast, gmin)
    rc = certify_answer(circuit, reference, gmin) if certify_reference else AnswerCheck()
    out = Comparison(fc, rc, atol)
    if fast is not None and reference is not None:
        dmax, drel, worst = voltage_difference(circuit, fast.voltages, reference.voltages, atol)
        out.max_abs_diff, out.max_rel_diff, out.worst_node = dmax, drel, worst
        out.agree = bool(dmax <= atol)
    errors = [c.error for c in (fc, rc) if c.error]
    if errors:
        out.status, out.messages = ERROR, errors
        return out
    if fc.uncertified:
        out.status = UNCERTIFIED
        out.messages.append(fc.uncertified_message(fast_name))
    if out.agree is False:
        out.status = DISAGREE
        out.messages.append(out.disagree_message())
    return out


def no_answer(final: timing.Sample | None) -> tuple[str, str] | None:
    """(status, reason) of a solver whose final run produced no answer, else None.

    ``timeout`` and ``failed`` keep their status; a run that raised (or no run at
    all) is ``error``."""
    if final is None:
        return ERROR, "no run"
    if final.has_answer:
        return None
    status = final.status if final.status in (TIMEOUT, FAILED) else ERROR
    return status, final.error or final.status


def row_status(
    failures: Sequence[tuple[str, tuple[str, str] | None]], check: Comparison
) -> tuple[str, list[str]]:
    """The status and messages of a row judging both answers (compare's rule).

    ``failures``: (solver name, :func:`no_answer` of its final run) per solver.  A
    run without an answer sets the status (``timeout``, ``failed`` or ``error``;
    the last one wins) with ``"<solver>: <reason>"``; a certificate that raised makes
    it ``error``; only when both answered does the check's own status count.
    """
    status, messages = OK, []
    for who, failure in failures:
        if failure is not None:
            status = failure[0]
            messages.append(f"{who}: {failure[1]}")
    if check.status == ERROR:
        return ERROR, messages + check.messages
    if status == OK:
        return check.status, messages + check.messages
    return status, messages
