"""Netlist dialect: parser (text -> Circuit) and writer (Circuit -> text).

The dialect is the subset of SPICE that ngspice reads for a DC operating point
(docs/design.md §3), so the same file runs in both programs.  The parser
knows nothing about solvers; it produces a flattened :class:`Circuit`.

Public API::

    read_netlist(path) -> Circuit
    parse_netlist(text, file=None, base_dir=None) -> Circuit
    write_netlist(circuit, diode_style="diode", analysis=".op", title=None) -> str
    parse_value("10kohm") -> 10000.0

Every failure on bad input is a :class:`NetlistError` carrying file, line,
the offending text and a hint; ``parse_netlist`` raises nothing else.

Decisions where SPICE dialects differ (each one covered by tests/test_netlist.py):

* ``.end`` stops reading the file it is in; ``.control … .endc`` is skipped with
  a warning and never run.
* ``.param`` values may refer to parameters defined later (evaluated on first
  use, cycles are errors); element values need ``{…}`` or ``'…'`` to use them.
* Subcircuits may be defined after use and inside other subcircuits (then they
  are local to it).  Flattened names follow ngspice: ``R1`` in ``X1`` is
  ``r.x1.r1``, node ``n1`` in ``X1`` is ``x1.n1``; ``0``/``gnd`` and ``.global``
  nodes are not renamed.  ``.model`` cards are global wherever they appear.
* A source with only a transient function (SIN, PULSE, …) or only an AC part gets
  DC value 0 (ngspice's ``.op`` would use the value at t=0); a source with no
  value at all is an error (ngspice takes 0 with a warning).  DC, AC and a
  transient function may each appear once.  Notes about ignored parts are
  grouped by kind in ``circuit.warnings``.
* ``.dc SRC START STOP STEP [SRC2 START2 STOP2 STEP2]`` is read into ``circuit.dc``
  (a :class:`~resbench.circuit.DcSweep`; values are numbers or ``{…}``): each source
  must be a V or I source of the (flattened) netlist, a step nonzero and pointing from
  START to STOP, at most ``MAX_DC_POINTS`` points in all.  A ``.dc`` inside a
  ``.subckt``, a second ``.dc`` card, and sweeps of a resistor or the temperature
  are errors.  ``write_netlist`` writes the card back (``dc=False`` leaves it out).
* Resistor parameters (``tc1=``, ``m=``, ``r=``) are rejected; the instance
  parameters SPICE defines for diodes (``[area] [off] ic= temp= …``),
  capacitors and inductors (``ic= m= temp= …``) are ignored with a note, and any
  other extra token is an error.  ``.model`` parameter lists are ``name=value``
  (numbers or ``{…}``), in at most one pair of parentheses.
* Files are read as strict UTF-8 (a leading BOM is dropped in every file) and
  must be regular files (not FIFOs, devices, or files of /proc or /sys).
  Numbers must be finite doubles; nonzero literals and products that underflow
  are errors; element values are 0 or of magnitude ``VALUE_MIN`` … ``VALUE_MAX``.
* Subcircuit instances are counted before they are expanded
  (``MAX_EXPANDED_ELEMENTS``) and nested at most ``MAX_SUBCKT_DEPTH`` deep;
  ``.include`` at most ``MAX_INCLUDE_DEPTH`` deep.  A redefined ``.param`` keeps
  its last definition, with a note.  Error messages show a bounded, escaped
  snippet of the offending line.

Speed: plain element lines take a fast path (split, first-letter dispatch,
node names interned through one dict, columns collected in ``array`` buffers
that become numpy arrays without copying); only lines with ``{}``, quotes,
``=`` or parentheses, and ``X`` instances, go through the general tokenizer.
Top-level lines are built while reading unless an earlier top-level line had
to wait for definitions further down (a ``{…}`` value or an ``X`` instance);
from then on they are built after reading, in order, so nodes are always
numbered in order of first appearance in the flattened netlist.

Modules (this package re-exports the public API; import from ``resbench.netlist``):

* ``lex`` — SPICE numbers (``parse_value``), the value range, token patterns;
* ``reader`` — pass 1: files (regular, UTF-8), lines, comments, ``+`` continuations,
  dot cards and ``.include``;
* ``cards`` — element cards (R, D, V, I, C, L), their values and extra
  parameters, ``.model`` cards;
* ``subckt`` — ``.subckt`` definitions, parameter scopes, counting and expanding
  ``X`` instances;
* ``parser`` — ``_Parser``, which joins the three over one state, and
  ``parse_netlist`` / ``read_netlist``;
* ``writer`` — ``write_netlist``.
"""

from __future__ import annotations

from resbench.netlist.cards import MAX_DC_POINTS
from resbench.netlist.lex import VALUE_MAX, VALUE_MIN, parse_value
from resbench.netlist.parser import parse_netlist, read_netlist
from resbench.netlist.reader import MAX_INCLUDE_DEPTH
from resbench.netlist.subckt import MAX_EXPANDED_ELEMENTS, MAX_SUBCKT_DEPTH
from resbench.netlist.writer import write_netlist

__all__ = [
    "MAX_DC_POINTS",
    "MAX_EXPANDED_ELEMENTS",
    "MAX_INCLUDE_DEPTH",
    "MAX_SUBCKT_DEPTH",
    "VALUE_MAX",
    "VALUE_MIN",
    "parse_netlist",
    "parse_value",
    "read_netlist",
    "write_netlist",
]
