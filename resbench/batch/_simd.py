"""Explicit SIMD values for numba kernels: a few LLVM vector operations as intrinsics.

The batch sweeps apply each node's update to a tile of samples that share one matrix.
Written as loops over the samples of a tile, LLVM vectorises each loop on its own:
every one re-checks at run time that its arrays do not overlap, handles a remainder,
and loads and stores the running sum through memory, so on a DRN (a few entries per
row) the overhead of the loops costs as much as their arithmetic.  These intrinsics
let a kernel hold a tile's running sums in registers as vector values (``Vec``) across
a row's entries instead.

The arithmetic is the scalar code's, lane by lane: ``madd(x, g, r)`` is ``x + g * r``
(a multiply, then an add: no fused multiply–add, no fast-math flags), ``vmax(a, b)`` /
``vmin(a, b)`` select as numba's ``max`` / ``min`` of two floats do (``b > a``, resp.
``b < a``, picks ``b``), ``vabs`` clears the sign bit, ``vadd`` / ``vmul`` are one
IEEE operation each, ``widen`` / ``narrow`` convert float32 lanes to float64 (exact) and
back (rounded to nearest, as numpy's ``astype``).  So a kernel that uses them gives
bit for bit the numbers of its scalar loops.

Loads and stores take a C-contiguous array and the index of the tile's first element
(row and column for 2-D arrays); the caller keeps them in bounds (no checks, as numba's
own indexing).  :func:`lanes` is the vector width for an array's dtype: 4 float64 or 8
float32 (256-bit AVX2 registers; LLVM splits or joins them on other targets).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, overload, register_model

__all__ = [
    "Vec",
    "fetch_add",
    "lanes",
    "madd",
    "splat",
    "narrow",
    "vabs",
    "vadd",
    "vload",
    "vload2",
    "vmax",
    "vmin",
    "vmul",
    "vstore",
    "vstore2",
    "vsub",
    "widen",
]

VECTOR_BYTES = 32


class Vec(types.Type):
    """A numba type: ``lanes`` values of ``dtype`` in one LLVM vector."""

    def __init__(self, dtype: types.Float, lanes: int) -> None:
        self.dtype = dtype
        self.lanes = lanes
        super().__init__(name=f"Vec({dtype} x {lanes})")


@register_model(Vec)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):  # noqa: ANN001 - numba's model protocol
        elem = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(elem, fe_type.lanes))


def _n_lanes(dtype: types.Type) -> int:
    return VECTOR_BYTES // (dtype.bitwidth // 8)


def _vec_of(dtype: types.Type) -> Vec:
    return Vec(dtype, _n_lanes(dtype))


def lanes(a):  # noqa: ANN001, ANN201 - a jit-only function
    """The lanes of one vector of ``a``'s dtype (a compile-time constant)."""
    raise NotImplementedError("lanes() is for jitted code")


@overload(lanes, inline="always")
def _lanes_impl(a):  # noqa: ANN001, ANN202
    n = _n_lanes(a.dtype)
    return lambda a: n


def _element_pointer(context, builder, aty, ary_val, idx_vals, idx_tys):  # noqa: ANN001, ANN202
    ary = context.make_array(aty)(context, builder, ary_val)
    inds = [context.cast(builder, v, t, types.intp) for v, t in zip(idx_vals, idx_tys, strict=True)]
    return cgutils.get_item_pointer2(
        context,
        builder,
        data=ary.data,
        shape=cgutils.unpack_tuple(builder, ary.shape),
        strides=cgutils.unpack_tuple(builder, ary.strides),
        layout=aty.layout,
        inds=inds,
    )


def _check_array(a: types.Type, ndim: int) -> None:
    if not (isinstance(a, types.Array) and a.ndim == ndim and a.layout == "C"):
        raise TypeError(f"expected a C-contiguous {ndim}-d array, got {a}")
    if not isinstance(a.dtype, types.Float):
        raise TypeError(f"expected a float array, got {a}")


def _load(ndim: int):  # noqa: ANN202
    def typer(typingctx, a, *idx):  # noqa: ANN001, ANN202
        _check_array(a, ndim)
        vt = _vec_of(a.dtype)

        def codegen(context, builder, sig, args):  # noqa: ANN001, ANN202
            ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1:], sig.args[1:])
            vptr = builder.bitcast(ptr, context.get_value_type(vt).as_pointer())
            return builder.load(vptr, align=a.dtype.bitwidth // 8)

        return vt(a, *idx), codegen

    return typer


def _store(ndim: int):  # noqa: ANN202
    def typer(typingctx, a, *rest):  # noqa: ANN001, ANN202
        _check_array(a, ndim)
        if not (isinstance(rest[-1], Vec) and rest[-1].dtype == a.dtype):
            raise TypeError(f"cannot store {rest[-1]} into {a}")

        def codegen(context, builder, sig, args):  # noqa: ANN001, ANN202
            ptr = _element_pointer(
                context, builder, sig.args[0], args[0], args[1:-1], sig.args[1:-1]
            )
            vptr = builder.bitcast(ptr, args[-1].type.as_pointer())
            builder.store(args[-1], vptr, align=a.dtype.bitwidth // 8)
            return context.get_dummy_value()

        return types.none(a, *rest), codegen

    return typer


@intrinsic
def vload(typingctx, a, j):  # noqa: ANN001, ANN202
    """One vector of the 1-d array ``a`` from element ``j`` on."""
    return _load(1)(typingctx, a, j)


@intrinsic
def vload2(typingctx, a, i, j):  # noqa: ANN001, ANN202
    """One vector of row ``i`` of the 2-d array ``a`` from column ``j`` on."""
    return _load(2)(typingctx, a, i, j)


@intrinsic
def vstore(typingctx, a, j, v):  # noqa: ANN001, ANN202
    """Store the vector ``v`` into the 1-d array ``a`` from element ``j`` on."""
    return _store(1)(typingctx, a, j, v)


@intrinsic
def vstore2(typingctx, a, i, j, v):  # noqa: ANN001, ANN202
    """Store the vector ``v`` into row ``i`` of the 2-d array ``a`` from column ``j`` on."""
    return _store(2)(typingctx, a, i, j, v)


@intrinsic
def splat(typingctx, x, like):  # noqa: ANN001, ANN202
    """The scalar ``x`` in every lane of a vector of ``like``'s dtype (an array: one
    register's lanes; a Vec: its own type); ``x`` is cast to that dtype first, as a
    store into such an array would."""
    dtype = like.dtype
    vt = like if isinstance(like, Vec) else _vec_of(dtype)

    def codegen(context, builder, sig, args):  # noqa: ANN001, ANN202
        s = context.cast(builder, args[0], sig.args[0], dtype)
        llv = context.get_value_type(vt)
        vec = ir.Constant(llv, ir.Undefined)
        for k in range(vt.lanes):
            vec = builder.insert_element(vec, s, ir.Constant(ir.IntType(32), k))
        return vec

    return vt(x, like), codegen


def _binary(name: str, build):  # noqa: ANN001, ANN202
    def typer(typingctx, a, b):  # noqa: ANN001, ANN202
        if not (isinstance(a, Vec) and a == b):
            raise TypeError(f"{name}: two vectors of one type expected, got {a}, {b}")

        def codegen(context, builder, sig, args):  # noqa: ANN001, ANN202
            return build(builder, *args)

        return a(a, b), codegen

    typer.__name__ = name
    return intrinsic(typer)


vadd = _binary("vadd", lambda bld, a, b: bld.fadd(a, b))
vsub = _binary("vsub", lambda bld, a, b: bld.fsub(a, b))
vmul = _binary("vmul", lambda bld, a, b: bld.fmul(a, b))
vmax = _binary("vmax", lambda bld, a, b: bld.select(bld.fcmp_ordered(">", b, a), b, a))
vmin = _binary("vmin", lambda bld, a, b: bld.select(bld.fcmp_ordered("<", b, a), b, a))


def _converter(a: Vec, to: types.Float, op: str):  # noqa: ANN202
    """Codegen converting the vector ``a`` to ``to`` lanes (``op``: the IR builder's
    ``fpext`` / ``fptrunc``), a no-op when it already is; and the result's type."""
    vt = Vec(to, a.lanes)

    def codegen(context, builder, sig, args):  # noqa: ANN001, ANN202
        if a.dtype == to:
            return args[0]
        return getattr(builder, op)(args[0], context.get_value_type(vt))

    return vt, codegen


@intrinsic
def widen(typingctx, a):  # noqa: ANN001, ANN202
    """``a``'s lanes as float64 (exact: a float32 value is a float64 value; a float64
    vector is returned as it is).  Its lanes stay: 8 float32 become 8 float64."""
    if not isinstance(a, Vec):
        raise TypeError(f"widen: a vector expected, got {a}")
    vt, codegen = _converter(a, types.float64, "fpext")
    return vt(a), codegen


@intrinsic
def narrow(typingctx, a, like):  # noqa: ANN001, ANN202
    """The float64 vector ``a`` rounded to ``like``'s dtype (an array), lane by lane
    as numpy's ``astype`` rounds (to nearest); the same vector when that is float64."""
    if not (isinstance(a, Vec) and a.dtype == types.float64):
        raise TypeError(f"narrow: a float64 vector expected, got {a}")
    vt, codegen = _converter(a, like.dtype, "fptrunc")
    return vt(a, like), codegen


@intrinsic
def madd(typingctx, x, g, r):  # noqa: ANN001, ANN202
    """``x + g * r`` lane by lane (``g`` a vector: :func:`splat` it once per row)."""
    if not (isinstance(x, Vec) and x == g == r):
        raise TypeError(f"madd: three vectors of one type expected, got {x}, {g}, {r}")

    def codegen(context, builder, sig, args):  # noqa: ANN001, ANN202
        xv, gv, rv = args
        return builder.fadd(xv, builder.fmul(gv, rv))

    return x(x, g, r), codegen


@intrinsic
def vabs(typingctx, a):  # noqa: ANN001, ANN202
    """|a| lane by lane (llvm.fabs: the sign bit cleared, as numba's abs of a float)."""
    if not isinstance(a, Vec):
        raise TypeError(f"vabs: a vector expected, got {a}")

    def codegen(context, builder, sig, args):  # noqa: ANN001, ANN202
        vty = args[0].type
        elem = "f64" if vty.element == ir.DoubleType() else "f32"
        fnty = ir.FunctionType(vty, [vty])
        fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.fabs.v{vty.count}{elem}")
        return builder.call(fn, [args[0]])

    return a(a), codegen


@intrinsic
def fetch_add(typingctx, a, i, v):  # noqa: ANN001, ANN202
    """Atomically ``old = a[i]; a[i] += v``; returns ``old`` (``a`` a C-contiguous int64
    array).  Lets the threads of a parallel loop take work items one at a time from a
    shared counter (sequentially consistent: each item goes to exactly one thread)."""
    if not (isinstance(a, types.Array) and a.ndim == 1 and a.dtype == types.int64):
        raise TypeError(f"fetch_add: a 1-d int64 array expected, got {a}")

    def codegen(context, builder, sig, args):  # noqa: ANN001, ANN202
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1:2], sig.args[1:2])
        val = context.cast(builder, args[2], sig.args[2], types.int64)
        return builder.atomic_rmw("add", ptr, val, "seq_cst")

    return types.int64(a, i, v), codegen
