"""The solver registry: every solver declares itself here once, and everything reads it.

A solver is a :class:`SolverSpec`: its name, its entry function (``"module:function"``,
imported when it first runs so that numba and PySpice load only when needed), a
frozen dataclass of its options (their names, types and defaults), whether it is
exact (its answer must certify: a converged answer that fails the certificate
becomes ``not_certified``), and a one-line description.  ``resbench.solve``, the
CLI's ``--solver`` choices, ``info``, ``compare``, ``scale`` and ``regress`` read
the registry; none keeps its own list of names.

A new backend is one new module with an entry function
``solve_x(circuit, **options) -> Solution`` plus one :func:`register` line (here for
a built-in solver, or anywhere before use for a plug-in)::

    register(SolverSpec("x", "resbench.solvers.x:solve_x", XOptions, exact=True))

Options a solver does not declare are refused before it runs, naming the valid
ones (as scipy's ``_check_unknown_options`` does): a mistyped ``tols=`` is an error,
never silently ignored.

*Peers* (``peer=True``: OSQP, Clarabel, HiGHS, a scipy direct active-set solve, the
paper's own PyTorch code) are other people's solvers run on the same reduced problem,
for ``compare --solvers`` and ``scale --solvers``.  Each lives in an optional extra
(``extra``, the modules it needs in ``requires``): :meth:`SolverSpec.missing` says
what to install before anything is imported, and an entry function raises
:class:`NotInstalled` or :class:`NotApplicable` (a circuit the peer cannot take, such
as a non-DRN circuit for ``paper``) so that the bench turns either into a row status,
never a crash.  Peers are not offered as compare's fast solver
(:func:`exact_solver_names` leaves them out); their answers are certified like cd's.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from resbench.defaults import (
    CD_DEFAULT_MAX_SWEEPS,
    CD_DEFAULT_OMEGA,
    CD_DEFAULT_POLISH,
    CD_DEFAULT_TOL,
    DEFAULT_DIODE_MODEL,
    DEFAULT_NGSPICE_MODE,
    DEFAULT_TIMEOUT,
)
from resbench.errors import ResbenchError

if TYPE_CHECKING:
    import numpy as np

    from resbench.circuit import Circuit
    from resbench.solution import Solution


class UnknownSolverError(ResbenchError, ValueError):
    """A solver name that is not registered (a ValueError too, as before the registry)."""


class SolverOptionError(ResbenchError, TypeError):
    """An option the chosen solver does not take (a TypeError too, as Python reports an
    unexpected keyword argument)."""


class SolverUnavailable(ResbenchError):
    """A peer solver that cannot run here (:class:`NotInstalled`) or on this circuit
    (:class:`NotApplicable`); ``status`` is the row status the bench shows."""

    status = "unavailable"


class NotInstalled(SolverUnavailable):
    """The peer's optional extra (or the paper's checkout) is missing; the message
    says exactly what to install or set."""

    status = "not installed"


class NotApplicable(SolverUnavailable):
    """The peer cannot take this circuit (e.g. ``paper`` on a circuit that is not a
    DRN); the message says why."""

    status = "not applicable"


# ------------------------------------------------------------------ options
@dataclass(frozen=True)
class CdOptions:
    """Options of ``cd`` (resbench.solvers.cd.solve_cd)."""

    #: stopping rule: estimated voltage error ≤ tol × voltage scale
    tol: float = CD_DEFAULT_TOL
    #: sweep limit (then the exact polish finishes)
    max_sweeps: int = CD_DEFAULT_MAX_SWEEPS
    #: over-relaxation factor in (0, 2), or "auto"
    omega: float | str = CD_DEFAULT_OMEGA
    #: exact active-set polish after the sweeps: "auto", "always" or "never"
    polish: str = CD_DEFAULT_POLISH
    #: conductance (S) from every node to ground
    gmin: float = 0.0
    #: starting node voltages (one per circuit node), projected onto the constraints
    warm_start: np.ndarray | None = None
    #: stop the sweeps for the direct finish when the sweeps still to come are predicted
    #: to cost more than this many times it (resbench.solvers.direct.SWITCH_MARGIN)
    direct_margin: float = 1.0


@dataclass(frozen=True)
class ReferenceOptions:
    """Options of ``reference`` (resbench.solvers.reference.solve_reference)."""

    #: conductance (S) from every node to ground
    gmin: float = 0.0


@dataclass(frozen=True)
class NgspiceOptions:
    """Options of ``ngspice`` (resbench.solvers.ngspice.solve_ngspice)."""

    #: "shared" (libngspice in a reused worker) or "batch" (``ngspice -b``)
    mode: str = DEFAULT_NGSPICE_MODE
    #: "switch" (ideal-diode switch) or "shockley" (SPICE's diode)
    diode_model: str = DEFAULT_DIODE_MODEL
    #: seconds one run may take before ngspice's process group is killed
    timeout: float = DEFAULT_TIMEOUT
    #: conductance (S) from every node to ground (ngspice's rshunt = 1/gmin); None: none
    gmin: float | None = None


@dataclass(frozen=True)
class OsqpOptions:
    """Options of ``osqp`` (resbench.solvers.qp.solve_osqp): OSQP's own settings."""

    #: absolute tolerance of OSQP's primal and dual residuals
    eps_abs: float = 1e-9
    #: relative tolerance of OSQP's primal and dual residuals
    eps_rel: float = 1e-9
    #: OSQP's solution polishing (an active-set refinement after ADMM)
    polishing: bool = True
    #: ADMM iteration limit
    max_iter: int = 100_000
    #: seconds OSQP may run (0: no limit)
    time_limit: float = 0.0
    #: conductance (S) from every node to ground
    gmin: float = 0.0


@dataclass(frozen=True)
class ClarabelOptions:
    """Options of ``clarabel`` (resbench.solvers.qp.solve_clarabel)."""

    #: Clarabel's tol_gap_abs, tol_gap_rel and tol_feas at once
    eps: float = 1e-8
    #: interior-point iteration limit
    max_iter: int = 200
    #: conductance (S) from every node to ground
    gmin: float = 0.0


@dataclass(frozen=True)
class HighsOptions:
    """Options of ``highs`` (resbench.solvers.qp.solve_highs): HiGHS's QP solver."""

    #: HiGHS's primal_feasibility_tolerance
    primal_tol: float = 1e-7
    #: HiGHS's dual_feasibility_tolerance
    dual_tol: float = 1e-7
    #: seconds HiGHS may run (0: no limit)
    time_limit: float = 0.0
    #: conductance (S) from every node to ground
    gmin: float = 0.0


@dataclass(frozen=True)
class ScipyOptions:
    """Options of ``scipy`` (resbench.solvers.scipy_direct.solve_scipy)."""

    #: active-set iteration limit (each iteration is one sparse LU factorisation)
    max_iter: int = 200
    #: conductance (S) from every node to ground
    gmin: float = 0.0


@dataclass(frozen=True)
class PaperOptions:
    """Options of ``paper`` (resbench.solvers.paper_backend.solve_paper)."""

    #: checkout of the paper's code (None: the RESBENCH_PAPER_CODE environment variable)
    paper_code: str | None = None
    #: block-CD iterations (None: the paper's own for a preset, else 4)
    iterations: int | None = None
    #: "float64" or "float32"
    dtype: str = "float64"
    #: torch threads during the run (None: torch's current setting)
    threads: int | None = None


# ------------------------------------------------------------------ solvers
@dataclass(frozen=True)
class SolverSpec:
    """What resbench knows about one solver (see the module docstring)."""

    name: str
    #: ``"module:function"`` (imported on first use) or the function itself
    entry: str | Callable[..., Solution]
    #: a frozen dataclass whose fields are the solver's options and defaults
    options: type
    #: True when the answer is exact, so a converged answer must certify
    exact: bool
    description: str = ""
    #: another project's solver, benchmarked by ``compare``/``scale --solvers``
    peer: bool = False
    #: the optional extra that installs it (``pip install -e '.[extra]'``), if any
    extra: str | None = None
    #: modules it imports (checked by :meth:`missing` without importing them)
    requires: tuple[str, ...] = ()

    def missing(self) -> str | None:
        """None when every module in ``requires`` can be imported, else the status
        text ``"not installed: pip install -e '.[extra]' (no module osqp)"``."""
        absent = [m for m in self.requires if importlib.util.find_spec(m) is None]
        if not absent:
            return None
        hint = f"pip install -e '.[{self.extra}]'" if self.extra else "install " + absent[0]
        return f"{NotInstalled.status}: {hint} (no module {', '.join(absent)})"

    def function(self) -> Callable[..., Solution]:
        """The entry function, imported now if it was given as ``"module:function"``."""
        if callable(self.entry):
            return self.entry
        module, _, attr = self.entry.partition(":")
        return getattr(importlib.import_module(module), attr)

    def option_names(self) -> tuple[str, ...]:
        """Names of the options this solver takes."""
        return tuple(f.name for f in dataclasses.fields(self.options))

    def check_options(self, options: Mapping[str, Any]) -> None:
        """Raise SolverOptionError naming the unknown options and the valid ones."""
        valid = self.option_names()
        unknown = [k for k in options if k not in valid]
        if unknown:
            s = "s" if len(unknown) > 1 else ""
            raise SolverOptionError(
                f"unknown option{s} for solver {self.name!r}: {', '.join(unknown)} "
                f"(valid: {', '.join(valid) or 'none'})"
            )

    def make_options(self, **options: Any) -> Any:
        """The solver's options dataclass from keyword options (checked; defaults filled)."""
        self.check_options(options)
        return self.options(**options)

    def run(self, circuit: Circuit, **options: Any) -> Solution:
        """Check ``options``, fill the defaults and call the entry function."""
        opts = self.make_options(**options)
        values = {f.name: getattr(opts, f.name) for f in dataclasses.fields(opts)}
        return self.function()(circuit, **values)


_REGISTRY: dict[str, SolverSpec] = {}


def register(spec: SolverSpec, *, replace: bool = False) -> SolverSpec:
    """Add a solver (the one line a new backend needs).  A name already taken raises
    ValueError unless ``replace``."""
    if not dataclasses.is_dataclass(spec.options):
        raise TypeError(f"options of solver {spec.name!r} must be a dataclass type")
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"solver {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a solver (plug-ins and tests that registered one for a while)."""
    _REGISTRY.pop(name, None)


def get_solver(name: str) -> SolverSpec:
    """The spec of ``name``; UnknownSolverError naming the registered solvers otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownSolverError(
            f"unknown solver {name!r}; choose one of {', '.join(solver_names())}"
        ) from None


def solver_names() -> tuple[str, ...]:
    """Every registered solver, in registration order."""
    return tuple(_REGISTRY)


def exact_solver_names() -> tuple[str, ...]:
    """The registered exact solvers (those ``compare`` can benchmark against ngspice);
    peers are not among them."""
    return tuple(name for name, spec in _REGISTRY.items() if spec.exact and not spec.peer)


def peer_solver_names() -> tuple[str, ...]:
    """The registered peers (other projects' solvers), in registration order."""
    return tuple(name for name, spec in _REGISTRY.items() if spec.peer)


def _convert(spec: SolverSpec, name: str, text: str) -> Any:
    """``text`` as the type of option ``name`` of ``spec`` (from its default / hint)."""
    field = next(f for f in dataclasses.fields(spec.options) if f.name == name)
    hint = str(field.type)
    low = text.strip().lower()
    if low in ("none", "null") and "None" in hint:
        return None
    try:
        if hint.startswith("bool"):
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if hint.startswith("int"):
            return int(low)
        if hint.startswith("float"):
            return float(low)
    except ValueError:
        kind = hint.split(" ")[0]
        raise SolverOptionError(f"option {spec.name}.{name} takes a {kind}, got {text!r}") from None
    return text.strip()


def parse_solver_options(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["osqp.eps_abs=1e-9", "highs.time_limit=60"]`` → ``{"osqp": {"eps_abs": 1e-9},
    "highs": {"time_limit": 60.0}}``, each value converted to the option's type.  An
    unknown solver raises UnknownSolverError, an unknown option or a bad value
    SolverOptionError (naming the valid ones), a malformed item SolverOptionError."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, eq, value = str(item).partition("=")
        solver, dot, name = key.strip().partition(".")
        if not eq or not dot or not solver or not name:
            raise SolverOptionError(
                f"bad solver option {item!r}: write SOLVER.OPTION=VALUE, e.g. osqp.eps_abs=1e-9"
            )
        spec = get_solver(solver.lower())
        spec.check_options({name: None})
        out.setdefault(spec.name, {})[name] = _convert(spec, name, value)
    return out


register(
    SolverSpec(
        "cd",
        "resbench.solvers.cd:solve_cd",
        CdOptions,
        exact=True,
        description="exact coordinate descent (numba) with an exact active-set polish; fast",
    )
)
register(
    SolverSpec(
        "reference",
        "resbench.solvers.reference:solve_reference",
        ReferenceOptions,
        exact=True,
        description="slow, obviously correct KKT + Lemke solver, for tests and checks",
    )
)
register(
    SolverSpec(
        "ngspice",
        "resbench.solvers.ngspice:solve_ngspice",
        NgspiceOptions,
        exact=False,
        description="ngspice through PySpice (ideal diodes as switches), in a child process",
    )
)

_PEERS = (
    (
        "osqp",
        "resbench.solvers.qp:solve_osqp",
        OsqpOptions,
        "qp",
        ("osqp",),
        "OSQP (ADMM) on the reduced QP; eps_abs/eps_rel/polishing as options",
    ),
    (
        "clarabel",
        "resbench.solvers.qp:solve_clarabel",
        ClarabelOptions,
        "qp",
        ("clarabel",),
        "Clarabel (interior point) on the reduced QP",
    ),
    (
        "highs",
        "resbench.solvers.qp:solve_highs",
        HighsOptions,
        "qp",
        ("highspy",),
        "HiGHS's QP solver (active set) on the reduced QP",
    ),
    (
        "scipy",
        "resbench.solvers.scipy_direct:solve_scipy",
        ScipyOptions,
        None,
        ("scipy",),
        "sparse direct solves (scipy SuperLU) in a primal-dual active-set loop",
    ),
    (
        "paper",
        "resbench.solvers.paper_backend:solve_paper",
        PaperOptions,
        "peers",
        ("torch",),
        "the paper's own PyTorch block CD, DRN circuits only (--paper-code DIR)",
    ),
)
for _name, _entry, _opts, _extra, _requires, _desc in _PEERS:
    register(
        SolverSpec(
            _name,
            _entry,
            _opts,
            exact=True,
            description=_desc,
            peer=True,
            extra=_extra,
            requires=_requires,
        )
    )
