"""A Solution whose voltage sources' currents are computed when first read.

:meth:`resbench.batch.Network.solve` certifies its answer by default, and a certified
:class:`~resbench.solution.Solution` carries the diodes' and the voltage sources'
currents.  The diodes' come with the certificate; the sources' are a product of their
own: on DRN-1H, every input source's current reads the input layer's whole map
(1568 × 1024 conductances, ~0.7 ms, more than the solve and its certificate together).
Most callers never read them.  So ``Network.solve`` returns a :class:`NetworkSolution`:
a Solution in every respect (a subclass; the same fields, ``replace``, ``asdict``,
``to_dict``, pickling), whose ``vsource_current`` (and its certificate's) is computed
by the certificate on first read, once, and then kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from resbench.certificate import Certificate
from resbench.solution import Solution


class Deferred:
    """A value made by ``fn()`` on first :meth:`get`, once (then kept)."""

    __slots__ = ("_fn", "_value")

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._fn: Callable[[], Any] | None = fn
        self._value: Any = None

    def get(self) -> Any:
        if self._fn is not None:
            self._value = self._fn()
            self._fn = None  # (drops what the function held: voltages, values, network)
        return self._value

    @property
    def done(self) -> bool:
        """Has the value been made?"""
        return self._fn is None


def _deferred_field(name: str) -> property:
    """A dataclass field of a subclass, stored as ``_<name>``: a :class:`Deferred`
    assigned to it is evaluated on first read and replaced by its value."""
    key = "_" + name

    def fget(self: Any) -> Any:
        value = self.__dict__[key]
        if isinstance(value, Deferred):
            value = self.__dict__[key] = value.get()
        return value

    def fset(self: Any, value: Any) -> None:
        self.__dict__[key] = value

    return property(fget, fset, doc=f"``{name}``, computed on first read when deferred")


class _Evaluated:
    """Pickling and copies evaluate what is deferred (a Deferred holds a function)."""

    _DEFERRED: tuple[str, ...] = ()

    def __getstate__(self) -> dict:
        for name in self._DEFERRED:
            getattr(self, name)
        return dict(self.__dict__)

    def is_deferred(self, name: str) -> bool:
        """True while the field ``name`` has not been computed yet."""
        value = self.__dict__.get("_" + name)
        return isinstance(value, Deferred) and not value.done


class NetworkCertificate(_Evaluated, Certificate):
    """A :class:`~resbench.certificate.Certificate` whose ``vsource_current`` may be
    deferred (computed on first read)."""

    _DEFERRED = ("vsource_current",)
    vsource_current = _deferred_field("vsource_current")  # type: ignore[assignment]


class NetworkSolution(_Evaluated, Solution):
    """A :class:`~resbench.solution.Solution` whose ``vsource_current`` may be deferred
    (computed on first read; its certificate shares the same computation)."""

    _DEFERRED = ("vsource_current",)
    vsource_current = _deferred_field("vsource_current")  # type: ignore[assignment]
