"""Direct finish of the exact solver: sparse factorisations where sweeps converge slowly.

Coordinate descent converges in ~10 sweeps on layered networks (DRNs) but needs
thousands on 2-D grids, power grids, long chains and stars (its contraction rate ρ
tends to 1 as the network's diameter grows).  There a sparse factorisation of the
reduced Laplacian is far cheaper.  This module holds

* the **switch** (:func:`should_switch`): after 16 sweeps and then after each chunk
  of 40 (layered nets converge in fewer, or contract fast enough that the model
  keeps the sweeps: the regress suite's DRN sweep counts do not move), the observed rate ρ
  predicts how many more sweeps the stopping rule needs; when their modelled cost
  exceeds the modelled cost of the finish's factorisations, the solver stops
  sweeping.  Both costs are
  models of the problem's size (:func:`sweep_seconds`, :func:`factor_seconds`,
  constants measured in docs/grids.md), never clock readings, so the decision,
  and so the sweep count, is the same on every machine and under any load.  The
  factorisation's model goes by the matrix's nnz, fitted on meshes; where it says
  switch, a second model from the dense front the graph forces (:func:`front_seconds`,
  :class:`SwitchRule`) must agree: random networks, whose factor fills in 50-100×
  beyond the matrix, keep sweeping (10k nodes: ~135 more sweeps, ~13 ms, instead of a
  ~0.14 s factorisation);
* for **linear** problems (no diodes) the same comparison before any sweep
  (:func:`linear_at_once`), with the sweeps predicted from the graph's depth:
  deep networks (meshes, power grids, chains) go straight to the direct solve;
* the **finish** for problems whose only constraints are bounds (diodes to fixed
  nodes, :func:`finish_bounds`): a primal–dual active-set method (Hintermüller,
  Ito & Kunisch 2003, a semismooth Newton method) warm-started by the sweeps'
  iterate.  Each step fixes the bound-active nodes, solves the reduced SPD
  system L_FF u_F = c_F + G_FA u_A directly, and re-derives the active set
  from the multipliers (the currents the bounds supply).  It ends when the set
  repeats and the point is feasible with multipliers of the right sign: the KKT
  conditions, i.e. the exact answer (up to the solve's round-off).  L is an
  M-matrix, for which the method is monotone and finite; a set seen before
  (a cycle) or the iteration limit falls back to the primal active-set polish
  (:mod:`resbench.solvers.polish`), which is finite for any strictly convex QP;
* the **factorisation** (:func:`factorize`): CHOLMOD (scikit-sparse, optional:
  the ``sparse`` extra, which needs SuiteSparse's headers to build) with AMD
  ordering, else SciPy's SuperLU (``splu``) with the minimum-degree ordering on
  AᵀA + A.  From 2,000 rows an independent set of low-degree nodes (~half of a
  mesh's) is eliminated first, in numba, and only the Schur complement on the rest
  is factorised (:func:`_factorize_schur`: CHOLMOD's cost on small fronts goes by
  columns more than by flops).  The polish's sparse solves use it too, so free–free
  diodes on large nets share the machinery.

A reduced matrix is singular only when a group of free nodes has no conductance
to a fixed voltage (a floating island that slipped past the problem's checks):
:func:`check_grounded` names its nodes in a :class:`CircuitError`.
"""

from __future__ import annotations

import ctypes
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from resbench.errors import CircuitError
from resbench.solvers import _direct_kernels as _dk
from resbench.solvers import _kernels as kernels
from resbench.solvers.problem import ROUND_OFF, TINY, Problem

try:  # optional: CHOLMOD through scikit-sparse (the "sparse" extra)
    from sksparse.cholmod import CholmodError
    from sksparse.cholmod import analyze as _cholmod_analyze
except ImportError:  # pragma: no cover - depends on the environment
    _cholmod_analyze = None
    CholmodError = RuntimeError  # type: ignore[assignment,misc]


def _openmp_runtime() -> ctypes.CDLL | None:
    """The GNU OpenMP runtime when a library already loaded it (Debian's CHOLMOD is
    built with OpenMP), else None; never loads it."""
    try:
        lib = ctypes.CDLL("libgomp.so.1", mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        lib.omp_get_max_active_levels.restype = ctypes.c_int
        lib.omp_set_max_active_levels.argtypes = [ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return lib


_GOMP = _openmp_runtime() if _cholmod_analyze is not None else None


def _openblas_runtime() -> ctypes.CDLL | None:
    """The OpenBLAS that CHOLMOD calls when one is loaded (Debian links CHOLMOD to the
    system ``libblas.so.3``, an OpenBLAS there; numpy and SciPy carry their own copies,
    which this does not touch), else None; never loads a library."""
    for name in ("libopenblas.so.0", "libblas.so.3"):
        try:
            lib = ctypes.CDLL(name, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
            lib.openblas_get_num_threads.restype = ctypes.c_int
            lib.openblas_set_num_threads.argtypes = [ctypes.c_int]
        except (OSError, AttributeError):
            continue
        return lib
    return None


_OPENBLAS = _openblas_runtime() if _cholmod_analyze is not None else None


@contextmanager
def serial_blas(rows: int) -> Iterator[None]:
    """CHOLMOD's BLAS calls run on the calling thread, for the duration, when the
    matrix has at most :data:`SERIAL_BLAS_MAX` rows (else the BLAS keeps its threads).

    OpenBLAS hands a call's blocks to its worker threads, which then spin for a while
    waiting for more; on a factorisation's many small fronts the hand-offs and the
    spinning cost more than they save (300×300 clamped grid: CPU time ~1.3× wall with
    two threads, docs/grids.md), and under load a spinning or descheduled worker delays
    the caller.  The previous count is restored after, so other users of that library
    keep their setting.  Same arithmetic order either way (no K-splitting in GEMM).
    """
    if _OPENBLAS is None or rows > SERIAL_BLAS_MAX:
        yield
        return
    old = int(_OPENBLAS.openblas_get_num_threads())
    if old == 1:
        yield
        return
    _OPENBLAS.openblas_set_num_threads(1)
    try:
        yield
    finally:
        _OPENBLAS.openblas_set_num_threads(old)


@contextmanager
def serial_openmp() -> Iterator[None]:
    """OpenMP regions run on the calling thread only, for the duration.

    Debian's CHOLMOD opens an OpenMP region with a fixed thread count
    (``num_threads``, so ``OMP_NUM_THREADS`` does not reach it) for small copy loops
    in every supernode; the threads' wake-ups and spinning cost more than the loops
    (300×300 mesh, supernodal: 0.21 s instead of 0.34–0.50 s wall under load,
    docs/grids.md).  Setting the runtime's max-active-levels to 0 makes those regions
    serial; the previous value is restored after, so numba's OpenMP layer (the same
    runtime) is untouched outside.  The arithmetic is the same either way.
    """
    if _GOMP is None:
        yield
        return
    old = int(_GOMP.omp_get_max_active_levels())
    _GOMP.omp_set_max_active_levels(0)
    try:
        yield
    finally:
        _GOMP.omp_set_max_active_levels(old)


# ---------------------------------------------------------------- cost model
# One place for the measured constants (docs/grids.md, "Cost model": CPU seconds, one
# BLAS thread, CHOLMOD, on the 2-core machine under load).  A sweep streams each
# directed free–free edge and each node once; a factorisation with a fill-reducing
# ordering measured 0.033 / 0.51 / 2.3 / 6.9 s on 100² / 300² / 600² / 1000² meshes
# (nnz 5e4 … 5e6: ~nnz^1.15, supernodal BLAS gets faster as the fronts grow) and
# 0.04 s on a 100k chain or star (the model over-estimates those, which only delays
# the switch there by a chunk).  The same model whichever factorisation is installed,
# so the switch, and the sweep count, are the same everywhere.
# Since then the factorisation got faster (serial OpenMP regions, nested dissection:
# 0.27 / 1.4 / ~4.3 s on 300² / 600² / 1000²), but the model is kept: what the finish
# costs depends on how close the sweeps got as much as on the factorisation.  A model
# fitted to the new times (2.5e-7 · nnz^1.08) switched the 300×300 clamped grid after
# 40 sweeps instead of 80, and its finish took 5 active-set steps instead of 3 (64
# nodes changed bounds in the first), 0.9 s CPU instead of 0.5 s (docs/grids.md).
SWEEP_S_PER_ENTRY = 1.5e-9  # s per (directed edge + node) of one sweep
FACTOR_S_BASE = 2e-3  # s: fixed cost of assembling and factorising a small system
FACTOR_S_COEF = 1.4e-7  # s per (nnz of L, diagonal included)^FACTOR_EXP
FACTOR_EXP = 1.15
FRONT_S_PER_FLOP = 1.5e-9  # s per flop of the dense front (front_seconds): random
# networks 1k-20k nodes, CHOLMOD's factorisation 0.9-3 ns per (size/depth)^3 / 3 of the
# graph's 2-core (load 4); 1.5 errs towards the switch (the nnz model's behaviour)
SWITCH_AFTER = 16  # sweeps before the first look (then after each chunk of 40)
DIRECT_SOLVES = 1  # factorisations a finish takes (later steps reuse it: _Base)
SWITCH_MARGIN = 1.0  # switch when predicted sweeps cost more than MARGIN × the finish
LINEAR_SWEEPS_PER_DEPTH = 10.0  # a linear problem needs at least ~this many sweeps per
# level of its graph's depth (linear_at_once): 10-19 on meshes and 3-layer power grids
# (30x30 ... 100x100 meshes: 1005 / 1218 / 2021 sweeps at depth 56 / 96 / 196;
# ibmpg1-sized grid 2140 at depth 113), 12-13 on sparse random networks (131 / 175
# sweeps at depth 10 / 14, which then stay below the factorisation's cost)

DENSE_ROW = 1000  # SuperLU: a row with more entries (a star's hub) makes the minimum-degree
# ordering on AᵀA + A crawl (18 s on a 100k-leaf star); COLAMD, which sets dense rows
# aside, takes 0.16 s there (but 2.5× MMD's time on meshes)
BORDER_MAX = 64  # a step reuses the last factor when its free set differs by ≤ this many
BORDER_ENTRIES = 20_000_000  # … and the k dense columns of the border fit in 160 MB
COLUMN_S_PER_ENTRY = 2.2e-8  # s per (nnz + n) of one column's solve with the factor
# (0.010 s per column on a 300×300 mesh; a 64-node border cost 0.7–0.8 s there, a new
# factorisation 0.3 s)
BORDER_SHARE = 0.5  # … and the k column solves cost ≤ this share of a factorisation,
# both as modelled (factor_seconds over-estimates today's factorisations ~1.6× on
# meshes: the break-even, measured, is k ≈ 25–30 on the 300×300 mesh)
GENERAL_MIN = 2000  # free nodes above which nets with free–free diodes try finish_general
# before the primal polish (below, the polish's steps cost little: unchanged behaviour)
SERIAL_BLAS_MAX = 200_000  # rows up to which CHOLMOD's BLAS runs on one thread
# (serial_blas; above, the large fronts of a 1000×1000 mesh keep the BLAS's threads)
ND_MIN = 50_000  # nodes from which CHOLMOD gets a nested-dissection order on mesh-like
# systems (below, AMD's order costs as many flops: 70² … 200² meshes, within ±15 %)
ND_MIN_DENSITY = 4.5  # … whose matrix has ≥ this many entries per row (2-D meshes ~5;
# chains, stars and trees 3, where AMD's order is already optimal)
ND_MAX_DEGREE = 64  # … and no row with more (a hub: a level is then most of the graph)
ND_LEAF = 64  # parts of at most this many nodes are not split further
ND_GIVE_UP = 2.25  # (separator size)² / part size above which AMD is used instead
SCHUR_MIN = 2000  # rows from which factorize_ordered first eliminates an independent set
# (_factorize_schur; a 30×30 mesh, 896 rows, took as long either way)
SCHUR_MAX_DEGREE = 10  # … of nodes with at most this many neighbours (each makes a clique
# of its neighbours: ≤ 100 entries)
SCHUR_MIN_SHARE = 0.2  # … when the set holds at least this share of the rows (meshes and
# power grids: ~0.5, a star all its leaves)
MAX_ITER = 50  # primal–dual steps before the fall-back to the primal polish
REL_TOL = 1e-12  # as in polish: feasibility and multiplier signs, relative to the scales


def sweep_seconds(p: Problem) -> float:
    """Modelled seconds of one sweep of ``p`` (deterministic: a function of its size)."""
    return SWEEP_S_PER_ENTRY * (p.indices.shape[0] + p.n)


def factor_seconds(p: Problem) -> float:
    """Modelled seconds of one factorisation of ``p``'s reduced Laplacian, from its nnz."""
    nnz = float(p.indices.shape[0] + p.n)
    return FACTOR_S_BASE + FACTOR_S_COEF * nnz**FACTOR_EXP


def border_limit(p: Problem) -> int:
    """The most nodes by which a step's free set may differ from the factored one and
    still reuse its factor (:class:`_Base`): :data:`BORDER_MAX`, fewer when the k dense
    columns would pass :data:`BORDER_ENTRIES` numbers or their solves would cost more
    than :data:`BORDER_SHARE` of a factorisation (a function of the size only)."""
    column = COLUMN_S_PER_ENTRY * (p.indices.shape[0] + p.n)
    by_cost = int(BORDER_SHARE * factor_seconds(p) / max(column, 1e-300))
    return max(0, min(BORDER_MAX, BORDER_ENTRIES // max(p.n, 1), by_cost))


def predicted_sweeps(rate: float, error: float, tol_v: float) -> float:
    """Sweeps still needed to bring an error estimate ``error`` to ``tol_v`` at the
    observed contraction ``rate`` per sweep; inf when nothing contracts.

    The rate observed over a chunk's second half is an *under*-estimate on meshes and
    chains (the smooth error modes that dominate later contract slowest: on a
    300×300 grid 0.963 after 40 sweeps, 0.992 after 200), so the prediction errs
    towards more sweeps only as the sweeps go on; the check repeats after every chunk.
    """
    if not (error > tol_v):
        return 0.0
    if not (0.0 < rate < 1.0):
        return math.inf
    return math.log(tol_v / error) / math.log(rate)


def should_switch(
    p: Problem,
    rate: float,
    error: float,
    tol_v: float,
    margin: float = SWITCH_MARGIN,
    front: Callable[[], float] | None = None,
) -> bool:
    """Whether the direct finish is cheaper than the sweeps still to come (module doc).

    ``front``: where the nnz model (:func:`factor_seconds`) says switch, a second,
    costlier estimate of the factorisation (:func:`front_seconds`, called only then)
    that must say so too: a veto where the factor fills in (:class:`SwitchRule`).
    ``margin``: 0 always switches, inf never does (tests force both sides with it).
    """
    if margin == math.inf:
        return False
    if margin <= 0.0:
        return True
    sweeps_cost = predicted_sweeps(rate, error, tol_v) * sweep_seconds(p)
    if not sweeps_cost > margin * DIRECT_SOLVES * factor_seconds(p):
        return False
    return front is None or sweeps_cost > margin * DIRECT_SOLVES * front()


def front_seconds(p: Problem) -> float:
    """Modelled seconds of one factorisation of ``p``'s reduced Laplacian from the size
    of the dense front its graph forces (:data:`FRONT_S_PER_FLOP` × the flops of
    :func:`resbench.solvers._direct_kernels.core_front_cube`), not from its nnz.

    On shallow, well-connected graphs (random networks) the factor fills in far beyond
    the matrix: nnz(L) / nnz(A) 10 / 52 / 97 for 1k / 10k / 20k nodes, against 3–9 on
    meshes and power grids, and :func:`factor_seconds` (fitted on meshes) is 3–25×
    short there.  This estimate follows them (10k nodes: 0.24 s modelled, 0.14–0.29 s
    measured; 20k: 1.5 s, 1.6–1.8 s) and is a few ms on meshes, whose nnz model it then
    leaves alone.  A function of the structure only (two breadth-first searches per
    component, ~1 ms on 10k nodes), so the switch stays machine-independent.
    """
    cube = float(_dk.core_front_cube(p.indptr, p.indices))
    return FACTOR_S_BASE + FRONT_S_PER_FLOP * cube / 3.0


class SwitchRule:
    """:func:`should_switch` for one problem, as the sweeps' ``switch(rate, error)``
    callback: the front estimate (:func:`front_seconds`) is computed at the first look
    where the nnz model says switch, and kept (the structure does not change).

    The nnz model alone switched a 10k-node random network after 40 sweeps to a
    ~0.14 s factorisation where ~135 more sweeps (~13 ms) converged; with the front
    estimate the switch waits until the predicted sweeps cost more than it.  Meshes,
    power grids, chains and stars switch as before (their front costs less than the
    nnz model)."""

    def __init__(self, p: Problem, tol_v: float, margin: float = SWITCH_MARGIN) -> None:
        self.p = p
        self.tol_v = tol_v
        self.margin = margin
        self.front_s: float | None = None  # front_seconds(p) once asked
        self.vetoes = 0  # looks where the nnz model said switch and the front said no

    def front(self) -> float:
        """:func:`front_seconds` of the problem, computed once."""
        if self.front_s is None:
            self.front_s = front_seconds(self.p)
        return self.front_s

    def __call__(self, rate: float, error: float) -> bool:
        if should_switch(self.p, rate, error, self.tol_v, self.margin, self.front):
            return True
        if self.front_s is not None and should_switch(self.p, rate, error, self.tol_v, self.margin):
            self.vetoes += 1
        return False


def is_linear(p: Problem) -> bool:
    """Whether ``p`` has no constraint at all (no diode, so no finite bound, no
    free–free diode, no island): its answer is one solve of the reduced system."""
    return (
        p.n_ff_diodes == 0
        and p.n_islands == 0
        and not (np.isfinite(p.lo).any() or np.isfinite(p.hi).any())
    )


def linear_at_once(p: Problem, margin: float = SWITCH_MARGIN) -> bool:
    """Whether a linear problem (:func:`is_linear`) goes to the direct solve before any
    sweep: when the sweeps it would need are predicted to cost more than ``margin`` ×
    the factorisation, both as modelled (:func:`sweep_seconds`, :func:`factor_seconds`).

    For a linear problem the sweeps are no use to the direct solve (one factorisation
    and one solve whatever the start), so the switch's first look after
    :data:`SWITCH_AFTER` sweeps, and the chunk that follows it on meshes (whose rate
    looks fast at first: 40 sweeps on the ibmpg1-sized grid, ~4 ms of ~55), is only
    worth waiting for where the sweeps might converge first.  Without a rate to go by,
    the sweeps needed are predicted from the graph's depth
    (:data:`LINEAR_SWEEPS_PER_DEPTH` per level,
    :func:`resbench.solvers._direct_kernels.pseudo_depth`: at most two passes over the
    edges, half of one on a deep graph): meshes and power grids are deep and need
    thousands, sparse random networks are shallow and converge in ~150 (their fill
    makes the factorisation dear: they keep the sweeps).  A function of the problem's
    structure only, as the switch is.  ``margin``: 0 always, inf never.
    """
    if margin == math.inf or p.n == 0:
        return False
    if margin <= 0.0:
        return True
    factor = margin * DIRECT_SOLVES * factor_seconds(p)
    per_level = LINEAR_SWEEPS_PER_DEPTH * sweep_seconds(p)
    if per_level * (p.n - 1) <= factor:  # not even a chain of all the nodes would do
        return False
    limit = int(factor / per_level)  # the depth above which the sweeps cost more
    return int(_dk.pseudo_depth(p.indptr, p.indices, limit)) > limit


# ------------------------------------------------------------- factorisation
def backend() -> str:
    """The factorisation used: ``"cholmod"`` when scikit-sparse imports, else ``"splu"``."""
    return "cholmod" if _cholmod_analyze is not None else "splu"


def nd_order(csc: sp.csc_matrix) -> np.ndarray | None:
    """A nested-dissection elimination order for the SPD matrix ``csc`` (both
    triangles, sorted indices) when it looks like a 2-D mesh, else None (module doc).

    A function of the sparsity pattern only: ≥ :data:`ND_MIN` rows, ≥
    :data:`ND_MIN_DENSITY` entries per row, none with more than :data:`ND_MAX_DEGREE`,
    and level-set separators no larger than ~1.5 √(part size)
    (:func:`resbench.solvers._direct_kernels.nested_dissection`).  On the 300×300
    clamped grid it needs 0.55× the flops of AMD's order (3.3e8 vs 6.0e8, as METIS's
    3.2e8) and takes about as long to find; on the 1000×1000 grid the factorisation
    took 2.5 s instead of 3.6 s (docs/grids.md).
    """
    n = csc.shape[0]
    if n < ND_MIN or csc.nnz < ND_MIN_DENSITY * n:
        return None
    if int(np.diff(csc.indptr).max()) > ND_MAX_DEGREE:
        return None
    perm, worst = _dk.nested_dissection(
        csc.indptr.astype(np.int64, copy=False),
        csc.indices.astype(np.int32, copy=False),
        ND_LEAF,
        ND_GIVE_UP,
    )
    return perm if worst <= ND_GIVE_UP else None


def factorize(mat: sp.spmatrix, *, use: str | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """A solver x = M⁻¹ b for a sparse SPD matrix M (both triangles stored), b one
    column or several: :func:`factorize_ordered`'s solve with its order undone."""
    solve_p, perm = factorize_ordered(mat, use=use)
    if perm is None:
        return solve_p

    def solve(b: np.ndarray) -> np.ndarray:
        b = np.asarray(b)
        if b.ndim == 1:
            x = np.empty(b.shape)
            x[perm] = solve_p(b[perm])
            return x
        # several columns: permuted column by column into and out of Fortran order,
        # which CHOLMOD takes without a copy (a row gather of an n×k array and its
        # scatter cost ~2× as much: 90k×10, ~16 vs ~8 ms)
        bp = np.empty(b.shape, order="F")
        for j in range(b.shape[1]):
            bp[:, j] = b[perm, j]
        y = solve_p(bp)
        x = np.empty(b.shape, order="F")
        for j in range(b.shape[1]):
            x[perm, j] = y[:, j]
        return x

    return solve


def factorize_ordered(
    mat: sp.spmatrix, *, use: str | None = None
) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray | None]:
    """``(solve, perm)``: ``solve`` gives y = (P M Pᵀ)⁻¹ c for the SPD matrix M (both
    triangles stored) and the elimination order ``perm`` (row j of P M Pᵀ is row
    ``perm[j]`` of M), or ``perm`` None when the order is the factorisation's own
    (``solve`` then is M⁻¹).  Callers that build right-hand sides directly in that
    order (the border's columns, :class:`_Base`) skip :func:`factorize`'s permuting.

    From :data:`SCHUR_MIN` rows, an independent set of low-degree nodes is eliminated
    first, here, and only the Schur complement on the others is factorised
    (:func:`_factorize_schur`).  The factorisation: CHOLMOD (nested dissection on
    mesh-like matrices, :func:`nd_order`, else AMD; simplicial or supernodal as
    CHOLMOD chooses) when available, else SuperLU with no pivoting and the
    minimum-degree ordering on AᵀA + A (COLAMD when a row is dense).  ``use`` forces
    ``"cholmod"`` or ``"splu"``.
    Raises ``np.linalg.LinAlgError`` when M is not positive definite / singular.
    """
    use = backend() if use is None else use
    csc = sp.csc_matrix(mat)
    order = None
    if use == "cholmod":
        if _cholmod_analyze is None:
            raise ValueError("CHOLMOD is not installed (pip install 'resbench[sparse]')")
        csc.sort_indices()
        order = nd_order(csc)
    if csc.shape[0] >= SCHUR_MIN:
        done = _factorize_schur(csc, use, order)
        if done is not None:
            return done
    return _factorize_plain(csc, use, order)


def _factorize_schur(
    csc: sp.csc_matrix, use: str, order: np.ndarray | None = None
) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray] | None:
    """:func:`factorize_ordered` by one step of block elimination: an independent set I
    of nodes with at most :data:`SCHUR_MAX_DEGREE` neighbours is eliminated first, and
    the Schur complement S = M_BB − M_BI D_I⁻¹ M_IB on the others is factorised
    (:func:`_factorize_plain`); None when I holds fewer than :data:`SCHUR_MIN_SHARE` of
    the rows.  With a nested-dissection ``order`` of M (:func:`nd_order`), I is the set
    of nodes it eliminates before all their neighbours
    (:func:`resbench.solvers._direct_kernels.order_minima`: its leaves put an
    independent set first, ~44 % of a mesh's nodes) and S is factorised in the order's
    own sequence: exactly the order's fill.  Otherwise I is chosen greedily, lowest
    degree first (:func:`resbench.solvers._direct_kernels.independent_set`), and S gets
    its own order.

    I being independent, M_II = D_I is diagonal: S costs a pass over each eliminated
    node's neighbours (their clique), and a solve is S's plus two sparse passes
    (:func:`resbench.solvers._direct_kernels.schur_rhs`, ``schur_back``).  It is the
    elimination order "I first, then S's order", exact arithmetic of a symmetric
    order of an SPD matrix; what changes is who eliminates I: numba, one diagonal
    pivot each, instead of CHOLMOD, whose supernodal phase costs ~1 µs per column on
    these small fronts whatever their flops.  On meshes and power grids 44–50 % of
    the rows go, and the factorisation and solve took about half the time (under
    load: ibmpg1-sized grid, AMD, 26 vs 59 ms; 300×300 mesh, nested dissection,
    0.13–0.19 vs 0.29–0.38 s CPU; 1000×1000 mesh 2.8–4.5 vs 4.6–5.5 s CPU); on stars S
    is the hub alone.  The order returned is B's (in S's factor order) then I's.
    """
    n = csc.shape[0]
    ptr = csc.indptr.astype(np.int64, copy=False)
    idx = csc.indices.astype(np.int32, copy=False)
    val = csc.data.astype(np.float64, copy=False)
    if order is None:
        inset = _dk.independent_set(ptr, idx, SCHUR_MAX_DEGREE)
    else:
        inset = _dk.order_minima(ptr, idx, order, SCHUR_MAX_DEGREE)
    ni = int(np.count_nonzero(inset))
    if ni < SCHUR_MIN_SHARE * n:
        return None
    sptr, sidx, sval, bnodes, inodes, d_i = _dk.schur_independent(ptr, idx, val, inset)
    if not np.all(d_i > 0.0):
        raise np.linalg.LinAlgError("a pivot of the eliminated set is not positive")
    nb = bnodes.shape[0]
    s_mat = sp.csc_matrix((sval, sidx, sptr), shape=(nb, nb))
    s_mat.has_sorted_indices = True
    if order is None:
        s_order = nd_order(s_mat) if use == "cholmod" else None
    else:  # B in the order's sequence: S's rows by their nodes' ranks
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        s_order = np.argsort(rank[bnodes], kind="stable")
    solve_s, perm_s = _factorize_plain(s_mat, use, s_order)
    b_order = bnodes if perm_s is None else bnodes[perm_s]
    perm = np.concatenate([b_order, inodes])
    pos_i = np.full(n, -1, dtype=np.int64)
    pos_i[inodes] = np.arange(ni)
    pos_b = np.full(n, -1, dtype=np.int64)
    pos_b[b_order] = np.arange(nb)

    def solve_p(b: np.ndarray) -> np.ndarray:
        b = np.asarray(b)
        if b.ndim == 1:
            b = np.ascontiguousarray(b, dtype=np.float64)
            y = _dk.schur_rhs(ptr, idx, val, b_order, pos_i, d_i, b)
            x_b = np.ascontiguousarray(solve_s(y), dtype=np.float64).reshape(nb)
            return _dk.schur_back(ptr, idx, val, inodes, pos_b, d_i, b, x_b)
        # several columns: S's solves in one call (CHOLMOD's multi-column solve is
        # ~2.4× cheaper per column than single ones), the sparse passes per column
        cols = [np.ascontiguousarray(b[:, j], dtype=np.float64) for j in range(b.shape[1])]
        y = np.empty((nb, len(cols)), order="F")
        for j, col in enumerate(cols):
            y[:, j] = _dk.schur_rhs(ptr, idx, val, b_order, pos_i, d_i, col)
        x_b = np.asarray(solve_s(y)).reshape(nb, len(cols))
        x = np.empty(b.shape, order="F")
        for j, col in enumerate(cols):
            xj = np.ascontiguousarray(x_b[:, j], dtype=np.float64)
            x[:, j] = _dk.schur_back(ptr, idx, val, inodes, pos_b, d_i, col, xj)
        return x

    return solve_p, perm


def _factorize_plain(
    csc: sp.csc_matrix, use: str, perm: np.ndarray | None = None
) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray | None]:
    """:func:`factorize_ordered` without the elimination of an independent set: CHOLMOD
    in the elimination order ``perm`` (sorted ``csc``), or with AMD's when it is None;
    SuperLU with its own."""
    if use == "cholmod":
        if perm is not None:
            ptr, idx, val = _dk.permute_symmetric(
                csc.indptr.astype(np.int64, copy=False),
                csc.indices.astype(np.int32, copy=False),
                csc.data.astype(np.float64, copy=False),
                perm,
            )
            csc = sp.csc_matrix((val, idx, ptr), shape=csc.shape)
            csc.has_sorted_indices = True
        # mode "auto": CHOLMOD picks supernodal when flops / nnz(L) is large (meshes:
        # 4× faster numeric phase on a 2-layer 300×300 power grid), simplicial
        # otherwise (chains, stars: supernodal took 0.58 s instead of 0.013 s on a
        # 100k-leaf star); docs/grids.md.  With our order CHOLMOD only postorders it.
        rows = csc.shape[0]
        try:
            with serial_openmp(), serial_blas(rows):
                factor = _cholmod_analyze(
                    csc, mode="auto", ordering_method="amd" if perm is None else "natural"
                ).cholesky(csc)
        except CholmodError as exc:
            raise np.linalg.LinAlgError(str(exc)) from None

        def solve_p(b: np.ndarray) -> np.ndarray:
            with serial_openmp(), serial_blas(rows):
                return factor.solve_A(b)

        return solve_p, perm
    try:
        # SPD: no pivoting needed, and pivoting off the diagonal (SuperLU's default
        # threshold 1) wrecks the symmetric ordering: 32 s instead of 4.9 s on a
        # 2-layer 300×300 power grid (docs/grids.md)
        dense = csc.shape[0] > 1 and int(np.diff(csc.indptr).max()) > DENSE_ROW
        lu = spla.splu(
            csc,
            permc_spec="COLAMD" if dense else "MMD_AT_PLUS_A",
            diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        )
    except RuntimeError as exc:  # "Factor is exactly singular"
        raise np.linalg.LinAlgError(str(exc)) from None
    return lu.solve, None


# ---------------------------------------------------------------- singularity
def ungrounded_nodes(p: Problem, free: np.ndarray | None = None) -> np.ndarray:
    """Free supernodes in groups (joined by free–free resistors among ``free``) that
    have no conductance to a fixed voltage or to a node outside ``free``: the rows
    where the reduced Laplacian is singular.  Empty when it is nonsingular."""
    if p.n == 0:
        return np.zeros(0, dtype=np.int64)
    if free is None:  # the whole problem: two numba passes (as compile_problem's check)
        inside = kernels.row_sums(p.indptr, p.data, p.n)
        grounded = p.diag - inside > ROUND_OFF * np.maximum(p.diag, TINY)
        comp = kernels.components(p.indptr, p.indices, p.n)
        ok = np.zeros(int(comp.max()) + 1, dtype=bool)
        ok[comp[grounded]] = True
        return np.flatnonzero(~ok[comp])
    rows = np.repeat(np.arange(p.n), np.diff(p.indptr))
    keep = (
        np.ones(p.indices.shape[0], dtype=bool) if free is None else (free[rows] & free[p.indices])
    )
    inside = np.bincount(rows[keep], weights=p.data[keep], minlength=p.n)
    grounded = p.diag - inside > ROUND_OFF * np.maximum(p.diag, TINY)
    graph = sp.csr_matrix(
        (np.ones(int(keep.sum())), (rows[keep], p.indices[keep])), shape=(p.n, p.n)
    )
    _, comp = sp.csgraph.connected_components(graph, directed=False)
    mask = np.ones(p.n, dtype=bool) if free is None else free
    ok = np.zeros(int(comp.max()) + 1, dtype=bool)
    ok[comp[grounded & mask]] = True
    return np.flatnonzero(mask & ~ok[comp])


def singular_error(p: Problem, bad: np.ndarray) -> CircuitError:
    """The error for a singular reduced system: names the circuit nodes involved."""
    nodes = np.flatnonzero(np.isin(p.supernode, bad))
    names = [p.circuit.nodes[int(k)] for k in nodes[:20]]
    more = f" and {nodes.size - 20} more" if nodes.size > 20 else ""
    if not names:
        return CircuitError(
            "the reduced system of the direct solve is numerically singular (conductances "
            "spanning too many orders of magnitude?); rescale the resistor values or pass "
            "--gmin 1e-12 to add a small leak to ground"
        )
    return CircuitError(
        f"no resistive path to a fixed voltage from node(s) {', '.join(names)}{more}: the "
        "direct solve's reduced system is singular there and their voltage is not defined "
        "(SPICE reports a singular matrix); connect them, or pass --gmin 1e-12 to add a "
        "small leak to ground as SPICE does",
        nodes=names,
    )


def check_grounded(p: Problem, free: np.ndarray | None = None) -> None:
    """Raise :func:`singular_error` when some free group floats (see ungrounded_nodes)."""
    bad = ungrounded_nodes(p, free)
    if bad.size:
        raise singular_error(p, bad)


# ------------------------------------------------------------------- finish
@dataclass
class DirectResult:
    """Outcome of :func:`finish_bounds`: ``u`` is optimal when ``optimal``; else the
    caller falls back to the primal polish from the feasible ``u``.  ``solves``: the
    factorisations made (a step that reuses one is counted in ``iterations`` only)."""

    u: np.ndarray
    optimal: bool
    iterations: int
    solves: int
    message: str


def reduced_system(p: Problem, free: np.ndarray, u: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray]:
    """(L_FF, c_F + G_FA u_A): the SPD system of the free nodes, the others held at u
    (one numba pass, :func:`resbench.solvers._direct_kernels.reduced_system`)."""
    pos = np.cumsum(free, dtype=np.int64) - 1
    pos[~free] = -1
    ptr, idx, val, rhs = _dk.reduced_system(p.indptr, p.indices, p.data, p.diag, p.c, u, pos)
    m = rhs.shape[0]
    mat = sp.csc_matrix((val, idx, ptr), shape=(m, m))
    mat.has_sorted_indices = True
    return mat, rhs


class _Base:
    """A factorisation of L_FF for one free set F, reused for nearby free sets.

    Later steps of the finish usually change the free set by a few nodes (a 300×300
    clamped grid: 2 of 90k).  The system of a free set F' = (F − D) ∪ E is then solved
    with the factor of F and a k×k system, k = |D| + |E| (:meth:`solve`): the nodes of
    E join as a border, those of D are held by Lagrange multipliers.  k columns of
    back-substitution instead of a new factorisation; a node's column is kept for the
    next step (the same few nodes tend to move again), and when the other held nodes
    sit where they sat at the factorisation, the base solution gives the rest.
    """

    def __init__(self, p: Problem, free: np.ndarray, u: np.ndarray, use: str | None) -> None:
        self.p = p
        self.free = free.copy()
        # pos: a free node's row in the factor's order (the border's columns are built
        # and solved there, and the base solution kept there: no permuting of n×k
        # arrays, only of the one answer per step); other entries unused
        self.pos = np.cumsum(free, dtype=np.int64) - 1
        mat, rhs = reduced_system(p, free, u)
        try:
            self.solve_a, perm = factorize_ordered(mat, use=use)
        except np.linalg.LinAlgError:
            check_grounded(p, free)
            raise singular_error(p, np.zeros(0, dtype=np.int64)) from None
        self.perm = perm
        if perm is not None:
            self.inv = np.empty_like(perm)
            self.inv[perm] = np.arange(perm.shape[0], dtype=perm.dtype)
            self.pos[free] = self.inv[self.pos[free]]
            rhs = rhs[perm]
        self.xp = np.asarray(self.solve_a(rhs))  # in the factor's order
        self.x = self.xp if perm is None else self.xp[self.inv]  # in the free nodes' order
        self.u0 = u.copy()
        self.columns: dict[tuple[str, int], np.ndarray] = {}

    def solve(self, free: np.ndarray, u: np.ndarray, kmax: int) -> np.ndarray | None:
        """u with the free nodes of ``free`` solved for (others held at u), or None when
        the free set is more than ``kmax`` nodes away from the factored one.

        The border's k columns B (B = L_FE for E, unit columns for D) have a few
        entries each, so they are kept as (rows, values) and only their solves
        Z = A⁻¹B are dense: the k×k system needs Bᵀ Z and Bᵀ y₀ (gathers), and the
        answer x_F = y₀ − Z w is k axpys; no n×k array is built but the right-hand
        sides of the solves not cached (on the 300×300 clamped grid the dense
        formulation spent about as long moving n×k arrays as solving).
        """
        p = self.p
        drop = np.flatnonzero(self.free & ~free)  # D: factored, now held
        add = np.flatnonzero(~self.free & free)  # E: held when factored, now free
        ne = add.size
        k = drop.size + ne
        if k > kmax:
            return None
        outside = ~(self.free | free)
        same = np.array_equal(u[outside], self.u0[outside])
        # the border: column t of B as (rows among F, values); C = L_EE; pull = c + G u
        # over the held neighbours (outside F ∪ E) at the nodes of E
        rows: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        c_ee = np.zeros((ne, ne))
        pull_e = p.c[add].copy()
        where_e = {int(e): t for t, e in enumerate(add)}
        for t, e in enumerate(add):
            c_ee[t, t] = p.diag[e]
            nbr = p.indices[p.indptr[e] : p.indptr[e + 1]]
            g = p.data[p.indptr[e] : p.indptr[e + 1]]
            inf = self.free[nbr]
            rows.append(self.pos[nbr[inf]])
            vals.append(-g[inf])
            for j, gj in zip(nbr[~inf].tolist(), g[~inf].tolist(), strict=True):
                if j in where_e:
                    c_ee[t, where_e[j]] -= gj
                elif not free[j]:
                    pull_e[t] += gj * u[j]
        for d in drop:
            rows.append(self.pos[d : d + 1])
            vals.append(np.ones(1))
        keys = [("e", int(e)) for e in add] + [("d", int(d)) for d in drop]
        if len(self.columns) + k > max(kmax, 1) * 2:
            self.columns.clear()
        need = [t for t, key in enumerate(keys) if key not in self.columns]
        nf = self.xp.shape[0]
        if need:
            rhs_b = np.zeros((nf, len(need)), order="F")
            for j, t in enumerate(need):
                np.add.at(rhs_b[:, j], rows[t], vals[t])  # parallel resistors: summed
            fresh = np.asarray(self.solve_a(rhs_b)).reshape(nf, len(need))
            for j, t in enumerate(need):
                self.columns[keys[t]] = np.ascontiguousarray(fresh[:, j])
        z = [self.columns[key] for key in keys]
        s_mat = np.empty((k, k))  # −Bᵀ Z, plus C on the E block
        for a_ in range(k):
            for b_ in range(k):
                s_mat[a_, b_] = -(vals[a_] @ z[b_][rows[a_]])
        s_mat[:ne, :ne] += c_ee
        if same:
            # b_F = base rhs − G_FE u0_E = base rhs + B_E u0_E: y0 = x + Z_E u0_E
            y0 = None
            u0e = self.u0[add]
            bty = np.array([vals[t] @ self.xp[rows[t]] for t in range(k)])
            bty -= s_mat[:, :ne] @ u0e - np.concatenate([c_ee @ u0e, np.zeros(drop.size)])
        else:
            held = np.where(outside, u, 0.0)
            b_f = (p.c + kernels.csr_matvec(p.indptr, p.indices, p.data, held))[self.free]
            y0 = np.asarray(self.solve_a(b_f if self.perm is None else b_f[self.perm]))
            bty = np.array([vals[t] @ y0[rows[t]] for t in range(k)])
        rhs = np.empty(k)
        rhs[:ne] = pull_e - bty[:ne]
        rhs[ne:] = u[drop] - bty[ne:]
        try:
            w = np.linalg.solve(s_mat, rhs)
        except np.linalg.LinAlgError:
            return None
        if y0 is None:
            x_f = self.xp.copy()
            coef = -w
            coef[:ne] += u0e
        else:
            x_f = y0.copy()
            coef = -w
        for t in range(k):
            x_f += coef[t] * z[t]
        if not (np.all(np.isfinite(x_f)) and np.all(np.isfinite(w))):
            return None
        out = u.copy()
        out[self.free] = x_f if self.perm is None else x_f[self.inv]
        out[add] = w[:ne]
        out[drop] = u[drop]
        return out


def finish_bounds(
    p: Problem,
    u0: np.ndarray,
    *,
    max_iter: int = MAX_ITER,
    use: str | None = None,
    kmax: int | None = None,
) -> DirectResult:
    """Exact minimiser of ½ uᵀLu − cᵀu over lo ≤ u ≤ hi from the iterate u0 (module doc).

    Only for problems without free–free diodes and islands.  ``kmax``: the most nodes
    by which a step's free set may differ from the factored one and still reuse its
    factor (:class:`_Base`; default :func:`border_limit`); 0 refactorises at every
    step.  Raises
    CircuitError (naming the nodes) when the reduced system is singular.
    """
    if p.n_ff_diodes or p.n_islands:
        raise ValueError("finish_bounds handles bound constraints only")
    check_grounded(p)
    if kmax is None:
        kmax = border_limit(p)
    vtol = REL_TOL * p.v_scale
    ltol = REL_TOL * p.i_scale
    has_lo, has_hi = np.isfinite(p.lo), np.isfinite(p.hi)
    if p.n and not (has_lo.any() or has_hi.any()):
        # no bound at all (a linear circuit): the first step's solve of the whole
        # reduced system is the answer, without the multipliers' two gradients
        free = np.ones(p.n, dtype=bool)
        base = _Base(p, free, u0, use)
        if not np.all(np.isfinite(base.x)):
            check_grounded(p, free)
            raise singular_error(p, np.zeros(0, dtype=np.int64))
        u = np.empty(p.n)
        u[:] = base.x
        return DirectResult(u, True, 1, 1, "optimal")
    u = np.clip(u0, p.lo, p.hi)
    r = p.gradient(u) / p.diag  # the multiplier in volts (current leaving / conductance)
    seen: set[bytes] = set()
    best = u.copy()
    base: _Base | None = None
    factors = 0
    for it in range(max_iter):
        # primal–dual active sets: lower bound active when lo − u + r > 0, upper when
        # u − hi − r > 0 (multiplier and distance to the bound weighed alike, in volts)
        at_lo = has_lo & (p.lo - u + r > 0.0)
        at_hi = has_hi & ~at_lo & (u - p.hi - r > 0.0)
        key = np.packbits(at_lo).tobytes() + np.packbits(at_hi).tobytes()
        if key in seen:
            return DirectResult(best, False, it, factors, "active set repeated")
        seen.add(key)
        free = ~(at_lo | at_hi)
        u = np.where(at_lo, p.lo, np.where(at_hi, p.hi, u))
        if free.any():
            new = base.solve(free, u, kmax) if base is not None else None
            if new is None:
                base = _Base(p, free, u, use)
                factors += 1
                if not np.all(np.isfinite(base.x)):
                    check_grounded(p, free)
                    raise singular_error(p, np.zeros(0, dtype=np.int64))
                u[free] = base.x
            else:
                u = new
        g = p.gradient(u)
        r = g / p.diag
        feasible = np.all(u >= p.lo - vtol) & np.all(u <= p.hi + vtol)
        if feasible:
            best = u.copy()
            # multipliers: a lower bound supplies g ≥ 0, an upper bound −g ≥ 0
            if np.all(g[at_lo] >= -ltol) and np.all(g[at_hi] <= ltol):
                return DirectResult(np.clip(u, p.lo, p.hi), True, it + 1, factors, "optimal")
    return DirectResult(best, False, max_iter, factors, "iteration limit")


def finish_general(p: Problem, u0: np.ndarray, *, max_iter: int = MAX_ITER) -> DirectResult:
    """Exact finish with free–free diodes (difference constraints) as well as bounds:
    the primal–dual active-set method of :func:`finish_bounds` on the polish's
    constraint forest.

    Each step takes the constraints whose multiplier (scaled to volts) plus value is
    positive as the working set — strongest first, skipping any that would close a
    cycle, so the set stays a forest and its multipliers unique — solves the
    equality-constrained problem by contracting each tree to one unknown (one sparse
    factorisation, :func:`resbench.solvers.polish._solve_eqp`) and computes the
    multipliers.  Feasible with non-negative multipliers is the KKT point: the exact
    answer.  A repeated working set or the iteration limit returns the last feasible
    point with ``optimal`` False; the caller then runs the primal polish, which changes
    one constraint per factorisation (314 steps on a 100×100 grid with free–free
    diodes) but is finite.  No islands (their groups are singular: the polish's path).
    """
    from resbench._unionfind import UnionFind
    from resbench.solvers.polish import _constraints, _multipliers, _solve_eqp

    if p.n_islands:
        raise ValueError("finish_general does not handle islands")
    n = p.n
    an, ca, w = _constraints(p)
    vtol = REL_TOL * p.v_scale
    ltol = REL_TOL * p.i_scale
    to_volts = p.v_scale / p.i_scale
    ext = np.zeros(n + 1)
    ext[:n] = u0
    best = ext.copy()
    lam = np.zeros(an.shape[0])
    seen: set[bytes] = set()
    for it in range(max_iter):
        score = lam * to_volts + (ext[an] - ext[ca] - w)
        cand = np.flatnonzero(score > 0.0)
        cand = cand[np.argsort(-score[cand], kind="stable")]
        in_ws = np.zeros(an.shape[0], dtype=bool)
        forest = UnionFind(n + 1)
        for k in cand.tolist():
            if forest.union(int(an[k]), int(ca[k])):
                in_ws[k] = True
        key = np.packbits(in_ws).tobytes()
        if key in seen:
            return DirectResult(best[:n].copy(), False, it, it, "working set repeated")
        seen.add(key)
        target, clusters, _ = _solve_eqp(p, an, ca, w, in_ws, ext)
        ext = target
        lam = _multipliers(p, ext, an, ca, clusters)
        lam[~in_ws] = 0.0
        if np.all(ext[an] - ext[ca] - w <= vtol):
            best = ext.copy()
            if not in_ws.any() or lam[in_ws].min() >= -ltol:
                return DirectResult(ext[:n].copy(), True, it + 1, it + 1, "optimal")
    return DirectResult(best[:n].copy(), False, max_iter, max_iter, "iteration limit")
