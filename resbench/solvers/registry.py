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
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
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
    """The registered exact solvers (those ``compare`` can benchmark against ngspice)."""
    return tuple(name for name, spec in _REGISTRY.items() if spec.exact)


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
