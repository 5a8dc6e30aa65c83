"""Network: one circuit, set up once, solved for many input vectors.

Between inputs only source values change, and everything that depends on them is
linear in them (docs/design.md §9).  For input values ``s`` (V and I sources):

* node offsets (voltage of a node above its supernode's, or its absolute voltage when
  fixed): ``offset(s) = offset₀ + M (s − s₀)``, M sparse (±1 along the chain of voltage
  sources that joins a node to its supernode's root);
* free-node injections: ``c(s) = c₀ + A (s − s₀)`` with ``A = K M + J``: K takes node
  offsets to injections through the resistors (and the gmin leak), J the current
  sources.  In a DRN, A is the dense input-to-hidden conductance block: one GEMM;
* diode bounds and free–free diode limits: ``ob − oa`` of each diode, linear too (only
  diodes whose ends move with an input are recomputed per sample).

The structure — supernodes, folding, colouring, islands, sweep arrays — is built once by
:func:`resbench.solvers.problem.compile_problem` at the netlist's own values (``s₀``).
A batch is then one matrix product and coordinate-descent sweeps vectorised over the
samples (:mod:`resbench.batch._kernels`), with the single solver's per-sample stopping
rule; samples that need it (free–free diodes, no convergence, slow convergence on a
small problem) get the exact active-set polish on their own reduced problem, as
:func:`resbench.solvers.cd.solve_cd` does.  Circuits with islands (groups reached only
through diodes) take the single solver per sample.

Exactness: every sample's answer equals ``resbench.solve`` on the circuit with that
sample's values (:func:`with_values`) to ≤ 1e-9 of the voltage scale (tests).
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from resbench.batch.deferred import Deferred, NetworkCertificate, NetworkSolution
from resbench.batch.result import BatchCertificate, BatchResult
from resbench.circuit import Branches, Circuit, with_values  # noqa: F401 - re-exported
from resbench.defaults import CD_DEFAULT_MAX_SWEEPS, CD_DEFAULT_TOL, DEFAULT_RTOL
from resbench.errors import CircuitError, InputError, ResbenchError
from resbench.memory import available_memory, gib
from resbench.solution import (
    CONVERGED,
    FAILED,
    NOT_CERTIFIED,
    STALLED,
    SWEEP_LIMIT,
    Solution,
)
from resbench.threads import limit_threads, numba_thread_count, one_thread, product

F32_TOL = 1e-6  # relative tolerance floor of float32 sweeps (≈ 8 ulps): below it the
# a-posteriori rule cannot be met in single precision
F32_RTOL = 1e-5  # default certificate tolerance of float32 answers (their precision:
# docs/batch.md measures it)
DENSE_FRACTION = 0.05  # the input map A is stored dense above this fill (a DRN's input
# layer is ≈ 50 % or more): one BLAS GEMM beats a sparse product there
DENSE_MAX_BYTES = 1 << 30
BLOCK = 4096  # samples per block of solve_batch (memory and progress granularity)
SMALL_PROBLEM = 5000  # as resbench.solvers.cd: polish slowly converging small problems
_SLOW_SWEEPS = 50
SINGLE_BELOW = 3  # batches of fewer samples sweep one sample at a time (float64)
FOLD_MIN_ROWS = 16  # fold input columns only when A has this many rows: finding equal
# columns costs two passes over the inputs, the GEMM 2 × rows flops per input value
# (DRN-XS, 110 rows: folding digits' cat(x, −x) saves ~2.5 ms of a 256-sample batch)
GEMV_MAX = 4  # batches of at most this many samples: the dense map by its nonzero input
# columns (one pass over those columns of A; no fold, nothing cached per pattern)
_EPS = {np.dtype(t): float(np.finfo(t).eps) for t in (np.float64, np.float32)}  # read
# once: np.finfo per call costs a few µs, paid on every batch of a tiny circuit
FOLD_CACHE = 4  # folded input maps kept per Network (one per column pattern)
SMALL_MAPS = 64  # circuits of at most this many nodes keep their input maps (M, K, A,
# D, the warm-start average) as dense arrays: one scipy.sparse construction costs
# ~50-100 µs, more than a tiny circuit's whole dense map (a .dc sweep of a 4-node
# diode circuit set up ~2 ms of sparse matrices per call)
SERIAL_BELOW = 1 << 18  # a block with fewer (samples × (nodes + inputs)) runs its kernels
# on one thread: waking numba's workers costs more than such a block's passes (a .dc
# sweep of a few nodes; DRN-1H at batch 32), and on a busy machine each parallel region
# can wait ms for a descheduled worker (measured: batch 32 on 2 busy cores, 4-6x slower)
HUB_MIN_DEG = 32  # rows with at least this many entries are summed by push in the batch
# sweeps when their order allows (hub_rows): a DRN's output nodes
PASS_PARALLEL = 1 << 18  # a pass over fewer entries (the input scan, its check, the
# chunk pass, the voltage assembly) runs on one thread even in a parallel block: each
# parallel region waits for a worker, ~10-50 us on a quiet machine and ms when the
# other core is busy, more than such a pass gains.  Was 1 << 20; with the products
# split over numba's threads (nothing else spinning), 1 << 18 measured faster, in
# process, 14 calls interleaved per setting, default and passive thread policies:
# DRN-XS batch 256 digits 5.9 -> 4.8 us per sample (passive 9.3 -> 7.7), random
# inputs 14.7 -> 12.3 (17.0 -> 13.8); DRN-1H batch 256 digits 22.1 -> 17.5 (24.6 ->
# 21.6); 1 << 17 no better
GEMM_PARALLEL = 1 << 23  # multiply-adds under which the batch's input GEMM runs on one
# BLAS thread (as the certificate's products); above, split over numba's threads
# (resbench.threads.split_matmul). With BLAS's own threads the cut was 1 << 25 (waking
# and then spinning cost more than they saved); on numba's threads 1 << 23 measured a
# little faster than 1 << 25 (DRN-XS batch 256 random inputs, 22M: 15.9-16.5 vs
# 16.9-18.1 us per sample; DRN-1H batch 256 digits, 14M: 18.8 vs 20.3) and 1 << 22 the
# same as 1 << 23
TWO_LAYER_TILE = 16  # the second layer's register tile in two_layer_sweeps (4 × 4 float64)
TWO_LAYER_BYTES = 8 << 20  # dense couplings of a two-layer graph kept up to this size
TWO_LAYER_DENSITY = 0.25  # and at least this full: a dense sweep runs SIMD over every
# entry, zeros included, ~4x the entries per cycle of the CSR's scalar gathers (DRN-1H,
# 50 % full, one sample: 5 sweeps in ~25 µs against ~70)
SMALL_BATCH_BYTES = 64 << 20  # batches below this are not checked against free memory
# (reading it costs ~0.3–1 ms: more than a small solve)
MEMORY_MAX_AGE = 1.0  # s: how old a reading of free memory a larger batch may go by
_F64 = np.dtype(np.float64)
_DT_NAME = {_F64: "float64", np.dtype(np.float32): "float32"}  # (dtype.name: ~5 µs)


def input_sources(circuit: Circuit) -> list[str]:
    """Names of every independent source (V then I), the default inputs."""
    return list(circuit.vsources.names) + list(circuit.isources.names)


class _FoldPattern:
    """One grouping of a batch's input columns (Network._folded_scan): ``nz`` the nonzero
    columns, ``group`` each one's group, ``sign`` each one's sign, ``n_groups``; ``key``
    identifies it (bytes); ``check`` the arguments of :func:`resbench.batch._kernels.
    fold_check` (zero-column mask; the shift h and the sign products of the columns
    checked against j − h and against j − 1; the other columns, their groups' first
    columns and sign products; the groups' first columns and signs); ``trusted``:
    check it first."""

    __slots__ = ("check", "group", "groups", "key", "n_groups", "nz", "sign", "trusted")

    def __init__(self, nz, group, sign, n_groups, key, check, groups=None) -> None:
        self.nz, self.group, self.sign, self.n_groups = nz, group, sign, n_groups
        self.key, self.check = key, check
        self.groups = groups  # (rep, sig) per column: the certifier's column_groups
        self.trusted = True

    @classmethod
    def of(
        cls, nz: np.ndarray, group: np.ndarray, first: np.ndarray, sign_all: np.ndarray
    ) -> _FoldPattern:
        """The pattern of group_columns' (nz, group, first) with scan_columns' signs
        (one per column of S)."""
        from resbench.batch._kernels import ABS_BITS

        nz = nz.astype(np.int64, copy=False)
        group = group.astype(np.int64, copy=False)
        first = first.astype(np.int64, copy=False)
        sign = sign_all[nz]
        k = sign_all.size
        grp = np.full(k, -1, dtype=np.int64)  # each column's group (-1: zeros)
        grp[nz] = group
        dep = np.ones(k, dtype=bool)  # the nonzero columns other than their group's first
        dep[grp < 0] = False
        dep[first] = False
        # each such column checked against an earlier column of its group: j - h (a
        # DRN's -x half against its x half), else j - 1 (equal neighbours), else its
        # group's first column (a gather)
        h = k // 2 if k % 2 == 0 else 0
        sg_h = np.zeros(k)
        sg_1 = np.zeros(k)
        if h:
            j = np.arange(h, k)
            use = dep[h:] & (grp[h:] == grp[:h])
            sg_h[j[use]] = sign_all[j[use]] * sign_all[j[use] - h]
            dep[j[use]] = False
            if not use.any():  # no column checked against j - h: no such loop
                h = 0
        j = np.arange(1, k)
        use = dep[1:] & (grp[1:] == grp[:-1])
        sg_1[j[use]] = sign_all[j[use]] * sign_all[j[use] - 1]
        dep[j[use]] = False
        cols = dep.nonzero()[0]
        rcols = first[grp[cols]]
        zmask = np.where(sign_all == 0.0, ABS_BITS, np.int64(0)).astype(np.int64)
        check = (
            zmask,
            h,
            sg_h,
            sg_1,
            cols,
            np.ascontiguousarray(rcols),
            sign_all[cols] * sign_all[rcols],
            first,
            np.ascontiguousarray(sign_all[first]),
        )
        key = nz.tobytes() + group.tobytes() + sign.tobytes()
        # per column: its group's first column and the sign product (zeros: itself, 0)
        rep = np.arange(k, dtype=np.int64)
        sig = np.zeros(k)
        live = grp >= 0
        rep[live] = first[grp[live]]
        sig[live] = sign_all[live] * sign_all[rep[live]]
        return cls(nz, group, sign, int(first.size), key, check, (rep, sig))


class _Arrays(NamedTuple):
    """What one call solves (Network._solve_arrays), before it is a BatchResult or a
    Solution."""

    values: np.ndarray
    voltages: np.ndarray
    sweeps: np.ndarray
    status: np.ndarray
    messages: list[str]
    polished: np.ndarray
    dtype: np.dtype
    certificate: BatchCertificate | None
    diode_current: np.ndarray | None
    vsource_current: np.ndarray | None
    timings: dict[str, float]
    omegas: list[float]
    rtol: float


class Network:
    """A circuit set up once for many input vectors (see the module docstring).

    ``inputs``: names of V or I sources whose values change between samples (None:
    every independent source).  ``gmin``: a leak to ground at every node, as the
    solvers' option.  Raises CircuitError for an unknown or repeated name, or an input
    voltage source that closes a loop of voltage sources (its value is then fixed by
    the others).
    """

    def __init__(
        self, circuit: Circuit, inputs: Sequence[str] | None = None, *, gmin: float = 0.0
    ) -> None:
        t0 = time.perf_counter()  # (the solver modules' first import is set-up too)
        ensure_compiled = _LAZY.cd.ensure_compiled
        compile_problem = _LAZY.problem.compile_problem
        self.circuit = circuit
        self.gmin = float(gmin)
        self.input_names = self._resolve_inputs(inputs)
        ensure_compiled()
        _compile_batch_kernels()
        self._problem = compile_problem(circuit, gmin=self.gmin)
        self._build_maps()
        self.setup_seconds = time.perf_counter() - t0
        self._certifier = None
        self._bc = None  # the BatchCertifier that _certifier calls
        self._g_cache: dict[np.dtype, np.ndarray] = {}

    # ------------------------------------------------------------------ inputs
    def _resolve_inputs(self, inputs: Sequence[str] | None) -> list[str]:
        c = self.circuit
        vs_idx = {n: j for j, n in enumerate(c.vsources.names)}
        is_idx = {n: j for j, n in enumerate(c.isources.names)}
        names = input_sources(c) if inputs is None else [str(x).lower() for x in inputs]
        seen: set[str] = set()
        self._v_in: list[tuple[int, int]] = []  # (column, vsource index)
        self._i_in: list[tuple[int, int]] = []  # (column, isource index)
        for col, name in enumerate(names):
            if name in seen:
                raise CircuitError(f"input {name!r} is listed twice; list each source once")
            seen.add(name)
            if name in vs_idx:
                self._v_in.append((col, vs_idx[name]))
            elif name in is_idx:
                self._i_in.append((col, is_idx[name]))
            else:
                valid = input_sources(c)
                shown = ", ".join(valid[:12]) + (
                    f" … ({len(valid)} in all)" if len(valid) > 12 else ""
                )
                raise CircuitError(
                    f"{name!r} is not a voltage or current source of this circuit; the "
                    f"sources are: {shown or 'none'}",
                    elements=[name],
                )
        return names

    @property
    def n_inputs(self) -> int:
        return len(self.input_names)

    def default_values(self) -> np.ndarray:
        """The input values written in the netlist ``[n_inputs]``."""
        s0 = np.zeros(self.n_inputs)
        for col, j in self._v_in:
            s0[col] = self.circuit.vsources.value[j]
        for col, j in self._i_in:
            s0[col] = self.circuit.isources.value[j]
        return s0

    def check_values(self, values: object, *, finite: bool = True) -> np.ndarray:
        """Input values as a float64 ``[B, n_inputs]`` array (1-D: one sample), or an
        InputError saying what is wrong (shape, NaN or inf, not numbers, empty).
        ``finite=False`` leaves the NaN / inf check to the caller (:meth:`_check_finite`:
        ``solve_batch`` has the fold's pass over the values find them, one pass fewer)."""
        try:
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"input values are not numbers: {exc}") from None
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != self.n_inputs:
            raise InputError(
                f"input values have shape {arr.shape}; expected [samples, {self.n_inputs}] "
                f"with one column per input ({', '.join(self.input_names[:8])}"
                f"{' …' if self.n_inputs > 8 else ''})"
            )
        if arr.shape[0] == 0:
            raise InputError("no input samples (0 rows); give at least one")
        arr = np.ascontiguousarray(arr)
        if finite:
            self._check_finite(arr)
        return arr

    def _check_finite(self, S: np.ndarray) -> None:
        """An InputError naming the first NaN or inf of the values ``S`` (checked values,
        sample-major), if any."""
        if not _LAZY.bk.all_finite(S):
            bad = np.argwhere(~np.isfinite(S))
            r, k = (int(x) for x in bad[0])
            raise InputError(
                f"input value of {self.input_names[k]!r} in sample {r} is {S[r, k]!r}; "
                f"values must be finite ({bad.shape[0]} such value(s) in all)"
            )

    def estimate_bytes(
        self, batch: int, *, dtype: object = np.float64, currents: bool = False
    ) -> int:
        """Peak memory of ``solve_batch`` on ``batch`` samples (estimated before allocating)."""
        p = self._problem
        item = np.dtype(dtype).itemsize
        per_sample = (
            8 * self.circuit.n_nodes * 3  # voltages, offsets, certificate work
            + item * p.n * 5  # injections, U, OUT, Q, start
            + 8 * p.n * 2  # float64 injections and start
            + 8 * self.n_inputs * 2
            + (16 * p.n if self._var_bounds else 0)
            + (16 * p.n_ff_diodes if self._var_ff else 0)
        )
        if currents:
            per_sample += 8 * (len(self.circuit.diodes) + len(self.circuit.vsources))
        rows = min(int(batch), BLOCK)
        return int(per_sample * rows + 8 * self.circuit.n_nodes * int(batch) + (1 << 20))

    # ------------------------------------------------------------------ setup
    def _build_maps(self) -> None:
        """The linear maps from input values to offsets, injections and bounds.

        A circuit of at most SMALL_MAPS nodes builds them dense, in two kernel calls
        (:mod:`resbench.batch._network_kernels`: a ``.dc`` sweep sets a Network up per
        sweep, and a hundred numpy steps on arrays of a few entries cost more than its
        whole sweep); larger circuits build them sparse, by whole-array steps.  Both
        give the same maps (tests/test_batch_small_maps.py)."""
        KVL_REL_TOL, V_SCALE_FLOOR = _LAZY.problem.KVL_REL_TOL, _LAZY.problem.V_SCALE_FLOOR
        c, p = self.circuit, self._problem
        n_nodes, nin = c.n_nodes, self.n_inputs
        self._s0 = self.default_values()
        vs = c.vsources
        sn = p.supernode
        small = n_nodes <= SMALL_MAPS
        v_cols = [col for col, _ in self._v_in]
        self._v_cols = np.array(v_cols, dtype=np.int64)
        self._v_mask = np.zeros(nin, dtype=bool)
        self._v_mask[self._v_cols] = True
        self._all_v = bool(self._v_mask.all())  # every input a voltage (the fold's pass)
        self._probes: dict[int, np.ndarray] = {}  # the fold's probe vector by batch size
        in_v = np.zeros(len(vs), dtype=bool)
        in_v[[j for _, j in self._v_in]] = True
        # ---- offsets: one union–find probe per input voltage source (the structure
        # does not depend on values, so the offsets are linear in the link values);
        # K: node offsets → free-node injections (resistors, gmin), only the columns
        # of nodes that move with an input
        if small:
            res, ind = c.resistors, c.inductors
            self._M, touched, K, bad = _LAZY.nk.small_offset_maps(
                n_nodes,
                p.n,
                nin,
                self._v_cols,
                np.array([j for _, j in self._v_in], dtype=np.int64),
                *(_i32(vs.a), _i32(vs.b), _i32(res.a), _i32(res.b), res.value),
                *(_i32(ind.a), _i32(ind.b), KVL_REL_TOL, _i32(sn), self.gmin),
            )
            if bad >= 0:
                raise _loop_error(vs.names[self._v_in[bad][1]])
            A = K @ self._M
        else:
            M, touched, m_row, m_col, m_val = self._offset_map()
            self._M = M
            k_row, k_col, k_val = _k_entries(
                sn, touched, c.resistors.a, c.resistors.b, c.resistors.value, self.gmin
            )
            K = sp.csr_matrix((k_val, (k_row, k_col)), shape=(p.n, n_nodes))
            A = (K @ self._M).tocsr()
        if self._i_in:
            isrc = c.isources
            jr, jc, jv = [], [], []
            for col, j in self._i_in:
                a_, b_ = sn[isrc.a[j]], sn[isrc.b[j]]
                if b_ >= 0:
                    jr.append(b_), jc.append(col), jv.append(1.0)
                if a_ >= 0:
                    jr.append(a_), jc.append(col), jv.append(-1.0)
            if small:
                np.add.at(A, (np.asarray(jr, np.int64), np.asarray(jc, np.int64)), jv)
            else:
                A = (A + sp.csr_matrix((jv, (jr, jc)), shape=(p.n, nin))).tocsr()
        if small:
            a_nnz = int(np.count_nonzero(A))
        else:
            A.eliminate_zeros()
            a_nnz = A.nnz
        self._A_sparse = A  # small circuits: a dense array (same products)
        fill = a_nnz / max(1, p.n * nin)
        # column-major: a column (one input's couplings) is contiguous, for the fold and
        # the few-sample product over nonzero inputs; BLAS takes either order
        self._A_dense = (
            np.asfortranarray(A if small else A.toarray())
            if fill >= DENSE_FRACTION and 8 * p.n * nin <= DENSE_MAX_BYTES
            else None
        )
        self._A_row_major: dict[np.dtype, np.ndarray] = {}  # (_A_rows)
        self._fold_cache: dict[tuple, np.ndarray] = {}
        self._fold_pattern: _FoldPattern | None = None  # the last batch's fold (checked
        # in one pass by the next batch, instead of grouping its columns again)
        # injections at zero input values: c(s) = c_fixed + A s (the dense GEMM path)
        self._c_fixed = self._fixed_injection(A)
        if small:
            dio = c.diodes
            out = _LAZY.nk.small_maps(
                self._M,
                touched,
                _i32(sn),
                p.offset,
                p.diag,
                self._s0,
                _i32(dio.a),
                _i32(dio.b),
                p.ff_diode.astype(np.int64, copy=False),
                _i32(p.ff_anode),
                _i32(p.ff_cathode),
                self._v_mask,
                in_v,
                vs.value,
            )
            (self._D, self._dio_base, self._check_dio, self._hi_var, self._lo_var) = out[:5]
            self._lo0, self._hi0, self._var_ff, self._in_order, self._out_order = out[5:10]
            self._fixed_nodes, self._fixed_moving, self._M_fixed_moving = out[10:13]
            self._fixed_const_max = out[13]
            self._m_row, self._m_col, self._m_val = out[14:17]
            self._vs_const_max, self._inv_diag = out[17:19]
            self._voltage_plan = tuple(out[19:])
            self._var_bounds = bool(self._hi_var.size or self._lo_var.size)
        else:
            self._large_maps(touched, m_row, m_col, m_val, in_v)
        # every sample's voltage scale is at least this (fixed and source voltages that
        # do not move, the floor)
        self._vs_floor = max(self._fixed_const_max, self._vs_const_max, V_SCALE_FLOOR)
        self._paired_maps: dict[int, np.ndarray] = {}  # by pair_layout's layout
        # the per-sample work needs the input changes dS = s − s₀ only for these
        self._needs_dS = bool(
            self._var_bounds or self._var_ff or self._check_dio.size or self._fixed_moving.size
        )

    def _fixed_injection(self, A) -> np.ndarray:
        """The free nodes' injections with every input at zero, computed from the
        circuit (``fixed_injection``), not as ``p.c − A s₀``: that difference cancels the
        inputs' share of the netlist's injections and leaves its round-off, ~1e-16 of
        the netlist values, which a sample with much smaller inputs inherits (a weakly
        grounded node turns 1e-18 A into 1e-12 V where the exact answer is 0)."""
        c, p = self.circuit, self._problem
        if not p.n:
            return np.zeros(0)
        vs, isrc = c.vsources, c.isources
        _, vidx, _, iidx = self._in_columns
        vs_val = vs.value.copy()
        vs_val[vidx] = 0.0
        is_val = isrc.value.copy()
        is_val[iidx] = 0.0
        res, ind = c.resistors, c.inductors
        out, bad = _LAZY.nk.fixed_injection(
            c.n_nodes,
            p.n,
            *(_i32(vs.a), _i32(vs.b), vs_val, _i32(res.a), _i32(res.b), res.value),
            *(_i32(ind.a), _i32(ind.b), _LAZY.problem.KVL_REL_TOL, _i32(p.supernode)),
            *(self.gmin, _i32(isrc.a), _i32(isrc.b), is_val),
        )
        return out if bad < 0 else p.c - np.asarray(A @ self._s0)

    def _offset_map(self):
        """The offset map M (CSR ``[n_nodes, n_inputs]``) by one union–find probe per
        input voltage source, the nodes it moves, and its entries (row, column, value)
        in probe order (the large circuits' path of :meth:`_build_maps`)."""
        from resbench.solvers import _kernels as kernels
        from resbench.solvers.problem import KVL_REL_TOL

        c = self.circuit
        n_nodes, nin = c.n_nodes, self.n_inputs
        vs, res, ind = c.vsources, c.resistors, c.inductors
        shorts = (res.value == 0.0).nonzero()[0]
        la = np.concatenate([vs.a, res.a[shorts], ind.a]).astype(np.int64, copy=False)
        lb = np.concatenate([vs.b, res.b[shorts], ind.b]).astype(np.int64, copy=False)
        rows, cols, vals = [], [], []
        for col, j in self._v_in:
            probe = np.zeros(la.shape[0])
            probe[j] = 1.0
            _, off, bad = kernels.union_offsets(n_nodes, la, lb, probe, KVL_REL_TOL)
            if bad >= 0:
                raise _loop_error(vs.names[j])
            nz = off.nonzero()[0]
            rows.append(nz)
            cols.append(np.full(nz.size, col))
            vals.append(off[nz])
        cat = np.concatenate
        m_val = cat(vals) if vals else np.zeros(0)
        m_row = cat(rows) if rows else np.zeros(0, np.int64)
        m_col = cat(cols) if cols else np.zeros(0, np.int64)
        M = sp.csr_matrix((m_val, (m_row, m_col)), shape=(n_nodes, nin))
        touched = np.zeros(n_nodes, dtype=bool)
        touched[m_row] = True
        return M, touched, m_row, m_col, m_val

    def _large_maps(self, touched, m_row, m_col, m_val, in_v) -> None:
        """What :meth:`_build_maps` derives from the offset map M of a large circuit
        (sparse), by whole-array steps: the attributes ``small_maps`` returns for a
        small one (see :func:`resbench.batch._network_kernels.small_maps`)."""
        c, p = self.circuit, self._problem
        nin = self.n_inputs
        sn = p.supernode
        # ---- diodes: per-diode ob − oa, and which of them move with an input
        dio = c.diodes
        da, db = dio.a.astype(np.int64, copy=False), dio.b.astype(np.int64, copy=False)
        sa, sb = sn[da], sn[db]
        moving = touched[da] | touched[db]
        self._D = (self._M[db] - self._M[da]).tocsr() if len(dio) else sp.csr_matrix((0, nin))
        self._dio_base = p.offset[db] - p.offset[da]  # ob − oa at s₀
        const = ((sa < 0) & (sb < 0)) | ((sa == sb) & (sa >= 0))
        self._check_dio = (const & moving).nonzero()[0]  # v_a ≤ v_c to check per sample
        hi_var = ((sa >= 0) & (sb < 0) & moving).nonzero()[0]  # u[sa] ≤ ob − oa
        lo_var = ((sa < 0) & (sb >= 0) & moving).nonzero()[0]  # u[sb] ≥ oa − ob
        self._hi_var, self._lo_var = hi_var, lo_var
        self._var_bounds = bool(hi_var.size or lo_var.size)
        if self._var_bounds:
            lo0 = np.full(p.n, -np.inf)
            hi0 = np.full(p.n, np.inf)
            m = (sa >= 0) & (sb < 0) & ~moving
            np.minimum.at(hi0, sa[m], self._dio_base[m])
            m = (sa < 0) & (sb >= 0) & ~moving
            np.maximum.at(lo0, sb[m], -self._dio_base[m])
            self._lo0, self._hi0 = lo0, hi0
        ffd = p.ff_diode
        self._var_ff = bool(ffd.size and moving[ffd].any())
        self._in_order = np.argsort(p.ff_cathode, kind="stable")
        self._out_order = np.argsort(p.ff_anode, kind="stable")
        # ---- per sample v_scale: fixed voltages, constant source values
        self._fixed_nodes = (sn < 0).nonzero()[0]
        fixed_moving = touched[self._fixed_nodes]
        self._fixed_const_max = float(
            np.maximum.reduce(np.abs(p.offset[self._fixed_nodes[~fixed_moving]]), initial=0.0)
        )
        # a fixed node whose voltage is exactly ± one input voltage source's value (held
        # by it against ground) is already counted by |values|: only the others are read
        Mr = self._M  # CSR: rows = nodes
        fm = self._fixed_nodes[fixed_moving]
        covered = np.zeros(fm.size, dtype=bool)
        if fm.size:
            sub = Mr[fm]
            one = (np.diff(sub.indptr) == 1).nonzero()[0]
            col = sub.indices[sub.indptr[one]]
            sign = sub.data[sub.indptr[one]]
            covered[one] = (
                (np.abs(sign) == 1.0)
                & self._v_mask[col]
                & (p.offset[fm[one]] == sign * self._s0[col])
            )
        self._fixed_moving = fm[~covered]
        self._M_fixed_moving = Mr[self._fixed_moving]
        Mc = self._M.tocoo()
        self._m_row = Mc.row.astype(np.int64)
        self._m_col = Mc.col.astype(np.int64)
        self._m_val = Mc.data.astype(np.float64)
        vs = c.vsources
        self._vs_const_max = float(np.maximum.reduce(np.abs(vs.value[~in_v]), initial=0.0))
        self._inv_diag = np.divide(1.0, p.diag, out=np.zeros(p.n), where=p.diag > 0)
        self._voltage_plan = voltage_plan(
            p.offset, sn, self._m_row, self._m_col, self._m_val, self._s0
        )

    @functools.cached_property
    def _in_columns(self) -> tuple[np.ndarray, ...]:
        """The input columns and their V / I source indices (vcol, vidx, icol, iidx):
        one Solution's circuit per ``solve``, and the fixed sources' injections at
        set-up (:meth:`_fixed_injection`)."""
        return tuple(
            np.array(x, dtype=np.int64).reshape(-1)
            for x in (
                [c for c, _ in self._v_in],
                [j for _, j in self._v_in],
                [c for c, _ in self._i_in],
                [j for _, j in self._i_in],
            )
        )

    @functools.cached_property
    def _in_runs(self) -> tuple[slice | None, slice | None]:
        """Per kind (V, I): the slice of a sample that holds every source of that kind in
        order, when the inputs of that kind are all its sources, listed in order in
        consecutive columns (a DRN's input voltages); else None."""
        vcol, vidx, icol, iidx = self._in_columns
        runs = []
        for cols, idx, count in (
            (vcol, vidx, len(self.circuit.vsources)),
            (icol, iidx, len(self.circuit.isources)),
        ):
            whole = idx.size == count and count > 0 and np.array_equal(idx, np.arange(count))
            if whole and np.array_equal(cols, cols[0] + np.arange(count)):
                runs.append(slice(int(cols[0]), int(cols[0]) + count))
            else:
                runs.append(None)
        return runs[0], runs[1]

    @functools.cached_property
    def _sweep(self):
        """The sweep arrays shared by every sample (None: no free node, or islands, which
        take the single solver per sample: their diag can be 0), each row's entries in
        ascending column order (:func:`sorted_rows`)."""
        from resbench.solvers.cd import sweep_arrays

        p = self._problem
        if not p.n or p.n_islands:
            return None
        return sorted_rows(sweep_arrays(p))

    @functools.cached_property
    def _two_layer(self):
        """The dense couplings of a two-layer free graph (:func:`two_layer_maps`) for
        one-sample sweeps, None when the graph is not one or has free–free diodes."""
        sw = self._sweep
        if sw is None or sw.in_anode.size or sw.out_cathode.size:
            return None
        return two_layer_maps(sw.deg, sw.idx, sw.g_over_diag)

    @functools.cached_property
    def _one(self):
        """The static arguments of :func:`resbench.batch._network_kernels.one_sample`
        (the bounds ``[n, 1]`` and per node, the two-layer maps), or None when one sample
        takes the general path: no two-layer graph (islands and free–free diodes have
        none), no dense input map, or bounds or fixed voltages that move with the inputs
        (``_needs_dS``)."""
        p = self._problem
        two = self._two_layer
        if two is None or self._A_dense is None or self._needs_dS:
            return None
        LO, HI = self._bounds(None)
        if self._sweep.bounded:  # (as _sweeps_singly: a column of each, else none)
            lo1, hi1 = np.ascontiguousarray(LO[:, 0]), np.ascontiguousarray(HI[:, 0])
        else:
            lo1, hi1 = _inf_bounds(p.n)
        return LO, HI, lo1, hi1, two

    @functools.cached_property
    def _hubs(self):
        """The sweeps' hub rows (:func:`hub_rows`), None without sweep arrays."""
        sw = self._sweep
        return hub_rows(sw.deg, sw.idx) if sw is not None else None

    @functools.cached_property
    def _avg(self):
        """Warm starts: the node → supernode averaging map ``[n, n_nodes]`` (dense on
        small circuits, CSR otherwise)."""
        p, n_nodes = self._problem, self.circuit.n_nodes
        sn = p.supernode
        free_nodes = (sn >= 0).nonzero()[0]
        cnt = np.bincount(sn[free_nodes], minlength=p.n)
        if n_nodes <= SMALL_MAPS:
            avg = np.zeros((p.n, n_nodes))
            avg[sn[free_nodes], free_nodes] = 1.0 / cnt[sn[free_nodes]]
            return avg
        return sp.csr_matrix(
            (1.0 / cnt[sn[free_nodes]], (sn[free_nodes], free_nodes)), shape=(p.n, n_nodes)
        )

    # ------------------------------------------------------------------ solving
    def solve(
        self,
        values: object = None,
        *,
        certify: bool = True,
        rtol: float | None = None,
        warm_start: np.ndarray | None = None,
        **options: object,
    ) -> Solution:
        """One input (None: the netlist's values), no setup: a :class:`Solution`.

        Certified (``certify`` true, the default), it carries the diodes' currents and
        computes the voltage sources' when first read (a
        :class:`~resbench.batch.deferred.NetworkSolution`: on a DRN their product costs
        more than the solve); ``certify=False``: no certificate, no currents."""
        vals = self.default_values() if values is None else values
        ws = None if warm_start is None else np.asarray(warm_start, dtype=np.float64)[None, :]
        # the batch's arrays, without the BatchResult (a one-sample solve is a few
        # hundred µs: its objects count).  Certified, the Solution carries every current:
        # the diodes' come with the certificate, the voltage sources' (a product of their
        # own: DRN-1H ~0.7 ms) are computed when first read (resbench.batch.deferred)
        r = self._solve_arrays(
            vals,
            certify=certify,
            rtol=rtol,
            warm_start=ws,
            currents=_DIODES if certify else False,
            **options,
        )
        vcur = None
        if r.diode_current is not None:
            direct = r.certificate is not None and r.certificate.direct is not None
            vcur = Deferred(
                functools.partial(
                    self._vsource_currents,
                    r.voltages.copy(),  # (the Solution's voltages are the caller's to change)
                    np.array(r.values, dtype=np.float64),
                    r.rtol,
                    options.get("threads"),
                    direct and bool(r.certificate.direct[0]),
                )
            )
        cert = None
        if r.certificate is not None and r.certificate.checked[0]:
            bc = r.certificate
            cert = NetworkCertificate(
                feasibility=float(bc.feasibility[0]),
                kcl=float(bc.kcl[0]),
                complementarity=float(bc.complementarity[0]),
                feas_tol=float(bc.feas_tol[0]),
                kcl_tol=float(bc.kcl_tol[0]),
                comp_tol=float(bc.comp_tol[0]),
                v_scale=float(bc.feas_tol[0] / r.rtol),
                i_scale=float(bc.kcl_tol[0] / r.rtol),
                ok=bool(bc.ok[0]),
                diode_current=None if r.diode_current is None else r.diode_current[0],
                vsource_current=vcur,
            )
        sol = NetworkSolution(
            circuit=self._sample_circuit(r.values[0]),
            voltages=r.voltages[0],
            solver="cd",
            status=str(r.status[0]),
            diode_current=None if r.diode_current is None else r.diode_current[0],
            vsource_current=vcur,
            sweeps=int(r.sweeps[0]),
            timings={
                "setup": 0.0,
                "solve": r.timings["total"] - r.timings.get("certify", 0.0),
                "total": r.timings["total"],
            },
            info={"batch": True, "polished": bool(r.polished[0])},
            certificate=cert,
            message=r.messages[0],
        )
        return sol

    def solve_batch(
        self,
        values: object,
        *,
        tol: float = CD_DEFAULT_TOL,
        max_sweeps: int = CD_DEFAULT_MAX_SWEEPS,
        dtype: object = np.float64,
        certify: bool | int = True,
        rtol: float | None = None,
        warm_start: BatchResult | np.ndarray | None = None,
        currents: bool = False,
        threads: int | None = None,
        omega: float | str = "auto",
        progress: Callable[[int, int], None] | None = None,
        out: np.ndarray | None = None,
    ) -> BatchResult:
        """Solve every row of ``values`` ``[B, n_inputs]`` (see the module docstring).

        ``dtype`` float64 (default) or float32 sweeps (certified at ``rtol`` 1e-5 unless
        given); ``certify`` True, False or a number of samples spread evenly over the
        batch; ``warm_start`` a previous BatchResult or node voltages ``[B, n_nodes]``
        (the nudged phase of EqProp starts from the free phase); ``currents`` adds diode
        and voltage-source currents (from the certificate's multipliers); ``threads``
        limits numba's and BLAS's threads; ``out`` a float64 C-contiguous ``[B, n_nodes]``
        array the voltages are written into (the result's ``voltages`` is then ``out``:
        e.g. rows of a larger array, filled batch by batch without a fresh array and a
        copy each).  Raises InputError before allocating when the batch would not fit in
        memory.
        """
        r = self._solve_arrays(
            values,
            tol=tol,
            max_sweeps=max_sweeps,
            dtype=dtype,
            certify=certify,
            rtol=rtol,
            warm_start=warm_start,
            currents=currents,
            threads=threads,
            omega=omega,
            progress=progress,
            out=out,
        )
        return BatchResult(
            circuit=self.circuit,
            input_names=list(self.input_names),
            values=r.values,
            voltages=r.voltages,
            sweeps=r.sweeps,
            status=r.status,
            messages=r.messages,
            polished=r.polished,
            dtype=_DT_NAME[r.dtype],
            certificate=r.certificate,
            diode_current=r.diode_current,
            vsource_current=r.vsource_current,
            timings=r.timings,
            info={
                "network_setup": self.setup_seconds,
                "omega": max(r.omegas) if r.omegas else 1.0,
                "free_supernodes": self._problem.n,
                "rtol": r.rtol,
                "input_map": "dense" if self._A_dense is not None else "sparse",
            },
        )

    def _solve_arrays(
        self,
        values: object,
        *,
        tol: float = CD_DEFAULT_TOL,
        max_sweeps: int = CD_DEFAULT_MAX_SWEEPS,
        dtype: object = np.float64,
        certify: bool | int = True,
        rtol: float | None = None,
        warm_start: BatchResult | np.ndarray | None = None,
        currents: bool = False,
        threads: int | None = None,
        omega: float | str = "auto",
        progress: Callable[[int, int], None] | None = None,
        out: np.ndarray | None = None,
    ) -> _Arrays:
        """:meth:`solve_batch`'s work: the batch's arrays (:class:`_Arrays`), which
        ``solve_batch`` wraps in a BatchResult and ``solve`` in a Solution."""
        t_start = time.perf_counter()
        # one block: its finiteness is checked there, by the fold's pass over the values
        # when it makes one (a pass fewer over a large batch's values); several blocks:
        # here, before any block is solved
        S = self.check_values(values, finite=False)
        one_block = S.shape[0] <= BLOCK
        if not one_block:
            self._check_finite(S)
        dt = _F64 if dtype is np.float64 else np.dtype(dtype)  # (np.dtype(): ~1 µs)
        if dt not in _DT_NAME:
            raise InputError(f"dtype must be float64 or float32, got {dt}")
        if not (isinstance(max_sweeps, int | np.integer) and max_sweeps >= 1):
            raise InputError(f"max_sweeps must be an integer >= 1, got {max_sweeps!r}")
        if not (math.isfinite(tol) and tol > 0):
            raise InputError(f"tol must be a positive number, got {tol!r}")
        if omega != "auto" and not (0.0 < float(omega) < 2.0):  # type: ignore[arg-type]
            raise InputError(f"omega must be 'auto' or in (0, 2), got {omega!r}")
        B = S.shape[0]
        need = self.estimate_bytes(B, dtype=dt, currents=currents)
        # (a reading of the last second, when the batch needs at most half of it: a
        # batch loop does not pay ~0.3 ms a call; read again before refusing)
        avail = available_memory(max_age=MEMORY_MAX_AGE) if need > SMALL_BATCH_BYTES else None
        if avail is not None and need > avail // 2:
            avail = available_memory()
        if avail is not None and need > avail:
            raise InputError(
                f"a batch of {B:,} samples needs about {gib(need)} but only {gib(avail)} is "
                "available; solve it in smaller batches"
            )
        if rtol is None:
            rtol = F32_RTOL if dt == np.float32 else DEFAULT_RTOL
        ws = self._warm_voltages(warm_start, B)
        V = np.empty((B, self.circuit.n_nodes)) if out is None else self._out(out, B)
        sweeps = np.zeros(B, dtype=np.int64)
        status = np.empty(B, dtype=object)
        messages = [""] * B
        polished = np.zeros(B, dtype=bool)
        t = {"inject": 0.0, "sweep": 0.0, "polish": 0.0}
        omegas: list[float] = []
        with limit_threads(threads) if threads is not None else _NO_LIMIT:
            for lo in range(0, B, BLOCK):
                hi = min(B, lo + BLOCK)
                small = (hi - lo) * (self.circuit.n_nodes + self.n_inputs) < SERIAL_BELOW
                with one_thread(small):
                    self._solve_block(
                        S[lo:hi],
                        None if ws is None else ws[lo:hi],
                        V[lo:hi],
                        sweeps[lo:hi],
                        status[lo:hi],
                        messages,
                        lo,
                        polished[lo:hi],
                        dt,
                        tol,
                        int(max_sweeps),
                        0.0 if omega == "auto" else float(omega),  # type: ignore[arg-type]
                        t,
                        omegas,
                        check_finite=one_block,
                    )
                if progress is not None:
                    progress(hi, B)
            t_cert = time.perf_counter()
            cert, dcur, vcur = self._certify(V, S, certify, rtol, currents)
            t_cert_end = time.perf_counter()  # (restoring the thread counts is not certify)
        t_end = time.perf_counter()
        if cert is not None:
            bad = cert.checked & ~cert.ok & (status == CONVERGED)
            for b in bad.nonzero()[0]:
                status[b] = NOT_CERTIFIED
                messages[b] = (
                    f"the certificate rejected the answer: feasibility {cert.feasibility[b]:.3g} V,"
                    f" KCL {cert.kcl[b]:.3g} A, complementarity {cert.complementarity[b]:.3g} W"
                )
        timings = dict(t)
        timings.update(
            setup=0.0,
            certify=t_cert_end - t_cert,
            total=t_end - t_start,
        )
        return _Arrays(
            S, V, sweeps, status, messages, polished, dt, cert, dcur, vcur, timings, omegas, rtol
        )

    # ------------------------------------------------------------------ internals
    def _out(self, out: object, B: int) -> np.ndarray:
        """``out`` checked as the voltages' array of a batch of ``B`` samples."""
        shape = (B, self.circuit.n_nodes)
        if not (
            isinstance(out, np.ndarray)
            and out.shape == shape
            and out.dtype == np.float64
            and out.flags.c_contiguous
            and out.flags.writeable
        ):
            got = (
                f"{out.dtype} array of shape {out.shape}"
                if isinstance(out, np.ndarray)
                else type(out).__name__
            )
            raise InputError(
                f"out must be a writable C-contiguous float64 array of shape {shape}; got {got}"
            )
        return out

    def _sample_circuit(self, s: np.ndarray) -> Circuit:
        """:func:`with_values` of one sample, from the input columns resolved at set-up
        (no lookup by name: the Solution of ``solve`` carries it)."""
        c = self.circuit
        vcol, vidx, icol, iidx = self._in_columns
        runs = self._in_runs
        fields = {}  # a kind with no input keeps its sources (nothing of theirs changes)
        for key, br, cols, idx, run in (
            ("vsources", c.vsources, vcol, vidx, runs[0]),
            ("isources", c.isources, icol, iidx, runs[1]),
        ):
            if run is not None:  # every source of the kind, in order: one copy
                fields[key] = Branches(br.names, br.a, br.b, s[run].astype(np.float64))
            elif idx.size:
                value = br.value.copy()
                value[idx] = s[cols]
                fields[key] = Branches(br.names, br.a, br.b, value)
        return _replaced(c, **fields)

    def _warm_voltages(self, warm: BatchResult | np.ndarray | None, B: int) -> np.ndarray | None:
        if warm is None:
            return None
        v = warm.voltages if isinstance(warm, BatchResult) else np.asarray(warm, dtype=np.float64)
        if v.ndim == 1:
            v = v[None, :]
        if v.shape != (B, self.circuit.n_nodes):
            raise InputError(
                f"warm_start has shape {v.shape}; expected ({B}, {self.circuit.n_nodes}): one "
                "row of node voltages per sample"
            )
        return v

    def _solve_block(
        self,
        S,
        ws,
        V,
        sweeps,
        status,
        messages,
        offset,
        polished,
        dt,
        tol,
        max_sweeps,
        omega,
        t,
        omegas,
        *,
        check_finite: bool = False,
    ) -> None:
        """Solve the samples ``S`` of one block into ``V``, ``sweeps``, ``status``,
        ``messages`` (from ``offset``), ``polished``; phase times added to ``t``.
        ``check_finite``: S is not yet checked for NaN / inf (the whole batch is this
        block): the fold's scan checks it, or this does before any work."""
        p = self._problem
        t0 = time.perf_counter()
        B = S.shape[0]
        if B == 1 and ws is None and dt == _F64 and omega == 0.0 and self._one is not None:
            if check_finite:
                self._check_finite(S)
                check_finite = False
            if self._solve_one(S, V, sweeps, status, tol, max_sweeps):
                t["sweep"] += time.perf_counter() - t0  # (the phases in one call)
                omegas.append(1.0)
                return
        if p.n_islands:
            if check_finite:
                self._check_finite(S)
            self._solve_singly(
                S, ws, V, sweeps, status, messages, offset, polished, tol, max_sweeps
            )
            t["sweep"] += time.perf_counter() - t0
            return
        bk = _LAZY.bk

        # tiny problems with free–free diodes (a .dc sweep of a diode): every sample is
        # polished, and the polish is exact from any feasible start: no sweeps
        no_sweeps = p.n == 0 or (
            bool(p.n_ff_diodes) and p.n <= _LAZY.polish.PER_SAMPLE_MAX and ws is None
        )
        # pad to whole chunks for the chunked sweeps (copies of the last sample, never
        # reported); a batch without sweeps, or of a few float64 samples, is not padded
        few = B < SINGLE_BELOW and dt == np.float64
        Bp = B if no_sweeps or few else -(-B // bk.CW) * bk.CW
        S_in = S
        if check_finite and not (p.n and self._fold_scans(Bp, dt)):
            self._check_finite(S_in)  # (else the fold's scan of the values finds them)
        if Bp > B:
            S = np.concatenate([S, np.repeat(S[-1:], Bp - B, axis=0)])
            if ws is not None:
                ws = np.concatenate([ws, np.repeat(ws[-1:], Bp - B, axis=0)])
        dS = S - self._s0 if (self._needs_dS or ws is not None) else None
        if p.n:  # injections base + G [n, Bp]; max |voltage input| per sample
            try:
                G, base, vmax = self._inject_parts(S, dt)
            except _NotFinite:
                self._check_finite(S_in)  # the error that names the first such value
                raise
        else:
            G, base, vmax = np.zeros((0, Bp)), np.zeros(0), None
        # the common case (cold start, no free–free diodes, whole chunks): the sweeps'
        # inputs in chunk layout and the voltage scale in one pass over base + G
        fused = fused_ok(p, ws, Bp)
        Cn = None if fused else _injections(G, base)  # (fused: formed later)
        lo, hi = self._bounds(dS)  # [n, 1] or [n, Bp]
        ffl = self._ff_limits(dS)  # [n_ff, 1] or [n_ff, Bp]
        infeasible = self._infeasible(dS, lo, hi) if dS is not None else np.zeros(Bp, dtype=bool)
        if fused:
            width = bk.chunk_width(Bp, p.n, dt.itemsize)
            nch = Bp // width
            Qc = np.empty((nch, p.n, width), dtype=dt)
            Uc = np.empty((nch, p.n, width), dtype=dt)
            qmax = np.empty(Bp)
            with one_thread(G.size < PASS_PARALLEL):
                bk.prepare_chunks(
                    np.ascontiguousarray(G, dtype=dt),
                    base if base is not None else np.zeros(p.n),
                    self._inv_diag,
                    np.ascontiguousarray(lo, dtype=np.float64),
                    np.ascontiguousarray(hi, dtype=np.float64),
                    Qc,
                    Uc,
                    qmax,
                )
            v_scale = self._v_scales(S, dS, None, vmax=vmax, qmax=qmax)
        else:
            # start: clip(c/diag) into the bounds; Bellman–Ford per sample with ff diodes
            Qn, U0, v_scale = self._start(S, dS, Cn, lo, hi, vmax)
            if ws is not None:
                U0 = self._project_warm(ws, dS, lo, hi, ffl, U0)
            if p.n_ff_diodes:
                U0 = self._feasible_starts(U0, lo, hi, ffl, infeasible)
        t1 = time.perf_counter()
        t["inject"] += t1 - t0
        if p.n == 0:
            U = np.zeros((0, Bp))
            st = np.zeros(Bp, dtype=np.int64)
            sw = np.zeros(Bp, dtype=np.int64)
            om = 1.0
        elif no_sweeps:  # (tiny, with free–free diodes: 0 sweeps reported)
            U, st, sw, om = U0, np.full(Bp, bk.CONVERGED), np.zeros(Bp, np.int64), 1.0
        elif fused:
            U, st, sw, om = self._sweep_chunks(
                Qc, Uc, lo, hi, ffl, v_scale, infeasible, dt, tol, max_sweeps, omega
            )
        elif Bp < SINGLE_BELOW:
            U, st, sw, om = self._sweeps_singly(
                Qn, Cn, lo, hi, ffl, U0, v_scale, infeasible, tol, max_sweeps, omega
            )
        else:
            U, st, sw, om = self._sweeps(
                Qn, lo, hi, ffl, U0, v_scale, infeasible, dt, tol, max_sweeps, omega
            )
        omegas.append(om)
        t2 = time.perf_counter()
        t["sweep"] += t2 - t1
        st, sw, infeasible = st[:B], sw[:B], infeasible[:B]
        sweeps[:] = sw
        # as solve_cd: polish with free–free diodes, without convergence, or after slow
        # convergence (ω raised or > 50 sweeps) on a small problem
        conv, idx, n_bad = _LAZY.nk.polish_needs(
            st,
            sw,
            infeasible,
            bk.CONVERGED,
            _SLOW_SWEEPS,
            p.n > 0 and (p.n_ff_diodes > 0 or (om > 1.0 and p.n <= SMALL_PROBLEM)),
            p.n > 0 and p.n <= SMALL_PROBLEM,
            p.n > 0,
        )
        status[:] = SWEEP_LIMIT
        status[conv] = CONVERGED
        if idx.size:
            if Cn is None:  # the fused pass did not store c: form it for these samples
                Cn = np.zeros((p.n, Bp))
                Cn[:, idx] = _injections(G[:, idx], base)
            self._polish_many(idx, U, Cn, lo, hi, ffl, v_scale, status, messages, offset, polished)
        if n_bad:
            for b in infeasible.nonzero()[0]:
                status[b] = FAILED
                messages[offset + b] = self._infeasible_message(S[b])
        t["polish"] += time.perf_counter() - t2
        with one_thread(V.size + B * self._m_row.size < PASS_PARALLEL):
            bk.assemble_voltages_s(
                p.offset,
                *self._voltage_plan,
                self._s0,
                S,
                np.ascontiguousarray(U.T, dtype=np.float64) if p.n else np.zeros((Bp, 1)),
                V,
            )
        if n_bad:
            V[infeasible] = np.nan

    def _solve_one(self, S, V, sweeps, status, tol, max_sweeps) -> bool:
        """One sample in one kernel call (:func:`~resbench.batch._network_kernels.one_sample`:
        the general path's kernels, the same numbers) into ``V``, ``sweeps``, ``status``;
        False (nothing written) when its sweeps do not converge within auto_sweeps' first
        chunk, or the input map is large enough to be read on several threads: the
        general path then solves the sample."""
        LO, HI, lo1, hi1, (na, GA, GT) = self._one
        Ap, X = self._paired(S)
        if Ap.size >= GEMM_PARALLEL and numba_thread_count()[0]() > 1:
            return False  # (a map this large: the general path splits its rows over threads)
        n = self._problem.n
        chunk = _LAZY.cd.AUTO_CHUNK
        st, sw = _LAZY.nk.one_sample(
            Ap,
            self._c_fixed,
            X,
            self._inv_diag,
            LO,
            HI,
            S,
            self._v_cols,
            self._vs_floor,
            GA,
            GT,
            na,
            lo1,
            hi1,
            tol,
            min(max_sweeps, chunk),
            np.zeros(chunk),
            np.zeros(_LAZY.sk.STATE_LEN),
            self._problem.offset,
            self._voltage_plan,
            self._s0,
            np.empty((n, 1)),
            np.empty((n, 1)),
            np.empty((n, 1)),
            np.empty(1),
            np.empty((1, n)),
            V,
        )
        if st:
            return False
        sweeps[0] = sw
        status[0] = CONVERGED
        return True

    def _start(self, S, dS, Cn, lo, hi, vmax):
        """(Qn, U0, v_scale) of a node-major batch from its injections ``Cn`` [n, B]:
        c / diag (the sweeps' scaled injection), its clip into the bounds ``lo``/``hi``
        (the cold start), and each sample's voltage scale (as :meth:`_v_scales`), in one
        pass (:func:`resbench.batch._network_kernels.start_columns`)."""
        Cn = np.ascontiguousarray(Cn, dtype=np.float64)
        Qn = np.empty(Cn.shape)
        U0 = np.empty(Cn.shape)
        vs = np.empty(S.shape[0])
        _LAZY.nk.start_columns(
            Cn,
            self._inv_diag,
            lo,
            hi,
            S,
            self._v_cols,
            self._vs_floor,
            _NO_VMAX if vmax is None else vmax,
            Qn,
            U0,
            vs,
        )
        if self._fixed_moving.size:  # fixed voltages that are not just one input's value
            np.maximum(vs, self._fixed_scales(S, dS), out=vs)
        return Qn, U0, vs

    def _inject(self, S: np.ndarray, dS: np.ndarray | None, dt: np.dtype) -> np.ndarray:
        """Free-node injections c(s) for every sample ``[n, B]`` (see :meth:`_inject_parts`)."""
        return self._inject_scan(S, dt)[0]

    def _inject_scan(self, S: np.ndarray, dt: np.dtype) -> tuple[np.ndarray, np.ndarray | None]:
        """Free-node injections c(s) ``[n, B]`` (float64) and the max |voltage input| per
        sample when the fold's pass found it (see :meth:`_inject_parts`)."""
        G, base, vmax = self._inject_parts(S, dt)
        return _injections(G, base), vmax

    def _inject_parts(
        self, S: np.ndarray, dt: np.dtype
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Free-node injections c(s) = base + G for every sample, as ``(G [n, B], base
        [n] or None (G is c), vmax)``: vmax, each sample's max |voltage input| when the
        pass that folds the inputs found it (else None).  c itself is formed only where
        it is needed (the fused chunk pass adds base as it reads G).

        Both maps: ``c_fixed + A s``, c_fixed the injections with every input at zero
        (:meth:`_fixed_injection`).  Sparse map: one sparse product.  Dense map (a
        DRN's input layer): for a few samples, by the nonzero inputs' columns of A only
        (a zero input costs nothing); for a batch, one GEMM over the *distinct* input
        columns of this batch (:meth:`_folded`): a column that is zero in every sample
        drops out, and columns equal up to sign in every sample (a DRN's ``cat(x, −x)``
        inputs) are summed into one column of A first.  Exact algebra, same inputs:
        only the work shrinks.  The product runs in the sweeps' precision (float32: A
        kept in float32).
        """
        A = self._A_dense
        if A is None:  # (c_fixed + A s, not c₀ + A (s − s₀): see _fixed_injection)
            As = self._A_sparse if dt == np.float64 else self._A_sparse.astype(dt)
            return np.asarray(As @ np.ascontiguousarray(S.T, dtype=dt)), self._c_fixed, None
        if S.shape[0] <= GEMV_MAX and dt == np.float64:  # (see _fold_scans)
            Cn = np.empty((A.shape[0], S.shape[0]))
            Ap, X = self._paired(S)
            # serial, whole columns; the rows split over threads only for a large map
            # outside a one-thread block (numba's parallel loop is slower on one thread)
            nth = numba_thread_count()[0]() if Ap.size * S.shape[0] >= GEMM_PARALLEL else 1
            if nth > 1:
                _LAZY.bk.gemv_nonzero_rows(Ap, self._c_fixed, X, Cn, nth)
            else:
                _LAZY.bk.gemv_nonzero(Ap, self._c_fixed, X, Cn)
            return Cn, None, None
        if A.shape[0] < FOLD_MIN_ROWS:  # finding the columns would cost more
            Ad = A if dt == np.float64 else self._A_rows(dt)
            ST = S.T if dt == np.float64 else S.astype(dt).T  # (BLAS reads it transposed)
            return Ad @ ST, self._c_fixed, None
        Af, ST, vmax = self._folded_scan(S, dt)
        # one BLAS thread for a small product; a large one split over numba's threads
        # (resbench.threads.split_matmul: BLAS's would spin after it and slow the
        # sweeps that follow)
        G = product(Af, ST, Af.shape[0] * Af.shape[1] * ST.shape[1], GEMM_PARALLEL)
        return G, self._c_fixed, vmax

    def _fold_scans(self, B: int, dt: np.dtype) -> bool:
        """Whether :meth:`_inject_parts` takes a block of ``B`` samples (padded) through
        the fold (:meth:`_folded_scan`, a pass over every value that also finds a NaN or
        inf): a dense map of enough rows, and not the few-sample float64 product."""
        A = self._A_dense
        return (
            A is not None
            and not (B <= GEMV_MAX and dt == np.float64)
            and A.shape[0] >= FOLD_MIN_ROWS
        )

    def _paired(self, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(A_p, X) with A_p Xᵀ = A Sᵀ for a few samples: when every sample's inputs come
        in pairs of opposite values (a DRN's ``cat(x, −x)``: interleaved ``x₀, −x₀, …``
        or in halves ``x, −x``), A_p = A[:, first of pair] − A[:, second] (made once,
        kept) and X the first of each pair: half the columns to read.  Else (A, S)."""
        A = self._A_dense
        layout = _LAZY.nk.pair_layout(S)  # 0: no pairs, 1: interleaved, 2: halves
        if not layout:
            return A, S
        h = S.shape[1] // 2
        first, second = (
            (slice(0, None, 2), slice(1, None, 2)) if layout == 1 else (slice(0, h), slice(h, None))
        )
        Ap = self._paired_maps.get(layout)
        if Ap is None:
            Ap = np.asfortranarray(A[:, first] - A[:, second])
            self._paired_maps[layout] = Ap
        return Ap, np.ascontiguousarray(S[:, first])

    def _folded(self, S: np.ndarray, dt: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        """(A_f, S_fᵀ) with A_f S_fᵀ = A Sᵀ (see :meth:`_folded_scan`)."""
        Af, ST, _ = self._folded_scan(S, dt)
        return Af, ST

    def _folded_scan(
        self, S: np.ndarray, dt: np.dtype
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(A_f, S_fᵀ, vmax) with A_f S_fᵀ = A Sᵀ: the distinct nonzero input columns of
        S up to sign, and A's columns summed accordingly (cached per column pattern);
        vmax[b] = max |S[b, j]| over the voltage inputs (read in the same pass).

        When the previous batch's grouping was also the one before's (a stable pattern:
        a DRN's ``cat(x, −x)``, the same dark pixels, the same resampled pixels), one
        pass checks that it is exactly this batch's grouping and gathers S_f
        (:func:`resbench.batch._kernels.fold_check`).  Otherwise two passes over S, row
        by row: the keys (and vmax), then the exact check of the columns whose keys
        match.  Either way the same groups, hence the same A_f S_fᵀ bit for bit."""
        bk = _LAZY.bk
        A = self._A_dense
        S = np.ascontiguousarray(S, dtype=np.float64)
        probe = self._probes.get(S.shape[0])
        if probe is None:
            if len(self._probes) >= FOLD_CACHE:  # (a few batch sizes in a run)
                self._probes.clear()
            probe = self._probes[S.shape[0]] = self._probe_vector(S.shape[0])
        all_v = self._all_v
        pat = self._fold_pattern
        if pat is not None and pat.trusted:
            # (the groups' columns written in the product's precision by the pass itself)
            SF = np.empty((S.shape[0], pat.check[-2].shape[0]), dtype=dt)
            with one_thread(S.size < PASS_PARALLEL):
                ok, vmax, SF = bk.fold_check(S, probe, self._v_cols, all_v, *pat.check, SF)
            if ok:
                return self._fold_map(pat, dt), SF.T, vmax
            pat.trusted = False  # grouped the full way below; trusted again once stable
        with one_thread(S.size < PASS_PARALLEL):
            sign, keys, vmax = bk.scan_columns(S, probe, self._v_cols, all_v)
        if not np.isfinite(keys).all() and not bk.all_finite(S):  # (an inf or NaN makes its
            # column's key inf or NaN; a finite key may overflow: confirmed on S)
            raise _NotFinite("input values must be finite")
        if S.size < PASS_PARALLEL:  # one serial kernel for the small passes
            ok, nz, group, first_cols, SF = bk.group_columns(S, sign, keys)
            if not ok:  # a key collision: neighbour by neighbour
                nz, group, first_cols, SF = self._group_numpy(S, sign, keys)
        elif np.all(sign > 0) and _all_distinct(keys):
            # nothing to fold, known from the keys alone (columns equal up to sign have
            # equal keys): the grouping below would find every column its own group and
            # gather all of S for nothing (DRN-XS, 300 uniform random inputs: 7 ms)
            self._fold_pattern = None
            return self._A_rows(dt), (S.T if dt == np.float64 else S.astype(dt).T), vmax
        else:
            nz, group, first_cols, SF = self._group_numpy(S, sign, keys)
        if nz.size == 0:
            return (
                np.zeros((A.shape[0], 1), dtype=dt),
                np.zeros((1, S.shape[0]), dtype=dt),
                vmax,
            )
        n_groups = int(first_cols.size)
        if n_groups == A.shape[1] and np.all(sign > 0):  # nothing to fold
            self._fold_pattern = None
            return self._A_rows(dt), (S.T if dt == np.float64 else S.astype(dt).T), vmax
        new = _FoldPattern.of(nz, group, first_cols, sign)
        if pat is not None and pat.key == new.key:
            pat.trusted = True  # the same grouping twice: check it first next time
            new = pat
        self._fold_pattern = new
        return self._fold_map(new, dt), SF.astype(dt, copy=False).T, vmax

    def _fold_map(self, pat: _FoldPattern, dt: np.dtype) -> np.ndarray:
        """A_f of a fold pattern in the sweeps' precision (row-major, as the product
        split over numba's threads takes it: resbench.threads.split_matmul; cached)."""
        key = (dt, pat.key)
        Af = self._fold_cache.get(key)
        if Af is None:
            Af = _LAZY.bk.fold_columns(self._A_dense, pat.nz, pat.group, pat.sign, pat.n_groups).T
            Af = np.ascontiguousarray(Af, dtype=dt)
            if len(self._fold_cache) >= FOLD_CACHE:
                self._fold_cache.pop(next(iter(self._fold_cache)))
            self._fold_cache[key] = Af
        return Af

    @staticmethod
    def _group_numpy(
        S: np.ndarray, sign: np.ndarray, keys: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The fold's grouping by numpy steps and parallel passes: ``(nz, group, first,
        SF)`` as :func:`resbench.batch._kernels.group_columns` returns them, for a large
        S (its passes over S in parallel) or after a key collision (runs confirmed
        neighbour by neighbour: a run whose columns differ is split where they do)."""
        from resbench.batch._kernels import adjacent_equal, equal_to_rep

        nz = (sign != 0.0).nonzero()[0]
        if nz.size == 0:
            e = np.empty(0, dtype=np.int64)
            return nz, e, e, np.empty((S.shape[0], 0))
        # equal columns have equal keys: sort, then confirm equal neighbours exactly
        order = nz[np.argsort(keys[nz], kind="stable")]
        ks = keys[order]
        new = np.ones(order.size, dtype=bool)
        new[1:] = ks[1:] != ks[:-1]  # runs of equal keys: the groups, once confirmed
        if not new.all():
            rep = np.empty(S.shape[1], dtype=np.int64)
            rep[order] = order[new][np.cumsum(new) - 1]  # each column's run's first column
            other = nz[rep[nz] != nz]  # a representative needs no check against itself
            with one_thread(S.size < PASS_PARALLEL):
                same = equal_to_rep(S, sign, other, rep[other])
            if not same:  # a key collision:
                # confirm the runs neighbour by neighbour
                cand = (~new[1:]).nonzero()[0]
                new[:] = True
                new[cand + 1] = ~adjacent_equal(S, sign, order)[cand]
        group_sorted = np.cumsum(new) - 1
        reps = order[new]  # one column per group, groups in sorted order
        # number the groups in the order of their first column, so that a batch with
        # nothing to fold keeps A's own column order (group = 0, 1, 2, …)
        by_first = np.argsort(reps, kind="stable")
        rank = np.empty_like(by_first)
        rank[by_first] = np.arange(by_first.size)
        group_full = np.full(S.shape[1], -1, dtype=np.int64)
        group_full[order] = rank[group_sorted]
        group = group_full[nz]
        first_cols = np.sort(reps)  # group g's representative column, signed to its norm
        return nz, group, first_cols, S[:, first_cols] * sign[first_cols]

    def _A_rows(self, dt: np.dtype) -> np.ndarray:
        """A in the sweeps' precision, row-major (a batch's product with nothing to
        fold, and a small map's float32 product; made on first use and kept)."""
        Ar = self._A_row_major.get(dt)
        if Ar is None:
            Ar = self._A_row_major[dt] = np.ascontiguousarray(self._A_dense, dtype=dt)
        return Ar

    @staticmethod
    def _probe_vector(B: int) -> np.ndarray:
        """A fixed vector with distinct, irrational-looking entries (grouping only: every
        match it suggests is confirmed exactly)."""
        return np.sqrt(np.arange(2, B + 2, dtype=np.float64)) - 0.5

    def _bounds(self, dS: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self._problem
        if not self._var_bounds:
            return p.lo[:, None], p.hi[:, None]
        B = dS.shape[0]
        lo = np.repeat(self._lo0[:, None], B, axis=1)
        hi = np.repeat(self._hi0[:, None], B, axis=1)
        sn = p.supernode
        dio = self.circuit.diodes
        if self._hi_var.size:
            k = self._hi_var
            val = self._dio_base[k][:, None] + (self._D[k] @ dS.T)
            np.minimum.at(hi, sn[dio.a[k]], np.asarray(val))
        if self._lo_var.size:
            k = self._lo_var
            val = -(self._dio_base[k][:, None] + (self._D[k] @ dS.T))
            np.maximum.at(lo, sn[dio.b[k]], np.asarray(val))
        return lo, hi

    def _ff_limits(self, dS: np.ndarray) -> np.ndarray:
        p = self._problem
        if not self._var_ff:
            return p.ff_limit[:, None]
        k = p.ff_diode
        return self._dio_base[k][:, None] + np.asarray(self._D[k] @ dS.T)

    def _v_scales(
        self,
        S: np.ndarray,
        dS: np.ndarray | None,
        Cn: np.ndarray,
        *,
        vmax: np.ndarray | None = None,
        qmax: np.ndarray | None = None,
    ) -> np.ndarray:
        """Per sample: the single solver's voltage scale (resbench.solvers.problem._scales).
        ``vmax`` (max |voltage input| per sample) and ``qmax`` (max |c_i| / diag_i) when a
        fused pass already has them."""
        rows_absmax = _LAZY.bk.rows_absmax
        p = self._problem
        B = S.shape[0]
        vs = np.full(B, self._vs_floor)
        if self._fixed_moving.size:  # fixed voltages that are not just one input's value
            vs = np.maximum(vs, self._fixed_scales(S, dS))
        if self._v_cols.size:
            np.maximum(vs, rows_absmax(S, self._v_cols) if vmax is None else vmax, out=vs)
        if p.n:  # |c_i| / diag_i over the nodes with a conductance (inv_diag is 0 elsewhere)
            if qmax is None:
                qmax = (np.abs(Cn) * self._inv_diag[:, None]).max(axis=0)
            np.maximum(vs, qmax, out=vs)
        return vs

    def _fixed_scales(self, S: np.ndarray, dS: np.ndarray | None) -> np.ndarray:
        """Per sample: max |voltage| of the fixed nodes that move with the inputs (other
        than a node held by one input source, already counted by that input's value)."""
        if dS is None:
            dS = S - self._s0
        offs = self._problem.offset[self._fixed_moving][:, None] + self._M_fixed_moving @ dS.T
        return np.abs(offs).max(axis=0)

    def _infeasible(self, dS: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Samples whose sources force a diode forward through zero resistance (the
        single solver's CircuitError), found vectorised; their message is made later."""
        from resbench.solvers.problem import ROUND_OFF

        B = dS.shape[0]
        bad = np.zeros(B, dtype=bool)
        if self._var_bounds:
            crossed = lo > hi + ROUND_OFF * np.maximum(1.0, np.abs(lo))
            bad |= crossed.any(axis=0)
        if self._check_dio.size:
            k = self._check_dio
            vdiff = -(self._dio_base[k][:, None] + np.asarray(self._D[k] @ dS.T))  # oa − ob
            bad |= (vdiff > 1e-9 * np.maximum(1.0, np.abs(vdiff))).any(axis=0)
        return bad

    def _infeasible_message(self, s: np.ndarray) -> str:
        from resbench.solvers.problem import compile_problem

        try:
            compile_problem(with_values(self.circuit, self.input_names, s), gmin=self.gmin)
        except ResbenchError as exc:
            return str(exc)
        return "the sources of this sample admit no operating point"

    def _project_warm(self, ws, dS, lo, hi, ffl, U0):
        """Supernode voltages from warm-start node voltages, clipped into the bounds; a
        sample whose free–free diodes it violates keeps its cold start."""
        p = self._problem
        offsets = p.offset[:, None] + self._M @ dS.T  # node-major [n_nodes, B]
        good = np.all(np.isfinite(ws), axis=1)
        Uw = np.asarray(self._avg @ (ws.T - offsets))  # offsets node-major [n_nodes, B]
        Uw = np.minimum(np.maximum(Uw, lo), hi)
        if p.n_ff_diodes:
            viol = (Uw[p.ff_anode] - Uw[p.ff_cathode] > ffl).any(axis=0)
            good &= ~viol
        U0[:, good] = Uw[:, good]
        return U0

    def _feasible_starts(self, U0, lo, hi, ffl, infeasible):
        """Every sample's start made feasible for its free–free diodes (the single
        solver's Bellman–Ford, one kernel call over the batch); a sample whose
        constraints have a negative cycle is marked in ``infeasible``."""
        p = self._problem
        out = np.empty(U0.shape)
        f64 = np.float64
        _LAZY.bk.feasible_starts(
            np.ascontiguousarray(U0, dtype=f64),
            np.ascontiguousarray(lo, dtype=f64),
            np.ascontiguousarray(hi, dtype=f64),
            np.ascontiguousarray(ffl, dtype=f64),
            p.ff_anode,
            p.ff_cathode,
            infeasible,
            out,
        )
        return out.astype(U0.dtype, copy=False)

    def _sweeps_singly(self, Qn, Cn, lo, hi, ffl, U0, v_scale, infeasible, tol, max_sweeps, omega):
        """A batch of a few samples: the single solver's sweeps per sample (a chunk of 8
        would sweep padding), on the shared sweep arrays with the sample's own fields.

        The loop of :func:`resbench.solvers.cd.run_sweeps` (same kernel, chunks and ω
        updates: the same sweeps bit for bit) without what the batch discards: the
        sample's full reduced problem (its current scale) and the final KCL residual.
        On a two-layer free graph (:attr:`_two_layer`, a DRN's) the kernel is
        ``two_layer_sweeps``: the same sweeps on dense couplings, SIMD."""
        bk, kernels = _LAZY.bk, _LAZY.sk
        n, B = U0.shape
        U = U0.copy()
        st = np.full(B, bk.PENDING, dtype=np.int64)
        sw = np.zeros(B, dtype=np.int64)
        om_max = 1.0
        base = self._sweep
        bounded = bool(base.bounded or self._var_bounds)
        p = self._problem

        def col(a: np.ndarray, b: int) -> np.ndarray:
            return np.ascontiguousarray(a[:, b if a.shape[1] > 1 else 0])

        # a shared column (bounds, diode limits that do not move) is read once
        lo_b = col(lo, 0) if lo.shape[1] == 1 else None
        hi_b = col(hi, 0) if hi.shape[1] == 1 else None
        ff_shared = not ffl.size or ffl.shape[1] == 1
        if ff_shared:
            ff = col(ffl, 0) if ffl.size else p.ff_limit
            in_l = ff[self._in_order] if ff.size else p.in_limit
            out_l = ff[self._out_order] if ff.size else p.out_limit
        two = self._two_layer  # (None with free–free diodes)
        two_inf = _inf_bounds(n) if two is not None and not bounded else None
        for b in range(B):
            if infeasible[b]:
                continue
            if not ff_shared:
                ff = col(ffl, b)
                in_l, out_l = ff[self._in_order], ff[self._out_order]
            sargs = type(base)(  # base with the sample's fields (cheaper than _replace)
                base.deg,
                base.idx,
                base.g_over_diag,
                np.ascontiguousarray(Qn[:, b]),
                col(lo, b) if lo_b is None else lo_b,
                col(hi, b) if hi_b is None else hi_b,
                bounded,
                base.in_ptr,
                base.in_anode,
                in_l,
                base.out_ptr,
                base.out_cathode,
                out_l,
            )
            u = np.ascontiguousarray(U[:, b])
            tol_v = tol * float(v_scale[b])
            if two is not None:  # the same sweeps on dense couplings (two_layer_sweeps)
                sweep = functools.partial(
                    _LAZY.nk.two_layer_sweeps,
                    two[1],
                    two[2],
                    sargs.q,
                    sargs.lo if bounded else two_inf[0],
                    sargs.hi if bounded else two_inf[1],
                    two[0],
                )
            else:
                sweep = functools.partial(kernels.cd_sweeps, *sargs)
            if omega != 0.0:
                om = float(omega)
                status, sweeps, _, _ = sweep(
                    u, om, tol_v, max_sweeps, np.zeros(0), np.zeros(kernels.STATE_LEN)
                )
            else:  # run_sweeps' own loop, without the residual it adds
                status, sweeps, _, om = _LAZY.cd.auto_sweeps(
                    sargs, u, tol_v, max_sweeps, sweep=sweep
                )
            U[:, b] = u
            st[b] = bk.CONVERGED if status == 0 else bk.SWEEP_LIMIT
            sw[b] = sweeps
            om_max = max(om_max, om)
        return U, st, sw, om_max

    def _sweeps(self, Qn, lo, hi, ffl, U0, v_scale, infeasible, dt, tol, max_sweeps, omega):
        """Chunked sweeps (resbench.batch._kernels): node-major arrays laid out in chunks
        of CW samples; B is a multiple of CW (the caller pads).  Returns U [n, B]
        (node-major), status, sweeps, ω."""
        bk = _LAZY.bk
        n, B = U0.shape
        if B % bk.CW:  # whole chunks only: pad with copies of the last sample, then drop them
            extra = bk.CW - B % bk.CW

            def pad(a: np.ndarray, shared: bool = False) -> np.ndarray:
                if shared:  # [rows, 1]: one column for every sample, kept as it is
                    return a
                if a.ndim == 1:
                    return np.concatenate([a, np.repeat(a[-1:], extra)])
                return np.concatenate([a, np.repeat(a[:, -1:], extra, axis=1)], axis=1)

            def bounds(a: np.ndarray) -> np.ndarray:
                return pad(a, shared=a.shape[1] == 1 and B > 1)

            U, st, swp, om = self._sweeps(
                pad(Qn),
                bounds(lo),
                bounds(hi),
                bounds(ffl),
                pad(U0),
                pad(v_scale),
                pad(infeasible),
                dt,
                tol,
                max_sweeps,
                omega,
            )
            return U[:, :B], st[:B], swp[:B], om
        width = bk.chunk_width(B, n, np.dtype(dt).itemsize)
        nch = B // width

        def chunks(a: np.ndarray) -> np.ndarray:
            """[rows, B] → [chunk, rows, width]; a shared [rows, 1] → [1, rows, 1]."""
            if a.shape[1] == 1:
                return np.ascontiguousarray(a[None, :, :], dtype=dt)
            rows = a.shape[0]
            return np.ascontiguousarray(a.reshape(rows, nch, width).transpose(1, 0, 2), dtype=dt)

        U, st, swp, om = self._sweep_chunks(
            chunks(Qn), chunks(U0), lo, hi, ffl, v_scale, infeasible, dt, tol, max_sweeps, omega
        )
        if infeasible.any():
            U[:, infeasible] = U0[:, infeasible]
        return U, st, swp, om

    def _sweep_chunks(
        self, Q, U, lo, hi, ffl, v_scale, infeasible, dt, tol, max_sweeps, omega
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """The chunked sweeps on ``Q`` (c / diag) from ``U`` (the start), both in chunk
        layout ``[chunk, n, width]`` and the sweeps' precision; bounds and diode limits
        ``[rows, B]`` or shared ``[rows, 1]``.  Returns U [n, B] (float64, a view of
        sample-major rows; an infeasible sample's column is 0), status, sweeps, ω."""
        bk = _LAZY.bk
        sw = self._sweep
        nch, n, width = U.shape
        B = nch * width

        def chunks(a: np.ndarray) -> np.ndarray:
            """[rows, B] → [chunk, rows, width]; a shared [rows, 1] → [1, rows, 1]."""
            if a.shape[1] == 1:
                return np.ascontiguousarray(a[None, :, :], dtype=dt)
            rows = a.shape[0]
            return np.ascontiguousarray(a.reshape(rows, nch, width).transpose(1, 0, 2), dtype=dt)

        empty = np.zeros((1, 0, 1), dtype=dt)
        in_l = chunks(ffl[self._in_order]) if ffl.size else empty
        out_l = chunks(ffl[self._out_order]) if ffl.size else empty
        OUT = np.empty((B, n), dtype=dt)  # sample-major (the kernel's copy-out)
        OUT[infeasible] = 0.0  # the kernel skips these samples: no garbage to cast later
        tolv = np.ascontiguousarray(v_scale * (max(tol, F32_TOL) if dt == np.float32 else tol))
        status = np.zeros(B, dtype=np.int64)
        status[infeasible] = bk.PENDING
        sweeps = np.zeros(B, dtype=np.int64)
        est = np.zeros(B)
        om = np.ones(nch)
        with one_thread(nch < 2):  # one chunk: nothing to spread
            bk.batch_sweeps(
                sw.deg,
                sw.idx,
                self._g_over_diag(dt),
                Q,
                chunks(lo),
                chunks(hi),
                bool(sw.bounded or self._var_bounds),
                *self._hubs,
                sw.in_ptr,
                sw.in_anode,
                in_l,
                sw.out_ptr,
                sw.out_cathode,
                out_l,
                U,
                OUT,
                tolv,
                _EPS[np.dtype(dt)],
                max_sweeps,
                omega,
                status,
                sweeps,
                est,
                om,
            )
        Uf = (OUT if dt == np.float64 else OUT.astype(np.float64)).T  # [n, B], by sample
        if infeasible.any():  # never swept: OUT holds no value there
            Uf[:, infeasible] = 0.0
        return Uf, status, sweeps, float(om.max())

    def _g_over_diag(self, dt: np.dtype) -> np.ndarray:
        """The sweeps' scaled conductances in the sweeps' precision (cached)."""
        g = self._g_cache.get(dt)
        if g is None:
            g = self._g_cache[np.dtype(dt)] = np.ascontiguousarray(
                self._sweep.g_over_diag, dtype=dt
            )
        return g

    def _sample_problem(self, b, Cn, lo, hi, ffl, v_scale):
        """Sample b's own reduced problem (the shared structure, its injections, bounds,
        limits and scales): what the single polish and sweeps take."""
        from resbench.batch.polish import sample_i_scales

        p = self._problem
        col = lambda a: np.ascontiguousarray(a[:, b if a.shape[1] > 1 else 0])  # noqa: E731
        c = np.ascontiguousarray(Cn[:, b])
        ff = col(ffl) if ffl.size else p.ff_limit
        i_scale = float(sample_i_scales(p, c[:, None], v_scale[b : b + 1])[0])
        return _replaced(
            p,
            c=c,
            lo=col(lo),
            hi=col(hi),
            ff_limit=ff,
            in_limit=ff[self._in_order] if ff.size else p.in_limit,
            out_limit=ff[self._out_order] if ff.size else p.out_limit,
            v_scale=float(v_scale[b]),
            i_scale=i_scale,
        )

    def _polish_many(self, idx, U, Cn, lo, hi, ffl, v_scale, status, messages, base, polished):
        """The exact finish of the samples ``idx``: batched (resbench.batch.polish: samples
        grouped by active set, one factorisation per group, each answer checked exactly),
        then the single polish for the samples it could not finish."""
        polish_batch, sample_i_scales = _LAZY.polish.polish_batch, _LAZY.polish.sample_i_scales
        p = self._problem
        every = idx.size == U.shape[1]  # every sample (a .dc sweep with diodes): no copies

        def sub(a: np.ndarray) -> np.ndarray:
            return a[:, idx] if a.shape[1] > 1 and not every else a

        Cb, vb = (Cn, v_scale) if every else (Cn[:, idx], v_scale[idx])
        Ub, okb = polish_batch(
            p,
            Cb,
            sub(lo),
            sub(hi),
            sub(ffl),
            U if every else U[:, idx],
            vb,
            sample_i_scales(p, Cb, vb),
            max_rounds=None,
        )
        if every and okb.all():  # (then idx is every sample, unpadded: B = U's columns)
            U[...] = Ub
            status[:] = CONVERGED
            polished[:] = True
            return
        done = idx[okb]
        U[:, done] = Ub[:, okb]
        status[done] = CONVERGED
        polished[done] = True
        for b in idx[~okb]:
            self._polish_one(b, U, Cn, lo, hi, ffl, v_scale, status, messages, base, polished)

    def _polish_one(self, b, U, Cn, lo, hi, ffl, v_scale, status, messages, base, polished):
        from resbench.solvers.polish import polish as run_polish

        q = self._sample_problem(b, Cn, lo, hi, ffl, v_scale)
        pr = run_polish(q, np.ascontiguousarray(U[:, b]))
        polished[b] = True
        if pr.optimal:
            U[:, b] = pr.u
            status[b] = CONVERGED
        else:
            status[b] = STALLED
            messages[base + b] = f"the exact polish did not finish: {pr.message}"

    def _solve_singly(self, S, ws, V, sweeps, status, messages, base, polished, tol, max_sweeps):
        """Circuits with islands: the single solver per sample (its exact island path)."""
        from resbench.solvers.cd import solve_cd

        for b in range(S.shape[0]):
            circ = with_values(self.circuit, self.input_names, S[b])
            try:
                sol = solve_cd(
                    circ,
                    tol=tol,
                    max_sweeps=max_sweeps,
                    gmin=self.gmin,
                    warm_start=None if ws is None else ws[b],
                )
            except ResbenchError as exc:
                V[b] = np.nan
                status[b] = FAILED
                messages[base + b] = str(exc)
                continue
            V[b] = sol.voltages
            sweeps[b] = sol.sweeps
            status[b] = sol.status
            polished[b] = bool(sol.info.get("polished"))

    def _vsource_currents(
        self, V: np.ndarray, S: np.ndarray, rtol: float, threads: int | None, direct: bool
    ) -> np.ndarray:
        """The voltage sources' currents of one sample ``[n_vsources]``, the numbers
        ``_certify`` reports with ``currents=True``: a sample the certificate's direct
        path certified by the same product alone, any other by the same certifier call."""
        with limit_threads(threads) if threads is not None else _NO_LIMIT:
            if direct:
                return self._bc.direct_source_currents(V)[0]
            return self._get_certifier()(V, S, rtol, True).vsource_current[0]

    def _certify(self, V, S, certify, rtol, currents):
        """Certificate of the chosen samples (all, none, or k spread evenly);
        ``currents``: False, True (the diodes' and the voltage sources') or
        ``_DIODES`` (the diodes' only)."""
        if (certify is False or certify is None) and not currents:
            return None, None, None
        B = V.shape[0]
        if certify is True:
            pick = np.arange(B)
        elif certify is False or certify is None:
            pick = np.zeros(0, dtype=np.int64)
        else:
            k = int(certify)
            if k < 0:
                raise InputError(f"certify must be True, False or a sample count >= 0, got {k}")
            pick = np.unique(np.linspace(0, B - 1, num=min(k, B)).round().astype(np.int64))
        if currents:
            pick = np.arange(B)
        if pick.size == 0:
            return None if certify is False else _empty_certificate(B), None, None
        certifier = self._get_certifier()
        sources = bool(currents) and currents is not _DIODES
        every = pick.size == B  # no copies of V and S
        if every:
            # every sample: the certifier's own pass finds voltages that are not finite
            # and fails those samples (infinite residuals, as certify_batch does)
            part = cert = certifier(V, S, rtol, sources)
        else:
            pick = pick[np.all(np.isfinite(V[pick]), axis=1)]  # (the others: unchecked)
            if pick.size == 0:
                return None if certify is False else _empty_certificate(B), None, None
            part = certifier(V[pick], S[pick], rtol, sources)
            cert = _empty_certificate(B)
            for f in BatchCertificate.PER_SAMPLE:
                getattr(cert, f)[pick] = getattr(part, f)
        dcur = vcur = None
        if currents:
            dcur = np.full((B, len(self.circuit.diodes)), np.nan)
            if part.diode_current is not None:
                dcur[pick] = part.diode_current
            if sources:
                vcur = np.full((B, len(self.circuit.vsources)), np.nan)
                if part.vsource_current is not None:
                    vcur[pick] = part.vsource_current
        if certify is False:
            cert = None
        return cert, dcur, vcur

    def _get_certifier(self):
        """The batch certifier (resbench.batch.certificate), built on first use."""
        if self._certifier is None:
            from resbench.batch.certificate import BatchCertifier

            # the certifier places the inputs' columns itself (one gather per kind of
            # source, not one Python assignment per input); scales="bound": the same
            # verdicts, the exact scales only for samples outside the stricter
            # tolerances of their lower bounds (docs/batch.md, "The certificate")
            bc = self._bc = BatchCertifier(self.circuit, inputs=self.input_names, gmin=self.gmin)
            named = bool(self.input_names)  # (no inputs: the circuit's own values)

            # the fold's grouping of the inputs (a claim the certifier checks bit for
            # bit before it uses it to fold its own product)
            def run(V, S, rtol, currents):
                pat = self._fold_pattern
                return bc.certify(
                    V,
                    S if named else None,
                    rtol=rtol,
                    currents=currents,
                    scales="bound",
                    column_groups=None if pat is None else pat.groups,
                )

            self._certifier = run
        return self._certifier


_NO_LIMIT = contextlib.nullcontext()
#: ``_certify``'s ``currents`` for the diodes' currents only (``solve`` defers the
#: voltage sources')
_DIODES = "diodes"


def sorted_rows(sw):
    """``sw`` (:class:`resbench.solvers.cd.SweepArrays`) with each CSR row's entries in
    ascending column order (the same rows, values and bounds).  The problem lists a
    row's entries in the order its resistors come in the netlist; a node's sum then
    adds them in that order.  Sorted, the sums no longer depend on how the file lists
    its elements, and a two-layer graph qualifies for the dense one-sample sweeps
    (:func:`two_layer_maps` needs ascending rows to add every term in the CSR's order),
    as a generated DRN does: DRN-XS read from netlists/drn_xs.cir, one input 206 → 132
    µs.  Returned as it is when every row already is."""
    deg = sw.deg.astype(np.int64)
    n = deg.shape[0]
    if sw.idx.shape[0] < 2:
        return sw
    rows = np.repeat(np.arange(n, dtype=np.int64), deg)
    idx = sw.idx.astype(np.int64)
    same = rows[1:] == rows[:-1]
    if np.all(idx[1:][same] > idx[:-1][same]):
        return sw
    order = np.lexsort((idx, rows))
    return sw._replace(
        idx=np.ascontiguousarray(sw.idx[order]),
        g_over_diag=np.ascontiguousarray(sw.g_over_diag[order]),
    )


def _all_distinct(keys: np.ndarray) -> bool:
    """No two of ``keys`` (finite) are equal."""
    ks = np.sort(keys)
    return bool(np.all(ks[1:] != ks[:-1]))


def _i32(a: np.ndarray) -> np.ndarray:
    """Node indices as the small-map kernels take them (int32, contiguous)."""
    return np.ascontiguousarray(a, dtype=np.int32)


def _loop_error(name: str) -> CircuitError:
    """The error of an input voltage source that closes a loop of voltage sources."""
    return CircuitError(
        f"input {name} closes a loop of voltage sources: its value is fixed by the other "
        "sources of the loop, so it cannot change between samples; remove it from the "
        "inputs (or break the loop)",
        elements=[name],
    )


def _k_entries(
    sn: np.ndarray,
    touched: np.ndarray,
    ra: np.ndarray,
    rb: np.ndarray,
    value: np.ndarray,
    gmin: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The entries (row, column, value) of K, node offsets → free-node injections
    (resistors, gmin), only in the columns of nodes that move with an input
    (``touched``); duplicates are summed in this order."""
    ra, rb = ra.astype(np.int64, copy=False), rb.astype(np.int64, copy=False)
    keep = (touched[ra] | touched[rb]) & (value > 0) & (sn[ra] != sn[rb])
    ka, kb, g = ra[keep], rb[keep], 1.0 / value[keep]
    kr, kc, kv = [], [], []
    for own, other in ((ka, kb), (kb, ka)):
        free = sn[own] >= 0
        i = sn[own][free].astype(np.int64, copy=False)
        kr += [i, i]
        kc += [own[free], other[free]]
        kv += [-g[free], g[free]]
    if gmin > 0:
        members = (touched & (sn >= 0)).nonzero()[0]
        kr.append(sn[members].astype(np.int64, copy=False))
        kc.append(members)
        kv.append(np.full(members.size, -gmin))
    cat = np.concatenate
    return cat(kr), cat(kc), cat(kv)


def _replaced(obj, **fields):
    """``dataclasses.replace`` without re-running ``__init__`` (a shallow copy with some
    fields changed): for the objects of one sample, made per call of ``solve``, whose
    other fields were validated when the network was set up.  (A new instance and its
    fields: what ``copy.copy`` does for these plain classes, without its protocol
    lookups, ~2 µs.)"""
    out = object.__new__(type(obj))
    out.__dict__.update(obj.__dict__)
    out.__dict__.update(fields)
    return out


def fused_ok(p, ws: np.ndarray | None, Bp: int) -> bool:
    """Whether a block takes the fused path of :meth:`Network._solve_block`: a cold
    start, no free–free diodes, whole chunks (the sweeps' inputs made in one pass)."""
    return (
        p.n > 0
        and ws is None
        and not p.n_ff_diodes
        and Bp >= SINGLE_BELOW
        and Bp % _LAZY.bk.CW == 0
    )


def _injections(G: np.ndarray, base: np.ndarray | None) -> np.ndarray:
    """c = base + G as float64 ``[n, B]`` (G as it is when base is None)."""
    if base is None:
        return np.asarray(G, dtype=np.float64)
    return base[:, None] + G


def voltage_plan(
    offset0: np.ndarray,
    supernode: np.ndarray,
    m_row: np.ndarray,
    m_col: np.ndarray,
    m_val: np.ndarray,
    s0: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """The arguments of :func:`resbench.batch._kernels.assemble_voltages_s` between
    ``offset0`` and ``s0``: the nodes held by one input (one entry of the offset map M
    and not free: a DRN's input nodes), the free nodes with no entry, and the rest (M's
    entries of the other nodes in M's order, and their free parts).  ``m_*`` are M's
    entries in row order.  (A circuit of a few nodes gets the same arrays from
    :func:`resbench.batch._network_kernels.small_maps`.)"""
    n_nodes = offset0.shape[0]
    count = np.bincount(m_row, minlength=n_nodes)
    free = supernode >= 0
    one = (count == 1) & ~free
    at = np.zeros(n_nodes, dtype=np.int64)  # a node's (first) entry of M
    at[m_row[::-1]] = np.arange(m_row.size - 1, -1, -1)
    one_node = one.nonzero()[0].astype(np.int64, copy=False)
    e = at[one_node]
    one_col = m_col[e].astype(np.int64, copy=False)
    free_only = (free & (count == 0)).nonzero()[0].astype(np.int64, copy=False)
    rest = ~one[m_row]
    rest_free = (free & (count > 0)).nonzero()[0].astype(np.int64, copy=False)
    f64 = np.float64
    return (
        one_node,
        one_col,
        m_val[e].astype(f64, copy=False),
        s0[one_col].astype(f64, copy=False),
        offset0[one_node].astype(f64, copy=False),
        free_only,
        supernode[free_only].astype(np.int64, copy=False),
        offset0[free_only].astype(f64, copy=False),
        m_row[rest].astype(np.int64, copy=False),
        m_col[rest].astype(np.int64, copy=False),
        m_val[rest].astype(f64, copy=False),
        rest_free,
        supernode[rest_free].astype(np.int64, copy=False),
    )


def hub_rows(
    deg: np.ndarray, idx: np.ndarray, min_deg: int = HUB_MIN_DEG
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rows of the sweeps' CSR (``deg``, ``idx``) whose terms from earlier nodes the
    batch sweeps add as those nodes are updated ("hubs": a DRN's output nodes, each
    coupled to every hidden node), for :func:`resbench.batch._kernels.batch_sweeps`.

    A row of at least ``min_deg`` entries qualifies when its entries of earlier nodes
    (j < i) come first and in ascending order: pushing u_j into the row's sum as node j
    is updated then adds the same terms in the same order as reading them when row i is
    swept (bitwise the same sum), while the hub's many neighbours are read once, hot,
    instead of again from L2/L3.  Returns (slot [n]: the row's hub number or −1;
    early [n]: its leading entries that are pushed; push_ptr [n + 1], push_slot,
    push_k: per node j, the hub rows it adds to and the entry index k of its term).
    """
    n = deg.shape[0]
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(deg, out=ptr[1:])
    slot = np.full(n, -1, dtype=np.int64)
    early = np.zeros(n, dtype=np.uint32)
    src: list[np.ndarray] = []
    dst: list[np.ndarray] = []
    ks: list[np.ndarray] = []
    for i in (deg >= min_deg).nonzero()[0]:
        cols = idx[ptr[i] : ptr[i + 1]].astype(np.int64)
        m = int(np.count_nonzero(cols < i))
        if m == 0 or not (np.all(cols[:m] < i) and np.all(np.diff(cols[:m]) > 0)):
            continue
        slot[i] = len(src)
        early[i] = m
        src.append(cols[:m])
        dst.append(np.full(m, slot[i], dtype=np.int64))
        ks.append(np.arange(ptr[i], ptr[i] + m, dtype=np.int64))
    if not src:
        z = np.zeros(0, dtype=np.uint32)
        return slot, early, np.zeros(n + 1, dtype=np.uint32), z, z
    s, d, k = np.concatenate(src), np.concatenate(dst), np.concatenate(ks)
    order = np.argsort(s, kind="stable")  # by pushing node; a hub's own order within
    push_ptr = np.zeros(n + 1, dtype=np.uint32)
    np.cumsum(np.bincount(s, minlength=n), out=push_ptr[1:])
    return slot, early, push_ptr, d[order].astype(np.uint32), k[order].astype(np.uint32)


def two_layer_maps(
    deg: np.ndarray,
    idx: np.ndarray,
    g: np.ndarray,
    *,
    tile: int = TWO_LAYER_TILE,
    max_bytes: int = TWO_LAYER_BYTES,
    min_density: float = TWO_LAYER_DENSITY,
) -> tuple[int, np.ndarray, np.ndarray] | None:
    """The dense couplings of a sweep CSR (``deg``, ``idx``, ``g`` = g / diag) whose
    free graph has two layers, for :func:`resbench.batch._network_kernels.two_layer_sweeps`:
    ``(na, GA, GT)`` when nodes ``[0, na)`` are coupled only to nodes ``[na, n)`` and
    those only to ``[0, na)``, every row's columns ascending (the order the CSR sums
    them), the dense blocks at least ``min_density`` full and both within
    ``max_bytes``; else None.  ``GA[h, a]`` is row ``a``'s entry of column ``na + h``,
    ``GT[a, h]`` row ``na + h``'s entry of column ``a``, ``GT``'s columns padded with
    zeros to a multiple of ``tile``.  A DRN's free graph is bipartite (its layers
    alternate) and its nodes are numbered by colour class: one hidden layer gives the
    hidden nodes, then the outputs; two give layers 1 and 3, then 2.  Deeper or wider
    DRNs fail the size or fill test and keep the CSR."""
    n = deg.shape[0]
    nnz = int(idx.shape[0])
    if n < 2 or nnz == 0:
        return None
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(deg, out=ptr[1:])
    rows = np.repeat(np.arange(n, dtype=np.int64), deg.astype(np.int64))
    cols = idx.astype(np.int64)
    back = (cols < rows).nonzero()[0]
    if back.size == 0:
        return None
    na = int(rows[back[0]])  # the first row with an earlier column: the second layer
    first = rows < na
    if na == 0 or not (np.all(cols[first] >= na) and np.all(cols[~first] < na)):
        return None
    same_row = rows[1:] == rows[:-1]
    if not np.all(cols[1:][same_row] > cols[:-1][same_row]):
        return None
    H = n - na
    Hp = -(-H // tile) * tile
    if nnz < min_density * 2 * H * na or 8 * na * Hp > max_bytes:
        return None
    GA = np.zeros((H, na))
    GT = np.zeros((na, Hp))
    GA[cols[first] - na, rows[first]] = g[first]
    GT[cols[~first], rows[~first] - na] = g[~first]
    return na, GA, GT


@functools.lru_cache(maxsize=4)
def _inf_bounds(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of ``n`` unbounded nodes (-inf, +inf): two_layer_sweeps clips always,
    which leaves every value as it is."""
    return np.full(n, -np.inf), np.full(n, np.inf)  # (writeable: numba types a read-only
    # array apart, and would compile the kernels again for it; nothing writes them)


def _empty_certificate(B: int) -> BatchCertificate:
    nan = lambda: np.full(B, np.nan)  # noqa: E731
    return BatchCertificate(
        checked=np.zeros(B, dtype=bool),
        ok=np.zeros(B, dtype=bool),
        feasibility=nan(),
        kcl=nan(),
        complementarity=nan(),
        feas_tol=nan(),
        kcl_tol=nan(),
        comp_tol=nan(),
    )


_batch_compiled = False


def _compile_batch_kernels() -> None:
    """Compile (or load from numba's cache) the batch kernels' declared signatures."""
    global _batch_compiled
    if _batch_compiled:
        return
    from resbench import _jit
    from resbench.batch import _kernels, _network_kernels, polish  # noqa: F401  (register)

    _jit.warm_up()
    _batch_compiled = True


_NO_VMAX = np.zeros(0)


class _NotFinite(InputError):
    """The fold's pass found a NaN or inf among the values (the caller names it)."""


class _Lazy:
    """Modules of the solve path, imported on first use and then read as attributes:
    an import statement inside a function costs ~1 µs per call (more once the call's
    arrays have pushed the import machinery out of cache), paid a dozen times per
    one-sample solve.  Modules only (a test that patches a module's attribute is seen)."""

    _WHERE = {  # noqa: RUF012
        "bk": "resbench.batch._kernels",
        "nk": "resbench.batch._network_kernels",
        "sk": "resbench.solvers._kernels",
        "cd": "resbench.solvers.cd",
        "polish": "resbench.batch.polish",
        "problem": "resbench.solvers.problem",
    }

    def __getattr__(self, name: str):
        import importlib

        try:
            where = self._WHERE[name]
        except KeyError:
            raise AttributeError(name) from None
        mod = importlib.import_module(where)
        setattr(self, name, mod)
        return mod


_LAZY = _Lazy()
