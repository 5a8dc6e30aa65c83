"""The optimality certificate of many answers of one network at once.

:func:`certify_batch` gives, per sample, the verdict, residuals and tolerances of
:func:`resbench.certificate.certify` (docs/design.md §3: feasibility, KCL after the
unknown source / short / tight-diode currents are chosen per cluster,
complementarity; the same scales), computed from the circuit and the voltages only,
vectorised over the batch.  Uniqueness is not examined (the scalar certificate does
that for one answer).

Why it is cheap enough to leave on: the resistors' KCL imbalance of every node is one
matrix product ``W @ v`` per batch.  :class:`BatchCertifier` builds the conductance
matrix once per circuit, split into dense blocks (dense BLAS where the network is
dense, as between two DRN layers) and a sparse CSR for the rest.  Columns of the
batch's voltages that are equal up to sign in every sample, or zero in every sample,
are folded first (exact algebra: W's columns summed with their signs, cached per
pattern), as the solver folds its inputs: a DRN's ``cat(x, -x)`` inputs, and pixels
that repeat, cost one column each (the sparse rest too where that drops a quarter of
its entries).  Blocks sharing their rows are multiplied as one folded block, and each
product is written in place (no zero fill, no partial sums).

The scales need each node's total |current| sum_j g |v_k - v_j| (not linear in
``v``).  From the same product p = sum_j g v_j the total is exactly ``±(diag v_k -
p)`` at a node whose neighbours all lie on one side of it (a DRN's input nodes), else
it lies between ``max(|diag v_k - p|, W |v| - diag |v_k|)`` and bounds from the
neighbours' extreme voltages and ``diag |v_k| + W |v|`` (``W |v|`` folded too).
Only the nodes whose upper bound can be the maximum are summed exactly, on the
folded rows (branch and bound, in ``_certificate_kernels``).
The rows of nodes held by grounded sources (a DRN's inputs, whose columns do not
fold) only bound the scales when their currents are not asked for.  Where those rows
are dense over the columns they span (a DRN: the first hidden layer), they are kept
as one float32 matrix and multiplied per (row, sample), only where the row's range
bound can reach that sample's floors (``_lazy_bounds``: two rows by four samples per
register tile; the range: the extremes of
the columns they span per sample; the floors from one-sided lower bounds that need
no product; rows whose largest |v| over the batch cannot reach any floor skipped
whole): a DRN's digits need ~165 of 1568 rows per sample (its saturated pixels),
where a product of whole rows took ~850 rows for every sample.  Elsewhere they are
multiplied in float32 as whole rows, only the rows whose range bound can reach a
sample's scale.  Either way the round-off bound
``(width + 4) 1.2e-7 diag max|v|`` is added.  ``W |v|`` is multiplied in float32 too
where safe, raised by the same relative bound.
Clusters of one node or one branch (grounded sources, diodes to ground, a floating
source between two otherwise free nodes) are balanced in closed form per sample; a
sample holding any other cluster has its unknown currents chosen by the scalar code
(:func:`resbench.certificate._unknown_currents`), correct and slower.

Cost per batch: one float64 product over the folded columns for the KCL rows (and
a float32 one for ``W |v|`` where a row needs it), float32 products of the rows of
nodes held by grounded sources where they can hold a scale (per sample or per row;
one float64 product of them when their currents are asked for), and a few O(B n)
numba passes (the non-finite check shares the fold's pass over the voltages).  Memory: O(B n)
(:meth:`BatchCertifier.estimate_bytes`) plus the matrices
(:attr:`BatchCertifier.setup_bytes`) and the folded copies of the batches' column
patterns (a few kept); no per-sample copy of the circuit.

Per-sample source values: ``inputs`` names sources whose value changes per sample
(as :class:`resbench.batch.Network`'s inputs); sample ``b`` is then certified against
the circuit with those sources set to ``values[b]``
(:func:`resbench.batch.network.with_values`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from resbench.batch._certificate_kernels import (
    K_EXACT,
    balance_clusters,
    column_keys,
    columns_equal,
    columns_to_rows,
    csr_add_product,
    fast_balance,
    fast_scan,
    feasibility,
    few_balance,
    fold_csr,
    fold_dense,
    folded_csr_add_product,
    gather_columns,
    grounded_check,
    kcl_transposed,
    nonzero_columns_product,
    range_extremes,
    row_abs_max,
    scale_floors,
    scale_maxima,
    source_feasibility,
    span_copy,
    tile_extremes,
)
from resbench.batch.result import BatchCertificate
from resbench.certificate import I_SCALE_FLOOR, V_SCALE_FLOOR, _unknown_currents
from resbench.circuit import Circuit, renumbered
from resbench.errors import InputError
from resbench.threads import numba_thread_count, one_thread, product

__all__ = ["BatchCertifier", "CertificateInputError", "certify_batch"]

TILE = 32  # side of the tiles the conductance matrix is cut into (dense or sparse)
DENSE_FILL = 0.2  # a tile at least this full is multiplied with dense BLAS
DENSE_MIN_NODES = 256  # below this, the sparse product is cheap enough
DENSE_MAX_BYTES = 1 << 30  # dense blocks (float64 + float32) never take more than this
F32_SAFE = 1e30  # float32 bounds only for conductances in [1/this, this]
F32_SUM_MAX = 1e36  # ... and sums sum g |v| below this (float32 overflows at 3.4e38)
F32_V_MAX = 1e36  # ... and voltages below this when they are converted to float32
LAZY_MAX_BYTES = 1 << 28  # the held rows' float32 copy for per-sample products
F32_PER_TERM = 1.2e-7  # float32 round-off per term of a product (2 units: a safe margin)
F64_PER_TERM = 2.3e-16  # the same in float64
FOLD_CACHE = 4  # column patterns whose folded matrices are kept
FOLD_KEEP = 0.9  # a block whose columns fold to more groups than this share is not folded
MERGE_WIDTH = 64  # unfolded blocks at most this wide are multiplied with their row group's
FOLD_MIN_BATCH = 16  # fewer samples are not folded: their pattern is new on almost every
# call (one input's equal values), and building its folded matrices reads W once or twice,
# more than the products it saves (DRN-1H, one sample: 36 ms folded vs ~2 ms unfolded)
RANGE_BUDGET = 8  # range extremes cost at most this many passes over the node tiles
SCAN_PARALLEL = 1 << 17  # voltages (B x n) from which fast_scan runs on numba's threads
SMALL_PRODUCT = 1 << 23  # multiply-adds below which a product runs on one BLAS thread
FEW_SAMPLES = 4  # batches of at most this many: the held product by nonzero values only
# (above: split over numba's threads, as the solver's GEMM_PARALLEL)


class CertificateInputError(InputError, ValueError):
    """Voltages or values of the wrong shape for the circuit (a ValueError too)."""


@dataclass
class _Block:
    """A dense block of the conductance matrix: rows r0:r1, columns c0:c1."""

    r0: int
    r1: int
    c0: int
    c1: int
    w: np.ndarray  # float64 [r1-r0, c1-c0]
    w32: np.ndarray | None  # float32 copy for the bounds, None when not safe


class _Coupling:
    """``W @ u`` for a conductance matrix W and node-major voltages ``u[n, B]``, with
    dense BLAS on the dense blocks of W and a sparse CSR product for the rest."""

    def __init__(self, w: sp.csr_matrix) -> None:
        n = w.shape[0]
        self.blocks: list[_Block] = []
        coo = w.tocoo()
        r, c, g = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
        keep = np.ones(r.shape[0], dtype=bool)
        if n >= DENSE_MIN_NODES and r.size:
            nt = -(-n // TILE)
            tiles = r // TILE * nt + c // TILE
            ids, fill = np.unique(tiles, return_counts=True)  # the tiles holding entries
            side = np.minimum(TILE, n - np.arange(nt) * TILE)
            area = side[ids // nt] * side[ids % nt]
            dense_ids = ids[fill >= DENSE_FILL * area]
            if 12.0 * float(area[fill >= DENSE_FILL * area].sum()) > DENSE_MAX_BYTES:
                dense_ids = dense_ids[:0]  # float64 + float32 copies would not fit
            keep = ~np.isin(tiles, dense_ids)
            for rt0, rt1, ct0, ct1 in _merge_tiles(dense_ids // nt, dense_ids % nt):
                r0, r1 = rt0 * TILE, min(n, rt1 * TILE)
                c0, c1 = ct0 * TILE, min(n, ct1 * TILE)
                sel = (r >= r0) & (r < r1) & (c >= c0) & (c < c1)
                wb = np.zeros((r1 - r0, c1 - c0))
                wb[r[sel] - r0, c[sel] - c0] = g[sel]
                safe = bool(np.all((wb == 0) | ((wb > 1 / F32_SAFE) & (wb < F32_SAFE))))
                self.blocks.append(
                    _Block(r0, r1, c0, c1, wb, wb.astype(np.float32) if safe else None)
                )
        # blocks sharing their rows (a DRN's hidden layer: the inputs' block and the
        # outputs'), multiplied as one when folded (one product, no partial sums)
        self.groups: list[list[int]] = []
        for i, blk in enumerate(self.blocks):
            last = self.blocks[self.groups[-1][0]] if self.groups else None
            if last is not None and (last.r0, last.r1) == (blk.r0, blk.r1):
                self.groups[-1].append(i)
            else:
                self.groups.append([i])
        self.rest = sp.csr_matrix((g[keep], (r[keep], c[keep])), shape=(n, n))
        self.rest.sum_duplicates()
        self.rest.indptr = self.rest.indptr.astype(np.int32)  # the kernel's declared types
        self.rest.indices = self.rest.indices.astype(np.int32)

    def apply(self, u: np.ndarray, *, u32: np.ndarray | None = None) -> np.ndarray:
        """``W @ u`` ([n, B], ``u`` C-contiguous [n, B]).  ``u32``: ``u`` in float32, to
        multiply the dense blocks in float32 where safe (for bounds only)."""
        out = np.zeros(u.shape)
        self.apply_folded(None, u, out, u32=u32)
        return out

    def apply_folded(
        self,
        fold: _Fold | None,
        u: np.ndarray,
        out: np.ndarray,
        *,
        u32: np.ndarray | None = None,
        absolute: bool = False,
        rows: np.ndarray | None = None,
        single: bool = False,
        fresh: bool = False,
        need: np.ndarray | None = None,
    ) -> None:
        """``out += W @ u`` with each dense block's columns folded as ``fold`` says
        (None: unfolded); ``absolute``: ``W |u|`` (the folded blocks sum |W|'s columns;
        |u| taken of the columns read only).  ``u32``: float32 ``u`` for the dense
        blocks where safe; ``single``: the same, ``u`` converted here.  ``rows`` (bool
        [n]): the dense blocks' rows to compute (None: all); the others are left
        partial.  ``fresh``: ``out`` holds no values yet (``out = W @ u``, no pass to
        zero it first): the first dense block of each row range writes its product
        in place, and of the rows no block wrote only those in ``need`` (bool [n];
        None: all) are zeroed, the others are left undefined."""
        written = np.zeros(out.shape[0], dtype=bool) if fresh else None
        for blk, fb in self._parts(fold, rows):
            if fb is not None and fb.reps.size == 0:
                continue
            sel = None
            if rows is not None:
                sel = np.flatnonzero(rows[blk.r0 : blk.r1])
                if sel.size == 0:
                    continue
                if sel.size == blk.r1 - blk.r0:
                    sel = None
            height = blk.r1 - blk.r0 if sel is None else sel.size
            width = blk.c1 - blk.c0 if fb is None else fb.reps.size
            f32 = (u32 is not None or single) and blk.w32 is not None
            if fb is None:
                w = blk.w32 if f32 else blk.w
                x = u[blk.c0 : blk.c1]
                if f32 and u32 is not None and not absolute:
                    x = u32[blk.c0 : blk.c1]
                elif f32 or absolute:  # one pass: |x| (and float32) into a new array
                    dst = np.empty(x.shape, dtype=np.float32 if f32 else np.float64)
                    if absolute:
                        np.abs(x, out=dst)
                    else:
                        dst[...] = x
                    x = dst
            else:
                if absolute:
                    w = fb.summed32() if f32 else fb.summed
                else:
                    w = fb.signed32() if f32 else fb.signed
                x = u[fb.reps]  # a copy: |.| in place
                if f32:
                    dst = np.empty(x.shape, dtype=np.float32)
                    if absolute:
                        np.abs(x, out=dst)
                    else:
                        dst[...] = x
                    x = dst
                elif absolute:
                    np.abs(x, out=x)
            if sel is not None:
                w = w[sel]  # a copy of the rows asked for, smaller than the product saved
            target = out[blk.r0 : blk.r1] if sel is None else None
            first = written is not None and sel is None and not written[blk.r0 : blk.r1].any()
            macs = height * width * u.shape[1]
            if first and not f32:  # written in place: no temporary, no add
                product(w, x, macs, SMALL_PRODUCT, out=target)
            else:
                part = product(w, x, macs, SMALL_PRODUCT)
            if first:
                if f32:
                    target[...] = part
                written[blk.r0 : blk.r1] = True
                continue
            if written is not None:  # rows of this block no block wrote yet: zero
                fill = ~written[blk.r0 : blk.r1]
                if sel is not None:
                    fill[:] = False
                    fill[sel] = ~written[blk.r0 + sel]
                if fill.any():
                    out[blk.r0 + np.flatnonzero(fill)] = 0.0
                    written[blk.r0 + np.flatnonzero(fill)] = True
            if sel is None:
                target += part
            else:
                out[blk.r0 + sel] += part
        if written is not None:
            zero = ~written if need is None else need & ~written
            _zero_rows(out, zero)
        if self.rest.nnz:
            fr = fold.rest(self) if fold is not None else None
            if fr is not None:  # the sparse rest's columns folded too
                folded_csr_add_product(*fr, u, out, absolute)
            else:
                r = self.rest
                csr_add_product(r.indptr, r.indices, r.data, u, out, absolute)

    def _parts(self, fold: _Fold | None, rows: np.ndarray | None) -> list:
        """(block, folded block or None) to multiply: each row group's blocks merged
        into one where ``fold`` allows it and every row is asked for, else block by
        block."""
        parts = []
        for gi, members in enumerate(self.groups):
            mb = fold.merged(self, gi) if fold is not None and rows is None else None
            if mb is not None:
                b = self.blocks[members[0]]
                parts.append((_Block(b.r0, b.r1, 0, 0, b.w, b.w32), mb))
                continue
            for i in members:
                fb = fold.block(self, i) if fold is not None else None
                parts.append((self.blocks[i], fb))
        return parts

    @property
    def dense_bytes(self) -> int:
        return sum(b.w.nbytes + (b.w32.nbytes if b.w32 is not None else 0) for b in self.blocks)


@dataclass
class _FoldedBlock:
    """A dense block with its columns folded: ``signed`` (sum of sign x g per group) for
    ``W v``, ``summed`` (sum of g) for ``W |v|``, one column per group; ``reps``: the
    node whose voltage stands for each group."""

    reps: np.ndarray
    signed: np.ndarray
    summed: np.ndarray
    _signed32: np.ndarray | None = None
    _summed32: np.ndarray | None = None

    def signed32(self) -> np.ndarray:
        if self._signed32 is None:
            self._signed32 = self.signed.astype(np.float32)
        return self._signed32

    def summed32(self) -> np.ndarray:
        if self._summed32 is None:
            self._summed32 = self.summed.astype(np.float32)
        return self._summed32


@dataclass
class _Fold:
    """The batch's columns grouped: ``rep[j]`` is the node whose voltage column j equals
    up to the sign ``sig[j]`` in every sample (j itself when none), -1 for a column of
    zeros.  Folded blocks and the folded CSR rows are built on first use and kept with
    the pattern."""

    rep: np.ndarray  # int64 [n]
    sig: np.ndarray  # float64 [n]
    identity: bool
    blocks: dict = field(default_factory=dict)
    csr: tuple | None = None

    def block(self, cpl: _Coupling, i: int) -> _FoldedBlock | None:
        """Block ``i`` of ``cpl`` folded, or None when folding would not save a tenth of
        its columns (none fold, or a few: read in place)."""
        if self.identity:
            return None
        k = (id(cpl), i)
        if k not in self.blocks:
            blk = cpl.blocks[i]
            rep, sig = self.rep[blk.c0 : blk.c1], self.sig[blk.c0 : blk.c1]
            live = rep >= 0
            groups = np.unique(rep[live]).size
            if groups > FOLD_KEEP * (blk.c1 - blk.c0):
                # folding saves little: the block's columns are read in place (a
                # DRN's hidden layer, a few nodes always 0), not gathered per product
                self.blocks[k] = None
            else:
                reps, slot = np.unique(rep[live], return_inverse=True)
                slots = np.full(rep.shape[0], -1, dtype=np.int64)
                slots[live] = slot
                ws, wa = fold_dense(blk.w, slots, np.ascontiguousarray(sig), int(reps.size))
                self.blocks[k] = _FoldedBlock(reps.astype(np.int64), ws, wa)
        return self.blocks[k]

    def rest(self, cpl: _Coupling) -> tuple | None:
        """The sparse rest of ``cpl`` with its columns folded (:func:`fold_csr`), or
        None when that saves under a quarter of its entries (DRN-XS: the hidden rows
        that share a tile with the outputs, 3901 entries, fold to ~270)."""
        if self.identity:
            return None
        k = (id(cpl), "rest")
        if k not in self.blocks:
            r = cpl.rest
            fptr, fcol, fsg, fg = fold_csr(
                r.indptr.astype(np.int64), r.indices, r.data, self.rep, self.sig
            )
            live = int(np.count_nonzero(fcol >= 0))
            self.blocks[k] = (fptr, fcol, fsg, fg) if live < 0.75 * r.nnz else None
        return self.blocks[k]

    def merged(self, cpl: _Coupling, gi: int) -> _FoldedBlock | None:
        """The blocks of row group ``gi`` of ``cpl`` as one folded block (their folded
        or narrow unfolded columns side by side, ``reps`` the columns to read), or None
        where the group is one block, a block has no float32 copy, or a wide block does
        not fold (gathering its columns would cost more than the partial sums saved)."""
        members = cpl.groups[gi]
        if self.identity or len(members) < 2:
            return None
        k = (id(cpl), "group", gi)
        if k not in self.blocks:
            cols, signed, summed = [], [], []
            ok = True
            for i in members:
                blk = cpl.blocks[i]
                fb = self.block(cpl, i)
                if blk.w32 is None or (fb is None and blk.c1 - blk.c0 > MERGE_WIDTH):
                    ok = False
                    break
                if fb is None:
                    cols.append(np.arange(blk.c0, blk.c1, dtype=np.int64))
                    signed.append(blk.w)
                    summed.append(blk.w)
                else:
                    cols.append(fb.reps)
                    signed.append(fb.signed)
                    summed.append(fb.summed)
            self.blocks[k] = (
                _FoldedBlock(np.concatenate(cols), np.hstack(signed), np.hstack(summed))
                if ok
                else None
            )
        return self.blocks[k]


@dataclass
class _Fast:
    """What :meth:`BatchCertifier._certify_fast` needs (see :meth:`_setup_fast`): the
    held nodes ``a0 .. a0 + nv - 1``; the runs ``slabs`` of consecutive KCL rows
    ``(r0, r1, first row of w_kp)``; ``w_kp`` the KCL rows' conductances to the held
    nodes (CSR; dense and its pair differences made on first use); ``extra`` the other
    nodes whose columns are dense over the KCL rows and ``w_extra`` those columns
    (multiplied with the held ones); ``w_np`` the KCL rows' remaining conductances;
    ``ratios``: (min, max) of the held rows' ``diag`` and of ``diag / g``; ``rows`` the
    KCL rows."""

    a0: int
    nv: int
    slabs: list
    w_kp: sp.csr_matrix
    w_np: _Coupling
    ratios: np.ndarray
    rows: np.ndarray
    extra: np.ndarray
    w_extra: np.ndarray
    src_col: np.ndarray  # each voltage source's held node, as a column of w_kp
    src_sign: np.ndarray  # -1 where that node is the source's + terminal, else +1
    w_np_csr: sp.csr_matrix  # w_np as one CSR (int32 indices), for a few samples
    maps: dict = field(default_factory=dict)
    folds: OrderedDict = field(default_factory=OrderedDict)

    def held_dense(self) -> np.ndarray:
        """w_kp dense (``[KCL rows, held nodes]``, C-contiguous), for the voltage
        sources' currents; made on first use."""
        w = self.maps.get("w")
        if w is None:
            w = self.maps["w"] = np.ascontiguousarray(self.w_kp.toarray())
        return w

    def folded_map(
        self, rep: np.ndarray, sig: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(M, columns, take) for verified column groups (``v[a0 + j] = sig[j] v[a0 +
        rep[j]]``, ``sig[j] = 0``: zeros): the representatives' columns and M[:, g] = sum
        of sig[j] w_kp[:, j] over the group's columns (exact algebra), then
        ``w_extra``'s columns (the nodes ``extra``); ``take`` the voltages' columns of
        M's columns (what :func:`fast_scan` gathers).  Cached per grouping (a hit costs
        no check and no allocation); None for a claim that is not one (``rep`` and
        ``sig``, int64 and float64 as the caller makes them, of one entry per held
        node, each ``rep`` a held node)."""
        key = rep.tobytes() + sig.tobytes()
        hit = self.folds.get(key)
        if hit is not None:
            self.folds.move_to_end(key)
            return hit
        if (
            rep.shape != (self.nv,)
            or sig.shape != (self.nv,)
            or rep.min() < 0
            or rep.max() >= self.nv
        ):
            return None
        live = sig != 0.0
        cols = np.unique(rep[live])
        slot = np.full(self.nv, -1, dtype=np.int64)
        slot[cols] = np.arange(cols.size)
        w = self.w_kp.tocoo()
        keep = live[w.col]
        m = np.zeros((self.w_kp.shape[0], cols.size + self.extra.size))
        np.add.at(m, (w.row[keep], slot[rep[w.col[keep]]]), sig[w.col[keep]] * w.data[keep])
        m[:, cols.size :] = self.w_extra
        take = np.concatenate([self.a0 + cols, self.extra]).astype(np.int64)
        if len(self.folds) >= FOLD_CACHE:
            self.folds.popitem(last=False)
        self.folds[key] = (m, cols, take)
        return m, cols, take

    def held_map(self, layout: int) -> tuple[np.ndarray, slice]:
        """(M, columns): ``M @ v[:, a0 + columns].T`` is the KCL rows' current from the
        held nodes.  layout 0: every held column, M = w_kp; 1 (pairs interleaved,
        ``v[2i + 1] = -v[2i]``): the even columns, M = w_kp[:, even] - w_kp[:, odd]; 2
        (halves): the first half, M = w_kp[:, :h] - w_kp[:, h:].  Exact algebra on the
        pairs the caller verified bit for bit; then ``w_extra``'s columns (the nodes
        ``extra``); made once per layout."""
        h = self.nv // 2
        cols = (slice(0, self.nv), slice(0, self.nv, 2), slice(0, h))[layout]
        m = self.maps.get(layout)
        if m is None:
            dense = self.w_kp.toarray()
            if layout == 1:
                m = dense[:, 0::2] - dense[:, 1::2]
            elif layout == 2:
                m = dense[:, :h] - dense[:, h:]
            else:
                m = dense
            m = np.ascontiguousarray(np.hstack([m, self.w_extra]))
            self.maps[layout] = m
        return m, cols

    def slab_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``slabs`` as three int64 arrays (first row, end row, first column of the held
        map's transpose), for :func:`few_balance`; made on first use."""
        arrs = self.maps.get("slabs")
        if arrs is None:
            cols = np.array(self.slabs, dtype=np.int64).reshape(-1, 3)
            arrs = self.maps["slabs"] = tuple(np.ascontiguousarray(c) for c in cols.T)
        return arrs

    def held_map_t(self, layout: int) -> np.ndarray:
        """:meth:`held_map`'s M transposed (``[columns, rows]``, C-contiguous: a
        column of M is a contiguous row), for the small batches' product over the
        nonzero values only (:func:`nonzero_columns_product`); made on first use."""
        key = ("t", layout)
        mt = self.maps.get(key)
        if mt is None:
            mt = self.maps[key] = np.ascontiguousarray(self.held_map(layout)[0].T)
        return mt


_NO_GROUPS = (np.zeros(0, dtype=np.int64), np.zeros(0))
_NO_TAKE = np.zeros(0, dtype=np.int64)


def _zero_rows(out: np.ndarray, rows: np.ndarray) -> None:
    """Zero the rows of ``out`` where ``rows`` (bool) holds, run by run (contiguous
    writes, no index array as large as the rows)."""
    if not rows.any():
        return
    edges = np.flatnonzero(np.diff(np.r_[False, rows, False]))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        out[a:b] = 0.0


def _per_node(idx: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    """Sum of ``w`` per node, float64 even when empty."""
    return np.bincount(idx, w, minlength=n).astype(np.float64, copy=False)


def _rows(w: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    """``w`` with the rows not in ``keep`` emptied."""
    out = sp.diags(keep.astype(np.float64)) @ w
    out = sp.csr_matrix(out)
    out.eliminate_zeros()
    return out


def _merge_tiles(rt: np.ndarray, ct: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Rectangles (row tiles rt0:rt1, column tiles ct0:ct1) covering exactly the dense
    tiles (rt, ct), sorted by row then column: runs of consecutive dense tiles along
    each row of tiles, stacked while the same run repeats on the next row."""
    out: list[list[int]] = []
    open_: dict[tuple[int, int], int] = {}  # (ct0, ct1) -> index of the block ending here
    cuts = np.flatnonzero((np.diff(rt) != 0) | (np.diff(ct) != 1)) + 1
    runs = (
        [
            (int(rt[i]), int(ct[i]), int(ct[j - 1]) + 1)
            for i, j in zip(np.r_[0, cuts], np.r_[cuts, rt.size], strict=True)
        ]
        if rt.size
        else []
    )
    row_of_open = -1
    nxt: dict[tuple[int, int], int] = {}
    for row, ct0, ct1 in runs:
        if row != row_of_open:
            open_ = nxt if row == row_of_open + 1 else {}
            nxt = {}
            row_of_open = row
        k = open_.get((ct0, ct1))
        if k is not None:
            out[k][1] = row + 1
        else:
            out.append([row, row + 1, ct0, ct1])
            k = len(out) - 1
        nxt[(ct0, ct1)] = k
    return [(a, b, c, d) for a, b, c, d in out]


class BatchCertifier:
    """The batched certificate of one circuit, set up once (matrices built here) and
    reused for every batch: ``BatchCertifier(circuit).certify(voltages)``.

    ``inputs``: names of V or I sources whose value is given per sample to
    :meth:`certify` (``values[B, len(inputs)]``); None or empty: the circuit's values
    (or every source's value per sample, ``vsource_values`` / ``isource_values``).
    ``gmin``: the conductance from every non-ground node to ground that the solvers'
    ``gmin`` option adds.
    """

    def __init__(
        self, circuit: Circuit, *, inputs: Sequence[str] | None = None, gmin: float = 0.0
    ) -> None:
        # sources holding nodes to ground that are not numbered one after the other (a
        # DRN read from a netlist: nodes in order of first mention): the certificate is
        # set up on the circuit renumbered so that they are (held_first), where its
        # direct path applies; certify() permutes the voltages' columns to match
        self._perm = held_first(circuit)
        #: the circuit as given (voltages' columns are its nodes); the certificate works
        #: on ``_circuit``, the same circuit renumbered where ``_perm`` says
        self.circuit = circuit
        if self._perm is not None:
            circuit = renumbered(circuit, self._perm)
        self._circuit = circuit
        self.gmin = float(gmin)
        n = circuit.n_nodes
        self.n = n
        self.input_names = list(inputs or [])
        self._setup_sources()
        w, g_held = self._conductances()
        self._setup_unknowns()
        # KCL rows: the pinned nodes' rows only give their sources' currents
        pinned = self._pinned()
        checked = ~pinned
        checked[0] = False  # ground absorbs any current
        self._w_kcl = _Coupling(_rows(w, checked))
        self._w_pin = _Coupling(_rows(w, pinned)) if pinned.any() else None
        self._checked = checked
        self._pinned_rows = pinned
        self._all_rows = np.ones(n, dtype=bool)
        self._no_rows = np.zeros(0, dtype=bool)
        g_held[1:] += self.gmin
        self._inv_g = np.zeros(n)
        held = g_held > 0
        held[0] = False
        self._inv_g[held] = 1.0 / g_held[held]
        self._g_big = float(np.max(g_held[1:])) if n > 1 else 0.0
        # the floor of every sample's current scale (the direct path's and the bounds')
        self._i_floor = float(max(V_SCALE_FLOOR * self._g_big, I_SCALE_FLOOR))
        self._setup_bounds()
        self._setup_lazy(_rows(w, pinned))
        self._fast = self._setup_fast(w)
        self._any_dense = bool(self._w_kcl.blocks or (self._w_pin and self._w_pin.blocks))
        self._identity = _Fold(np.arange(n, dtype=np.int64), np.ones(n), True)
        self._folds: OrderedDict[bytes, _Fold] = OrderedDict()
        self._work: dict[str, np.ndarray] = {}

    def _buffer(
        self, name: str, shape: tuple[int, ...], dtype: type = np.float64, *, zeros: bool = False
    ) -> np.ndarray:
        """A work array kept between calls (uninitialised; ``zeros``: zero when made):
        fresh arrays of a batch's size are page-faulted in on every call, which cost
        more than the passes that fill them (several ms per certificate on DRN-1H)."""
        buf = self._work.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.zeros(shape, dtype=dtype) if zeros else np.empty(shape, dtype=dtype)
            self._work[name] = buf
        return buf

    def _setup_bounds(self) -> None:
        """Per row: the round-off of its product (float64 and float32, relative to
        diag max|v|: (terms + 4) per-term units, terms = the widths of its dense blocks
        plus its sparse entries) and the absolute slack of products that underflow in
        float32; the range of node tiles holding its neighbours (ranges shared, the
        longest widened to every node while their passes would exceed RANGE_BUDGET)."""
        n = self.n
        terms = np.zeros(n)
        for cpl in (self._w_kcl, self._w_pin):
            if cpl is None:
                continue
            terms += np.diff(cpl.rest.indptr)
            for blk in cpl.blocks:
                terms[blk.r0 : blk.r1] += blk.c1 - blk.c0
        self._rel64 = (terms + 4.0) * F64_PER_TERM
        self._rel32 = (terms + 4.0) * F32_PER_TERM
        self._up32 = 1.0 + self._rel32
        self._one = np.ones(n)
        nnz_row = np.diff(self._indptr)
        g_row_max = np.zeros(n)
        if self._data.size:
            starts = self._indptr[:-1][nnz_row > 0]
            g_row_max[nnz_row > 0] = np.maximum.reduceat(self._data, starts)
        self._slack32 = terms * (1.0 + g_row_max) * 1e-37
        self._slack64 = np.zeros(n)
        nt = max(1, -(-n // TILE))
        bounded = nnz_row > K_EXACT
        t0 = np.zeros(n, dtype=np.int64)
        t1 = np.full(n, nt - 1, dtype=np.int64)
        if bounded.any():
            t0[bounded] = self._indices[self._indptr[:-1][bounded]] // TILE
            t1[bounded] = self._indices[self._indptr[1:][bounded] - 1] // TILE
        pairs, rid = np.unique(t0 * nt + t1, return_inverse=True)
        r0, r1 = pairs // nt, pairs % nt
        uses = np.bincount(rid[bounded], minlength=pairs.size) > 0
        length = np.where(uses, r1 - r0 + 1, 0)
        widen = np.zeros(pairs.size, dtype=bool)
        for r in np.argsort(-length, kind="stable"):
            if length[~widen].sum() <= RANGE_BUDGET * nt:
                break
            widen[r] = True
        r0[widen], r1[widen] = 0, nt - 1
        self._range_t0 = r0.astype(np.int64)
        self._range_t1 = r1.astype(np.int64)
        self._rid = rid.astype(np.int64).reshape(-1)

    def _setup_lazy(self, w_pin: sp.csr_matrix) -> None:
        """The held rows as one dense float32 matrix ``_pin32[row, span]`` over the
        columns ``_span = (c0, c1)`` their entries span, for the per-(row, sample)
        products of :func:`_lazy_bounds` (``_lslot[k]``: node k's row; ``_lrel``,
        ``_lslack``: its round-off bound, as the float32 bounds'); None where the rows
        are not dense enough over that span, too large, or not float32-safe (the held
        rows are then multiplied whole, as the other rows)."""
        n = self.n
        self._pin32: np.ndarray | None = None
        self._lslot = np.full(n, -1, dtype=np.int64)
        self._span = (0, 0)
        rows = np.flatnonzero(np.diff(w_pin.indptr) > 0)
        if rows.size == 0:
            return
        c0, c1 = int(w_pin.indices.min()), int(w_pin.indices.max()) + 1
        width = c1 - c0
        g = w_pin.data
        if (
            w_pin.nnz < DENSE_FILL * rows.size * width
            or 4 * rows.size * width > LAZY_MAX_BYTES
            or not np.all((g > 1 / F32_SAFE) & (g < F32_SAFE))
        ):
            return
        sub = w_pin[rows][:, c0:c1].toarray()
        self._pin32 = np.ascontiguousarray(sub, dtype=np.float32)
        self._lslot[rows] = np.arange(rows.size)
        self._span = (c0, c1)
        self._lrel = np.full(n, (width + 4.0) * F32_PER_TERM)
        g_row_max = np.zeros(n)
        g_row_max[rows] = sub.max(axis=1)
        self._lslack = width * (1.0 + g_row_max) * 1e-37

    def _setup_fast(self, w: sp.csr_matrix) -> _Fast | None:
        """The direct path of :meth:`_certify_fast`, where it applies: every voltage source
        holds one of the consecutive nodes ``a0 ..`` to ground (a DRN's inputs), no
        short, inductor, current source or gmin; every unknown branch touches ground;
        no diode touches a held node and no resistor joins two (so the held rows'
        neighbours are the other nodes).  None elsewhere."""
        c = self._circuit
        nv = len(c.vsources)
        a0 = self._a0
        if not (
            self._grounded
            and a0 >= 1
            and self._fa.shape[0] == nv
            and len(c.isources) == 0
            and self.gmin == 0.0
        ):
            return None
        held = np.zeros(self.n, dtype=bool)
        held[a0 : a0 + nv] = True
        if not np.array_equal(held, self._pinned_rows):
            return None
        if held[self._da].any() or held[self._db].any() or w[held][:, held].nnz:
            return None
        # fast_balance decides each diode's current in its free node's pass: every diode
        # but a self loop must be listed at exactly one KCL row
        at = np.repeat(np.arange(self.n), np.diff(self._bptr))  # each entry's node
        idx = self._bidx[self._checked[at]] - self._fa.shape[0]
        nd = self._da.shape[0]
        if (idx < 0).any() or not np.array_equal(
            np.bincount(idx, minlength=nd), (self._da != self._db).astype(np.int64)
        ):
            return None
        kcl = np.flatnonzero(self._checked)
        slabs = []  # runs of consecutive KCL rows: (r0, r1, first row in kcl)
        if kcl.size:
            cut = np.flatnonzero(np.diff(kcl) != 1) + 1
            for lo, hi in zip(np.r_[0, cut], np.r_[cut, kcl.size], strict=True):
                slabs.append((int(kcl[lo]), int(kcl[hi - 1]) + 1, int(lo)))
        w_kp = w[kcl][:, a0 : a0 + nv].tocsr()
        if 8 * w_kp.shape[0] * nv * 2 > DENSE_MAX_BYTES:
            return None
        # the other nodes whose columns are dense over the KCL rows (a DRN's outputs
        # against its last hidden layer) join the held nodes' product as extra columns
        # (one BLAS call instead of a block product and a pass to add it)
        w_k = w[kcl].tocsr()
        per_col = np.bincount(w_k.indices, minlength=self.n)
        joined = ~held & (per_col >= max(1.0, DENSE_FILL * kcl.size))
        joined[0] = False
        if kcl.size < TILE:
            joined[:] = False
        extra = np.flatnonzero(joined)
        # the KCL rows' other columns (the held ones, and those, are multiplied above)
        w_np = _rows(w, self._checked).tocsr().copy()
        w_np.data[(held | joined)[w_np.indices]] = 0.0
        w_np.eliminate_zeros()
        d = self._diag[a0 : a0 + nv]
        r = d * self._inv_g[a0 : a0 + nv]
        node = np.where(self._fa[:nv] != 0, self._fa[:nv], self._fb[:nv])
        return _Fast(
            src_col=(node - a0).astype(np.int64),
            src_sign=np.where(self._fa[:nv] == node, -1.0, 1.0),
            extra=extra,
            w_extra=np.ascontiguousarray(w_k[:, extra].toarray()),
            a0=a0,
            nv=nv,
            slabs=slabs,
            w_kp=w_kp,
            w_np=_Coupling(w_np),
            w_np_csr=sp.csr_matrix(
                (w_np.data, w_np.indices.astype(np.int32), w_np.indptr.astype(np.int32)),
                shape=w_np.shape,
            ),
            ratios=np.array([d.min(), d.max(), r.min(), r.max()]),
            rows=np.flatnonzero(self._checked).astype(np.int64),
        )

    def _conductances(self) -> tuple[sp.csr_matrix, np.ndarray]:
        """The conductance matrix W (symmetric, self loops and shorts left out; kept as
        CSR arrays for the exact sums, with its row sums) and every node's total
        conductance as the scalar certificate counts
        it (self loops twice)."""
        n = self.n
        res_r = self._circuit.resistors
        pos = res_r.value > 0
        g_all = np.zeros(len(res_r))
        g_all[pos] = 1.0 / res_r.value[pos]
        g_held = _per_node(res_r.a, g_all, n) + _per_node(res_r.b, g_all, n)
        link = pos & (res_r.a != res_r.b)
        a, b, g = res_r.a[link].astype(np.int64), res_r.b[link].astype(np.int64), g_all[link]
        w = sp.csr_matrix(
            (np.concatenate([g, g]), (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(n, n)
        )
        w.sum_duplicates()
        self._indptr = w.indptr.astype(np.int64)
        self._indices = w.indices.astype(np.int32)
        self._data = w.data.astype(np.float64)
        self._diag = np.asarray(w.sum(axis=1)).reshape(-1)  # per node: g to other nodes
        return w, g_held

    def _setup_unknowns(self) -> None:
        """The unknown branches: sign-free (voltage sources, shorts, inductors, in that
        order, a -> b) and diodes; whether every one touches ground."""
        c = self._circuit
        res_r, ind, vs = c.resistors, c.inductors, c.vsources
        self._shorts_r = np.flatnonzero(res_r.value == 0)
        self._fa = np.concatenate([vs.a, res_r.a[self._shorts_r], ind.a]).astype(np.int32)
        self._fb = np.concatenate([vs.b, res_r.b[self._shorts_r], ind.b]).astype(np.int32)
        nv = len(vs)
        run = self._fa[:nv].astype(np.int64)
        # the voltage sources hold consecutive nodes to ground (a DRN's inputs): their
        # feasibility is one contiguous run per sample (source_feasibility)
        self._a0 = -1
        if nv and np.all(self._fb[:nv] == 0) and np.array_equal(run, run[0] + np.arange(nv)):
            self._a0 = int(run[0])
        self._da = c.diodes.a.astype(np.int32)
        self._db = c.diodes.b.astype(np.int32)
        self._grounded = not any(
            np.any((x != y) & (x != 0) & (y != 0))
            for x, y in ((self._fa, self._fb), (self._da, self._db))
        )  # every unknown branch touches ground: every cluster is one node
        # per node, its unknown branches to ground in balancing order (sign-free first)
        nf = self._fa.shape[0]
        ends = [(self._fa, self._fb, 0), (self._da, self._db, nf)]
        node = np.concatenate([np.where(x != 0, x, y)[x != y] for x, y, _ in ends])
        idx = np.concatenate([np.flatnonzero(x != y) + off for x, y, off in ends])
        order = np.lexsort((idx, node))
        self._bidx = idx[order].astype(np.int64)
        self._bptr = np.searchsorted(node[order], np.arange(self.n + 1)).astype(np.int64)

    @property
    def setup_bytes(self) -> int:
        """Memory held by this certifier: the dense blocks and the sparse matrices."""
        sparse = self._indptr.nbytes + self._indices.nbytes + self._data.nbytes
        for cpl in (self._w_kcl, self._w_pin):
            if cpl is not None:
                r = cpl.rest
                sparse += cpl.dense_bytes + r.data.nbytes + r.indices.nbytes + r.indptr.nbytes
        if self._pin32 is not None:
            sparse += self._pin32.nbytes
        return int(sparse)

    def estimate_bytes(self, batch: int) -> int:
        """Peak memory of :meth:`certify` on ``batch`` samples beyond the inputs and
        :attr:`setup_bytes`: about nine [n, B] float64 arrays (voltages transposed and
        their |.|, products, injections, bounds, known totals, products' temporaries;
        most are kept between calls, for the next batch of the same size) and the
        per-sample source, diode and branch arrays."""
        c = self._circuit
        per_sample = 8.5 * self.n + 2 * len(c.diodes) + self._fa.shape[0] + len(c.vsources)
        return int(8 * per_sample * max(int(batch), 0))

    def _pinned(self) -> np.ndarray:
        """bool [n]: nodes held to ground by a voltage source, short or inductor and
        joined to no other non-ground node by one (nor by any diode): their cluster is
        always that one node, balanced exactly by that branch, whatever the voltages."""
        n = self.n
        fa, fb, da, db = self._fa, self._fb, self._da, self._db
        live = fa != fb
        grounded = np.zeros(n, dtype=bool)
        grounded[fa[live & (fb == 0)]] = True
        grounded[fb[live & (fa == 0)]] = True
        joined = np.zeros(n, dtype=bool)
        for x, y in ((fa, fb), (da, db)):
            inner = (x != y) & (x != 0) & (y != 0)
            joined[x[inner]] = True
            joined[y[inner]] = True
        pinned = grounded & ~joined
        pinned[0] = False
        return pinned

    def _setup_sources(self) -> None:
        """Which sources take per-sample values (columns of ``values``), and the
        current sources' incidence (injection and |current| per node)."""
        c = self._circuit
        n = self.n
        vs_idx = {name: j for j, name in enumerate(c.vsources.names)}
        is_idx = {name: j for j, name in enumerate(c.isources.names)}
        v_cols, v_src, i_cols, i_src = [], [], [], []
        seen: set[str] = set()
        for col, name in enumerate(self.input_names):
            if name in seen:
                raise CertificateInputError(f"input {name!r} is named twice; name each once")
            seen.add(name)
            if name in vs_idx:
                v_cols.append(col)
                v_src.append(vs_idx[name])
            elif name in is_idx:
                i_cols.append(col)
                i_src.append(is_idx[name])
            else:
                valid = ", ".join(list(c.vsources.names)[:10] + list(c.isources.names)[:10])
                raise CertificateInputError(
                    f"no voltage or current source named {name!r}; sources: {valid}"
                )
        self._v_cols, self._v_src = np.array(v_cols, np.intp), np.array(v_src, np.intp)
        self._i_cols, self._i_src = np.array(i_cols, np.intp), np.array(i_src, np.intp)
        # every voltage source an input (a DRN): its values are one gather of the
        # inputs' columns (None: the identity, the values themselves), no copy of the
        # circuit's values to patch (~5 ms per batch on DRN-XS)
        self._v_take: np.ndarray | None | bool = False
        nv = len(c.vsources)
        if nv and self._v_src.size == nv and not self._i_src.size:
            take = np.empty(nv, np.intp)
            take[self._v_src] = self._v_cols
            same = take.size == len(self.input_names) and np.array_equal(take, np.arange(nv))
            self._v_take = None if same else take
        isrc = c.isources
        k = len(isrc)
        rows = np.r_[0:k, 0:k]
        ends = np.concatenate([isrc.b, isrc.a])
        ones = np.ones(k)
        # [k, n]: values @ inc are the injections (a -> through the source -> b),
        # |values| @ touch the |currents| at each node
        self._i_inc = sp.csr_matrix((np.concatenate([ones, -ones]), (rows, ends)), shape=(k, n))
        self._i_touch = sp.csr_matrix((np.concatenate([ones, ones]), (rows, ends)), shape=(k, n))

    # ------------------------------------------------------------------ checks
    def _check(self, voltages) -> np.ndarray:
        v = np.asarray(voltages, dtype=np.float64)
        if v.ndim != 2 or v.shape[1] != self.n:
            raise CertificateInputError(
                f"voltages must be [batch, {self.n}] (one column per node of the circuit, "
                f"ground first); got shape {tuple(v.shape)}"
            )
        return np.require(v, np.float64, "CW")  # the kernels' declared type: C, writable

    def _source_values(self, nb, values, vsource_values, isource_values):
        """Per-sample values of every voltage source [B, nv] and current source [B, ni]."""
        c = self._circuit
        # the circuit's values, where no input or given array replaces them (numpy's
        # broadcast_to costs ~8 µs: made only when used)
        vval = ival = None
        if self.input_names:
            if values is None:
                raise CertificateInputError(
                    f"inputs {self.input_names[:5]} were named: pass values[batch, "
                    f"{len(self.input_names)}]"
                )
            x = np.asarray(values, dtype=np.float64)
            if x.ndim == 1 and nb == 1:
                x = x.reshape(1, -1)
            if x.shape != (nb, len(self.input_names)):
                raise CertificateInputError(
                    f"values must be [batch, {len(self.input_names)}] = "
                    f"[{nb}, {len(self.input_names)}] (one row per row of voltages, one "
                    f"column per input); got shape {tuple(x.shape)}"
                )
            if self._v_take is None:
                vval = x
            elif self._v_take is not False:
                vval = np.take(x, self._v_take, axis=1)
            elif self._v_src.size:
                vval = _circuit_values(c.vsources, nb).copy()
                vval[:, self._v_src] = x[:, self._v_cols]
            if self._i_src.size:
                ival = _circuit_values(c.isources, nb).copy()
                ival[:, self._i_src] = x[:, self._i_cols]
        elif values is not None:
            raise CertificateInputError(
                "values were given but no inputs were named; pass inputs=[source names]"
            )
        for name, given, kind in (
            ("vsource_values", vsource_values, c.vsources),
            ("isource_values", isource_values, c.isources),
        ):
            if given is None:
                continue
            arr = np.asarray(given, dtype=np.float64)
            if arr.shape != (nb, len(kind)):
                raise CertificateInputError(
                    f"{name} must be [batch, {len(kind)}] = [{nb}, {len(kind)}] (one row "
                    f"per row of voltages, one column per source); got shape {tuple(arr.shape)}"
                )
            if name == "vsource_values":
                vval = arr
            else:
                ival = arr
        if vval is None:
            vval = _circuit_values(c.vsources, nb)
        if ival is None:
            ival = _circuit_values(c.isources, nb)
        return vval, ival

    # --------------------------------------------------------------- certify
    def certify(
        self,
        voltages: np.ndarray,
        values: np.ndarray | None = None,
        *,
        rtol: float = 1e-9,
        vsource_values: np.ndarray | None = None,
        isource_values: np.ndarray | None = None,
        currents: bool = True,
        scales: str = "exact",
        column_groups: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> BatchCertificate:
        """Certify ``voltages[B, n_nodes]`` (ground column 0), sample by sample, as
        :func:`resbench.certificate.certify` would (uniqueness aside).

        ``scales``: ``"exact"`` computes each sample's scales (v_scale, i_scale) as the
        scalar certificate does, and its tolerances are the scalar's.  ``"bound"``
        first checks every sample against tolerances from *lower bounds* of its scales
        that need no product beyond the KCL rows' (:func:`scale_floors`: the one-sided
        bounds of every node's total current): stricter tolerances, so a sample within
        them is within the exact ones too, and its ``*_tol`` are those stricter ones.
        Only the samples outside them are certified again with exact scales (their
        verdict and tolerances are the scalar's).  The verdict is the same either way;
        ``"bound"`` skips the exact scales (branch and bound over every node's total,
        most of the certificate's cost on a DRN) wherever the answer is good.

        ``column_groups``: ``(rep, sig)``, a claim about the inputs' values (one entry
        per input, in the order of ``inputs``): input j's column equals ``sig[j]`` x
        input ``rep[j]``'s in every sample (``sig[j] = 0``: zeros), as the solver's
        fold found them.  Used only where it helps (the direct path of a DRN) and only
        once one pass has verified it bit for bit on the voltages; a claim that does
        not hold is ignored.

        Source values per sample: ``values[B, len(inputs)]`` when inputs were named;
        or every source's: ``vsource_values[B, n_vsources]``,
        ``isource_values[B, n_isources]`` (these win).  A sample with NaN or inf
        voltages or values fails with infinite residuals and zero tolerances, as in
        the scalar certificate.  ``currents=False`` skips the voltage-source currents
        of nodes held to ground (one matrix product less; ``vsource_current`` is then
        None)."""
        return self._certify(
            self._in_node_order(voltages),
            values,
            rtol=rtol,
            vsource_values=vsource_values,
            isource_values=isource_values,
            currents=currents,
            scales=scales,
            column_groups=column_groups,
        )

    def _certify(
        self,
        v: np.ndarray,
        values: np.ndarray | None,
        *,
        rtol: float,
        vsource_values: np.ndarray | None,
        isource_values: np.ndarray | None,
        currents: bool,
        scales: str,
        column_groups: tuple[np.ndarray, np.ndarray] | None,
    ) -> BatchCertificate:
        """:meth:`certify` of checked voltages whose columns are this certifier's nodes."""
        nb = v.shape[0]
        vval, ival = self._source_values(nb, values, vsource_values, isource_values)
        if scales not in ("exact", "bound"):
            raise CertificateInputError(f"scales must be 'exact' or 'bound', got {scales!r}")
        bound = scales == "bound"
        if bound and self._fast is not None:
            # a small batch on one thread: no parallel region whose workers must wake
            with one_thread(v.size < SCAN_PARALLEL):
                cert = self._certify_fast(v, vval, rtol, column_groups, currents)
            if cert is not None:
                cert.direct = cert.ok.copy()  # (before the others are certified again)
                again = np.flatnonzero(~cert.ok)
                if again.size:  # outside the stricter tolerances: the exact scales decide
                    self._recertify(cert, again, v, values, vval, ival, rtol, currents)
                return cert
        # one pass over the voltages gives their rows' sums (the non-finite check) and
        # the columns' keys of the fold; one over the sources' values their sums and
        # largest |value|
        keys = None
        if self._folds_batch(nb):
            sign, key, sums = column_keys(v, _probe(nb))
            keys = (sign, key)
            bad = _non_finite_rows(v, sums)
        else:
            bad = _non_finite_rows(v)
        big_x = None
        if (
            vval.shape[1]
            and vval.flags.c_contiguous
            and vval.flags.writeable
            and vval.dtype == np.float64
        ):
            sums, big_x = row_abs_max(vval)
            bad |= _non_finite_rows(vval, sums)
        else:
            bad |= _non_finite_rows(vval)
        bad |= _non_finite_rows(ival)
        if bad.any():
            v, vval, ival = v.copy(), vval.copy(), ival.copy()
            v[bad], vval[bad], ival[bad] = 0.0, 0.0, 0.0
            keys = big_x = None  # of the values before they were zeroed
        v_scale, i_scale, p_t, v_t = self._currents_and_scales(
            v, vval, ival, currents, keys, big_x, bound=bound
        )
        feas_tol = rtol * v_scale
        kcl_tol = rtol * i_scale
        comp_tol = rtol * v_scale * i_scale
        vval = np.require(vval, np.float64, "CW")
        if self._grounded:  # every cluster is one node: one node-major pass
            feas, kcl, compl, xf_t, xd_t = grounded_check(
                p_t, v_t, self._diag, len(self._circuit.vsources), self._fa, self._fb,
                self._da, self._db, self._bptr, self._bidx, feas_tol, currents,
                self._buffer("dv_t", (self._da.shape[0], nb)),
            )  # fmt: skip
            feas = np.maximum(feas, source_feasibility(v, self._fa, self._fb, vval, self._a0))
            x_dio = xd_t.T
            x_free = xf_t.T
        else:
            inj = kcl_transposed(p_t, v_t, self._diag)  # [B, n], balanced in place
            del p_t
            feas, dv = feasibility(v, self._fa, self._fb, vval, self._da, self._db)
            x_free, x_dio, kcl, compl = self._unknown_currents(inj, dv, feas_tol)
        nv = len(self._circuit.vsources)
        x_src = x_free[:, :nv].copy() if currents else None
        cert = _verdicts(feas, kcl, compl, feas_tol, kcl_tol, comp_tol, x_dio, x_src)
        if bad.any():
            _fail_non_finite(cert, bad)
        if bound:
            again = np.flatnonzero(~cert.ok & ~bad)
            if again.size:  # outside the stricter tolerances: the exact scales decide
                self._recertify(cert, again, v, values, vval, ival, rtol, currents)
        return cert

    def _certify_fast(
        self, v: np.ndarray, vval: np.ndarray, rtol: float, groups=None, currents: bool = False
    ):
        """The certificate with bounds of the scales on the direct path (see
        :meth:`_setup_fast`; a DRN): one pass over the voltages and the sources' values
        (:func:`fast_scan`: finiteness, the sources' feasibility, the held rows'
        floors, the ``cat(x, -x)`` pairs), the KCL rows' product from the held nodes
        (one BLAS product, over one column of each pair when every sample holds
        pairs) and from the others (node-major, the other nodes' voltages only
        transposed), then the floors and the balance (:func:`fast_balance`); for a few
        samples without a claim that held, all of it after the pass in one kernel
        (:func:`few_balance`, the product by nonzero values only).  None (the caller
        takes the general path) when a sample is not finite."""
        fast = self._fast
        vval = np.require(vval, np.float64, "C")
        rep, sig = _NO_GROUPS
        pre = None
        if groups is not None and self._v_take is None:  # (groups of the inputs' columns)
            rep = np.ascontiguousarray(groups[0], dtype=np.int64)
            sig = np.ascontiguousarray(groups[1], dtype=np.float64)
            pre = fast.folded_map(rep, sig) if rep.size else None
            if pre is None:  # not a claim about these inputs: none
                rep, sig = _NO_GROUPS
        # numba's threads for the passes (a large product runs on numba's threads too,
        # resbench.threads.split_matmul: no BLAS thread left spinning to fight them)
        nb, n = v.shape
        a0, e0 = fast.a0, fast.a0 + fast.nv
        parts = numba_thread_count()[0]()  # (1 for a small batch: certify's one_thread)
        # with a claim of column groups, the product's columns (the groups'
        # representatives, then the extra nodes) are gathered by the pass itself
        if pre is not None:
            take = pre[2]
            x = self._buffer("x_fast", (nb, take.size))
        else:
            take, x = _NO_TAKE, self._buffer("x_none", (nb, 0))
        not_finite, big, big_x, src, f1p, f2p, inter, halves, grouped = fast_scan(
            v, vval, a0, fast.ratios, rep, sig, parts, take, x
        )
        if not_finite.any():
            return None
        # the held rows are never written: zero from the start, so that a dense block of
        # w_np whose tiles reach into them multiplies zeros (never stale values)
        v_t = self._buffer("v_t_fast", (n, nb), zeros=True)
        p_t = self._buffer("p_t", (n, nb))
        i_floor = self._i_floor
        if nb <= FEW_SAMPLES and not grouped:
            # a few samples: every pass below in one kernel, the held map's columns of
            # their nonzero values only (a digit's dark pixels, about half DRN-1H's
            # 6.6 MB map, are never read)
            layout = 1 if inter else (2 if halves else 0)
            mt = fast.held_map_t(layout)
            nh = mt.shape[0] - fast.extra.size
            wc = fast.w_np_csr
            i_scale, v_scale, feas, kcl, compl, xd_t = few_balance(
                v, a0, fast.nv, 2 if layout == 1 else 1, nh, fast.extra, mt,
                *fast.slab_arrays(), wc.indptr, wc.indices, wc.data,
                self._buffer("x_few", (nb, mt.shape[0])), v_t, p_t, big, big_x,
                V_SCALE_FLOOR, fast.rows, self._diag, self._rel64, self._slack64,
                self._inv_g, i_floor, f1p, f2p, rtol, self._da, self._db, self._bptr,
                self._bidx, self._fa.shape[0],
            )  # fmt: skip
            return self._fast_verdicts(
                v, feas, kcl, compl, v_scale, i_scale, rtol, src, xd_t, currents
            )
        columns_to_rows(v, 0, a0, v_t)
        columns_to_rows(v, e0, n, v_t)
        if grouped:  # (the claim held: its columns are in x)
            m = pre[0]
        else:
            m, cols = fast.held_map(1 if inter else (2 if halves else 0))
            x = self._buffer("x_fast", (nb, m.shape[1]))
            nh = m.shape[1] - fast.extra.size
            x[:, :nh] = v[:, a0:e0][:, cols]
            x[:, nh:] = v[:, fast.extra]
        # (one BLAS thread below SMALL_PRODUCT, as the solver's GEMM; above, split over
        # numba's threads: BLAS's own would spin after it and slow the next kernels)
        for r0, r1, q in fast.slabs:
            mq = m[q : q + r1 - r0]
            product(mq, x.T, mq.size * nb, SMALL_PRODUCT, out=p_t[r0:r1])
        fast.w_np.apply_folded(None, v_t, p_t)
        v_floor = np.maximum(np.maximum(big, big_x), V_SCALE_FLOOR)
        i_scale, v_scale, feas, kcl, compl, xd_t = fast_balance(
            p_t,
            v_t,
            fast.rows,
            self._diag,
            self._rel64,
            self._slack64,
            self._inv_g,
            big,
            i_floor,
            v_floor,
            f1p,
            f2p,
            rtol,
            self._da,
            self._db,
            self._bptr,
            self._bidx,
            self._fa.shape[0],
        )  # fmt: skip
        return self._fast_verdicts(v, feas, kcl, compl, v_scale, i_scale, rtol, src, xd_t, currents)

    def _fast_verdicts(self, v, feas, kcl, compl, v_scale, i_scale, rtol, src, xd_t, currents):
        """The direct path's certificate from its residuals and scales (the sources'
        feasibility ``src`` from :func:`fast_scan`; their currents when asked)."""
        feas_tol = rtol * v_scale
        kcl_tol = rtol * i_scale
        comp_tol = rtol * v_scale * i_scale
        feas = np.maximum(feas, src)
        x_src = self._fast_source_currents(v) if currents else None
        return _verdicts(feas, kcl, compl, feas_tol, kcl_tol, comp_tol, xd_t.T, x_src)

    def direct_source_currents(self, voltages: np.ndarray) -> np.ndarray:
        """The voltage sources' currents ``[B, n_vsources]`` as the direct path makes them:
        what :meth:`certify` (``currents=True``) reports for the samples its
        ``direct`` marks, the same numbers bit for bit for a batch of the same size
        (the currents alone, no certificate).  Only for a certifier with a direct path
        (``has_direct_path``) and finite voltages."""
        if not self.has_direct_path:
            raise CertificateInputError("this circuit has no direct path: use certify()")
        v = self._in_node_order(voltages)
        if not np.isfinite(v).all():
            raise CertificateInputError("voltages must be finite: use certify()")
        return self._fast_source_currents(v)

    def _in_node_order(self, voltages) -> np.ndarray:
        """``voltages`` checked, their columns in the order of the nodes as set up
        (``_perm``; into a kept buffer: no page faults per call)."""
        v = self._check(voltages)
        if self._perm is not None:
            out = self._buffer("v_perm", v.shape)
            with one_thread(v.size < SCAN_PARALLEL):
                gather_columns(v, self._perm, out)
            v = out
        return v

    @property
    def has_direct_path(self) -> bool:
        """Does this circuit's layout take the direct path (a DRN's; :meth:`_setup_fast`)?"""
        return self._fast is not None

    def _fast_source_currents(self, v: np.ndarray) -> np.ndarray:
        """The voltage sources' currents ``[B, nv]`` on the direct path, as
        :func:`grounded_check` gives them: each source holds its node k to ground and
        takes the node's whole imbalance ``(W v)_k - diag_k v_k`` (sign -1 where k is
        its + terminal).  A held node's neighbours are KCL rows only (no resistor joins
        two held nodes, no current source, no gmin: :meth:`_setup_fast`), so ``(W v)_k``
        is w_kp's column k against the KCL rows' voltages: for a few samples by their
        nonzero voltages only (a DRN's hidden nodes held at 0 by their diodes), else
        one product."""
        fast = self._fast
        nb = v.shape[0]
        w = fast.held_dense()
        xk = np.ascontiguousarray(v[:, fast.rows])
        if nb <= FEW_SAMPLES:
            p_t = np.empty((fast.nv, nb))
            nonzero_columns_product(w, xk, 0, p_t)
            p = p_t.T
        else:
            p = product(xk, w, w.size * nb, SMALL_PRODUCT)
        held = v[:, fast.a0 : fast.a0 + fast.nv]
        res = p - self._diag[fast.a0 : fast.a0 + fast.nv] * held
        return -res[:, fast.src_col] * fast.src_sign

    def _recertify(self, cert, idx, v, values, vval, ival, rtol, currents) -> None:
        """Certify the samples ``idx`` again with exact scales, into ``cert``."""
        x = None
        if self.input_names:  # (the sources' values below win; inputs must still be given)
            x = np.asarray(values, dtype=np.float64)
            x = x.reshape(1, -1)[idx] if x.ndim == 1 else x[idx]
        sub = self._certify(
            v[idx],
            x,
            rtol=rtol,
            vsource_values=np.asarray(vval)[idx],
            isource_values=np.asarray(ival)[idx],
            currents=currents,
            scales="exact",
            column_groups=None,
        )
        for name in BatchCertificate.PER_SAMPLE:
            getattr(cert, name)[idx] = getattr(sub, name)
        if cert.diode_current is not None and sub.diode_current is not None:
            cert.diode_current[idx] = sub.diode_current
        if cert.vsource_current is not None and sub.vsource_current is not None:
            cert.vsource_current[idx] = sub.vsource_current

    def _folds_batch(self, nb: int) -> bool:
        """Are batches of ``nb`` samples folded (:meth:`_fold`)?"""
        return self._any_dense and nb >= FOLD_MIN_BATCH

    def _fold(self, v: np.ndarray, v_t: np.ndarray, keys: tuple | None = None) -> _Fold:
        """The batch's columns grouped (equal up to sign in every sample, or all zero),
        with the folded matrices of that pattern (cached); the identity when the
        circuit has no dense block (nothing to gain).  ``keys``: the columns' signs and
        keys (:func:`column_keys`) when the caller has them."""
        if not self._folds_batch(v.shape[0]):
            return self._identity
        nb, n = v.shape
        sign, key = keys if keys is not None else column_keys(v, _probe(nb))[:2]
        rep = np.arange(n, dtype=np.int64)
        sig = np.ones(n)
        rep[sign == 0.0] = -1
        nz = np.flatnonzero(sign != 0.0)
        order = nz[np.argsort(key[nz], kind="stable")]
        cand = np.flatnonzero(key[order][1:] == key[order][:-1])
        if cand.size:
            same = columns_equal(v_t, sign, order[cand], order[cand + 1])
            new = np.ones(order.size, dtype=bool)
            new[cand[same] + 1] = False
            first = order[new][np.cumsum(new) - 1]  # equal keys keep column order
            rep[order] = first
            sig[order] = sign[order] * sign[first]
        identity = bool(np.all(sig > 0) and np.array_equal(rep, np.arange(n)))
        if identity:
            return self._identity
        pattern = rep.tobytes() + sig.tobytes()
        fold = self._folds.get(pattern)
        if fold is None:
            fold = _Fold(rep, sig, False)
            if len(self._folds) >= FOLD_CACHE:
                self._folds.popitem(last=False)
            self._folds[pattern] = fold
        else:
            self._folds.move_to_end(pattern)
        return fold

    def _folded_rows(self, fold: _Fold) -> tuple:
        """The CSR rows of W folded as ``fold`` says, and which rows are short enough
        (K_EXACT entries) to be summed exactly every time."""
        if fold.csr is None:
            fptr, fcol, fsg, fg = fold_csr(
                self._indptr, self._indices, self._data, fold.rep, fold.sig
            )
            fold.csr = (fptr, fcol, fsg, fg, np.diff(fptr) <= K_EXACT)
        return fold.csr

    def _currents_and_scales(self, v, vval, ival, currents, keys=None, big_x=None, *, bound=False):
        """v_scale and i_scale per sample (resbench.certificate._known_currents_and_scales)
        and node-major ``p_t`` (the current the resistors, current sources and gmin leak
        push into each node, but the ``-diag v`` term; pinned nodes' rows exact only
        with ``currents``) and ``v_t``.

        One product p = W v (folded columns; float64 on the KCL rows; float32 on the
        pinned rows unless ``currents`` or unsafe) gives the KCL and, with the
        neighbours' extreme voltages, bounds of every node's total; ``W |v|`` (folded)
        tightens the bounds of KCL rows whose neighbours lie on both sides.  The kernel
        sums exactly only the nodes whose upper bound can be the maximum."""
        nb, n = v.shape
        v_t = self._buffer("v_t", (n, nb))
        np.copyto(v_t, v.T)
        tile_hi, tile_lo, big, node_max = tile_extremes(v_t, TILE)
        fold = self._fold(v, v_t, keys)
        if bound:
            return self._floors(v_t, vval, ival, currents, fold, tile_hi, tile_lo, big, big_x)
        fptr, fcol, fsg, fg, exact_row = self._folded_rows(fold)
        max_diag = float(np.max(self._diag, initial=0.0))
        big_v = float(np.max(big, initial=0.0))
        f32 = self._w_pin is not None and not currents
        f32 = f32 and big_v * max_diag < F32_SUM_MAX
        # the held rows multiplied per (row, sample) where they can reach a scale
        lazy = f32 and self._pin32 is not None and big_v < F32_V_MAX
        f32 = f32 and any(blk.w32 is not None for blk in self._w_pin.blocks)
        p_t = self._buffer("p_t", (n, nb))
        # rows of held nodes need no value when they are bounded per (row, sample) and
        # every cluster is one node (their source takes whatever they hold); else zero
        need_rows = self._checked if lazy and self._grounded else None
        self._w_kcl.apply_folded(fold, v_t, p_t, fresh=True, need=need_rows)
        has_t0, t0_t, i_floor, v_floor = self._known_parts(v_t, vval, ival, big, big_x)
        if lazy:
            lazy_mask = self._pinned_rows & ~exact_row & (self._lslot >= 0)
            lazy_rows = np.flatnonzero(lazy_mask)
            c0, c1 = self._span
            h32 = self._buffer("h32", (nb, c1 - c0), np.float32)
            span_hi, span_lo = span_copy(v, c0, c1, h32)
            pin32, lslot, lrel, lslack = self._pin32, self._lslot, self._lrel, self._lslack
            f32 = False  # no product of held rows (their KCL is not asked for)
        else:
            lazy_mask = np.zeros(n, dtype=bool)
            lazy_rows = np.zeros(0, dtype=np.int64)
            h32 = pin32 = np.zeros((0, 0), dtype=np.float32)
            span_hi = span_lo = np.zeros(nb)
            lslot, lrel, lslack = self._lslot, self._rel32, self._slack32
        # the held rows' products only bound the scales (float32): skip those of rows
        # whose range bound cannot reach a sample's scale (DRN-1H: about half, the
        # inputs never near the batch's extreme voltages)
        ext_hi, ext_lo, rows = range_extremes(
            tile_hi, tile_lo, self._range_t0, self._range_t1, v_t, self._rid, self._diag,
            self._inv_g, t0_t, has_t0, self._pinned_rows & ~exact_row if f32 else self._no_rows,
            i_floor, v_floor,
        )  # fmt: skip
        rel, slack = self._rel64, self._slack64
        p_ok = self._all_rows
        if lazy:
            p_ok = self._checked
        elif self._w_pin is not None:
            v32 = None
            if f32:  # the columns of the float32 blocks only
                v32 = self._buffer("v32", v_t.shape, np.float32)
                for blk in self._w_pin.blocks:
                    v32[blk.c0 : blk.c1] = v_t[blk.c0 : blk.c1]
                p_ok = self._checked | rows
            self._w_pin.apply_folded(fold, v_t, p_t, u32=v32, rows=rows if f32 else None)
            if f32:
                pin = ~self._checked
                rel = np.where(pin, self._rel32, self._rel64)
                slack = np.where(pin, self._slack32, self._slack64)
        a_ok = self._checked & ~exact_row  # W |v| bounds the KCL rows summed inexactly
        a_up, a_slack = self._one, self._slack64
        if a_ok.any():
            a_t = self._buffer("a_t", (n, nb))
            # W |v| only bounds: float32 where safe, raised by its round-off bound
            # (relative, as for the held rows, and the underflow slack); only the rows
            # a_ok are read
            a32 = float(np.max(big, initial=0.0)) * max_diag < F32_SUM_MAX
            self._w_kcl.apply_folded(
                fold, v_t, a_t, absolute=True, single=a32, fresh=True, need=a_ok
            )
            if a32:
                a_up, a_slack = self._up32, self._slack32
        else:
            a_t = np.zeros((1, 1))
        i_scale, v_scale = scale_maxima(
            v,
            v_t,
            p_t,
            a_t,
            a_ok,
            a_up,
            a_slack,
            p_ok,
            ext_hi,
            ext_lo,
            self._rid,
            self._diag,
            rel,
            slack,
            t0_t,
            has_t0,
            self._inv_g,
            fptr,
            fcol,
            fsg,
            fg,
            exact_row,
            i_floor,
            v_floor,
            self._buffer("up", (n, nb)),
            lazy_mask,
            lazy_rows,
            lslot,
            pin32,
            h32,
            lrel,
            lslack,
            node_max,
            span_hi,
            span_lo,
        )
        self._known_currents(p_t, v_t, ival, need_rows)
        return v_scale, i_scale, p_t, v_t

    def _floors(self, v_t, vval, ival, currents, fold, tile_hi, tile_lo, big, big_x):
        """:meth:`_currents_and_scales` with lower bounds of the scales
        (:func:`scale_floors`) instead of the scales: the KCL rows' product in float64
        (and the held rows' when their currents are asked for, or a cluster can join
        them), no ``W |v|``, no float32 rows, no branch and bound."""
        n, nb = v_t.shape
        p_t = self._buffer("p_t", (n, nb))
        need_rows = self._checked if self._grounded and not currents else None
        self._w_kcl.apply_folded(fold, v_t, p_t, fresh=True, need=need_rows)
        if need_rows is None and self._w_pin is not None:
            self._w_pin.apply_folded(fold, v_t, p_t)
        has_t0, t0_t, i_floor, v_floor = self._known_parts(v_t, vval, ival, big, big_x)
        ext_hi, ext_lo, _ = range_extremes(
            tile_hi, tile_lo, self._range_t0, self._range_t1, v_t, self._rid, self._diag,
            self._inv_g, t0_t, has_t0, self._no_rows, i_floor, v_floor,
        )  # fmt: skip
        p_ok = self._checked if need_rows is not None else self._all_rows
        i_scale, v_scale = scale_floors(
            v_t, p_t, p_ok, self._diag, self._rel64, self._slack64, t0_t, has_t0,
            self._inv_g, big, ext_hi, ext_lo, self._rid, i_floor, v_floor,
        )  # fmt: skip
        self._known_currents(p_t, v_t, ival, need_rows)
        return v_scale, i_scale, p_t, v_t

    def _known_parts(self, v_t, vval, ival, big, big_x):
        """(has_t0, t0_t, i_floor, v_floor): every node's known |current| (current
        sources, gmin leak) ``[n, B]`` (or a dummy), and the scales' floors."""
        n, nb = v_t.shape
        has_t0 = bool(ival.shape[1]) or self.gmin > 0
        t0_t = np.zeros((n, nb)) if has_t0 else np.zeros((1, 1))
        if ival.shape[1]:
            t0_t += np.asarray(self._i_touch.T @ np.abs(ival).T)
        if self.gmin > 0:
            t0_t[1:] += self.gmin * np.abs(v_t[1:])
        v_floor = np.maximum(big, V_SCALE_FLOOR)
        if vval.shape[1]:
            if big_x is None:
                big_x = np.max(np.abs(vval), axis=1)
            v_floor = np.maximum(v_floor, big_x)
        v_floor = np.ascontiguousarray(v_floor, dtype=np.float64)
        i_floor = self._i_floor
        return has_t0, t0_t, i_floor, v_floor

    def _known_currents(self, p_t, v_t, ival, need_rows) -> None:
        """Add the current sources' and the gmin leak's currents into ``p_t``."""
        # the known currents, after the bounds (they need W v alone); rows outside
        # need_rows hold no value and are never read: left alone (no arithmetic on
        # whatever the buffer held, which may be NaN or inf)
        if ival.shape[1]:
            known = np.asarray(self._i_inc.T @ ival.T)
            if need_rows is None:
                p_t += known
            else:
                p_t[need_rows] += known[need_rows]
        if self.gmin > 0:
            if need_rows is None:
                p_t[1:] -= self.gmin * v_t[1:]
            else:
                leak = need_rows.copy()
                leak[0] = False
                p_t[leak] -= self.gmin * v_t[leak]

    def _unknown_currents(self, inj, dv, feas_tol):
        """Currents of the sign-free unknowns [B, nf] and diodes [B, nd], and per sample
        the largest KCL imbalance left and the complementarity residual: closed forms
        in the kernel, the scalar code for samples holding any other kind of cluster.
        ``inj`` is overwritten with the imbalance left."""
        nb = inj.shape[0]
        x_free = np.zeros((nb, self._fa.shape[0]))
        x_dio = np.zeros((nb, self._da.shape[0]))
        fallback = np.zeros(nb, dtype=np.uint8)
        kcl = np.zeros(nb)
        compl = np.zeros(nb)
        feas_tol = np.ascontiguousarray(feas_tol, dtype=np.float64)
        balance_clusters(
            inj,
            dv,
            feas_tol,
            self._fa,
            self._fb,
            self._da,
            self._db,
            x_free,
            x_dio,
            fallback,
            self._grounded,
            kcl,
            compl,
        )
        n_free = self._fa.shape[0]
        for b in np.flatnonzero(fallback):  # inj[b] is untouched there
            tight = np.flatnonzero(dv[b] >= -feas_tol[b])
            xb, rb, _ = _unknown_currents(self._circuit, inj[b].copy(), self._shorts_r, tight)
            x_free[b] = xb[:n_free]
            x_dio[b, tight] = xb[n_free:]
            kcl[b] = np.max(np.abs(rb[1:]), initial=0.0)
            compl[b] = np.max(np.maximum(-dv[b], 0.0) * x_dio[b], initial=0.0)
        return x_free, x_dio, kcl, compl


def _circuit_values(branches, nb: int) -> np.ndarray:
    """The sources' values of the circuit for every sample, ``[nb, len(branches)]`` (a
    read-only broadcast; an empty array where there are none: no broadcast to make)."""
    if len(branches) == 0:
        return np.empty((nb, 0))
    return np.broadcast_to(branches.value, (nb, len(branches)))


def _verdicts(feas, kcl, compl, feas_tol, kcl_tol, comp_tol, x_dio, x_src) -> BatchCertificate:
    """The certificate of every sample from its residuals and tolerances."""
    ok = (feas <= feas_tol) & (kcl <= kcl_tol) & (compl <= comp_tol)
    return BatchCertificate(
        checked=np.ones(ok.shape[0], dtype=bool),
        ok=ok,
        feasibility=feas,
        kcl=kcl,
        complementarity=compl,
        feas_tol=feas_tol,
        kcl_tol=kcl_tol,
        comp_tol=comp_tol,
        diode_current=x_dio,
        vsource_current=x_src,
    )


def held_first(circuit: Circuit) -> np.ndarray | None:
    """A node order (for :func:`resbench.circuit.renumbered`) that puts the nodes the
    voltage sources hold to ground one after the other, in the sources' order, right
    after ground, and keeps the others in their order; None when they already are, or
    when a source does not hold a node of its own to ground (no such order helps)."""
    vs = circuit.vsources
    nv = len(vs)
    a = np.asarray(vs.a, dtype=np.int64)
    if not nv or np.any(np.asarray(vs.b) != 0) or np.any(a == 0) or np.unique(a).size != nv:
        return None
    if np.array_equal(a, a[0] + np.arange(nv)):
        return None
    rest = np.ones(circuit.n_nodes, dtype=bool)
    rest[0] = False
    rest[a] = False
    return np.concatenate([[0], a, np.flatnonzero(rest)]).astype(np.int64)


def _probe(nb: int) -> np.ndarray:
    """The weights of the samples in the columns' keys (:func:`column_keys`)."""
    return np.sqrt(np.arange(2, nb + 2, dtype=np.float64)) - 0.5


def _non_finite_rows(x: np.ndarray, sums: np.ndarray | None = None) -> np.ndarray:
    """bool [B]: the rows of ``x[B, m]`` holding NaN or inf.  A row's sum is finite
    when all its values are (one fast pass, no [B, m] temporary; ``sums``: the rows'
    sums, in any order, when the caller has them); only rows whose sum is not (NaN,
    inf, or finite values that overflow it) are checked value by value."""
    with np.errstate(over="ignore", invalid="ignore"):
        suspect = ~np.isfinite(x.sum(axis=1) if sums is None else sums)
    if suspect.any():
        suspect[suspect] = ~np.all(np.isfinite(x[suspect]), axis=1)
    return suspect


def _fail_non_finite(cert: BatchCertificate, bad: np.ndarray) -> None:
    """Samples with NaN / inf: infinite residuals, zero tolerances, zero currents."""
    for name in ("feasibility", "kcl", "complementarity"):
        getattr(cert, name)[bad] = np.inf
    for name in ("feas_tol", "kcl_tol", "comp_tol"):
        getattr(cert, name)[bad] = 0.0
    cert.ok[bad] = False
    cert.diode_current[bad] = 0.0
    if cert.vsource_current is not None:
        cert.vsource_current[bad] = 0.0


def certify_batch(
    circuit: Circuit,
    voltages: np.ndarray,
    *,
    rtol: float = 1e-9,
    gmin: float = 0.0,
    inputs: Sequence[str] | None = None,
    values: np.ndarray | None = None,
    currents: bool = True,
    scales: str = "exact",
) -> BatchCertificate:
    """One-shot :meth:`BatchCertifier.certify` (builds the matrices, certifies,
    drops them); use a BatchCertifier for repeated batches through one circuit."""
    certifier = BatchCertifier(circuit, inputs=inputs, gmin=gmin)
    return certifier.certify(voltages, values, rtol=rtol, currents=currents, scales=scales)
