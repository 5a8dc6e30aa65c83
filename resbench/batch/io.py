"""Input and output files of batches: the source values of many samples in, the answers out.

Inputs (:func:`read_inputs`), one column per source and one row per sample:

- ``.csv``: a header row of source names, then one row of numbers per sample;
- ``.npy``: a 2-D array ``[samples, sources]`` whose columns are the sources in
  the order of ``names`` (the file carries no names); 1-D is one sample;
- ``.npz``: one 1-D array per source name (all of one length), or a 2-D array
  ``values`` with a 1-D string array ``names`` (the layout :func:`write_batch`
  writes, so an output file can be read back as inputs).

Source names are matched case-insensitively (the netlist reader lower-cases them).
A file may hold a subset of the network's sources: the others keep their netlist
values.  Every problem is an :class:`~resbench.errors.InputError` that names the
file, the row and column, and what to do; the reader never lets a numpy or pandas
traceback through.

Outputs (:func:`write_batch`): ``.npz`` (every array of the
:class:`~resbench.batch.result.BatchResult`), ``.csv`` and ``.parquet`` (its
:meth:`~resbench.batch.result.BatchResult.to_frame`; parquet needs pyarrow, the
``io`` extra).  Files are replaced atomically: a reader never sees half a file.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from resbench.errors import InputError, quote

if TYPE_CHECKING:
    import pandas as pd

    from resbench.batch.result import BatchResult
    from resbench.circuit import Circuit

__all__ = [
    "INPUT_FORMATS",
    "OUTPUT_FORMATS",
    "read_inputs",
    "write_batch",
    "write_table",
]

#: extensions :func:`read_inputs` reads
INPUT_FORMATS = (".csv", ".npy", ".npz")
#: extensions :func:`write_batch` writes
OUTPUT_FORMATS = (".npz", ".csv", ".parquet")
#: at most this many names are listed in a message (the rest are counted)
_LISTED = 12
_CSV_LINE_CHARS = 40  # a cell quoted in a message is cut after this many characters


# ------------------------------------------------------------------ messages
def _names(names: Sequence[str], limit: int = _LISTED) -> str:
    """``a, b, c … (+N more)``: names for a message, bounded."""
    shown = ", ".join(names[:limit])
    if len(names) > limit:
        shown += f" … (+{len(names) - limit:,} more)"
    return shown or "(none)"


def _fail(path: str | os.PathLike, message: str, hint: str) -> InputError:
    return InputError(f"{path}: {message}; {hint}")


# ------------------------------------------------------------------ columns
def _column_names(
    path: str | os.PathLike,
    raw: Sequence[str],
    names: Sequence[str] | None,
    circuit: Circuit | None,
    require_all: bool,
) -> list[str]:
    """The canonical (valid-input) names of the file's columns, in the file's order.
    Refuses unnamed, duplicated, unknown and non-input columns, and
    (``require_all``) missing ones."""
    cols = [str(c).strip() for c in raw]
    for j, c in enumerate(cols):
        if not c:
            raise _fail(
                path,
                f"column {j + 1} has no name",
                "give every column a source name (the header row names the sources)",
            )
    lower = [c.lower() for c in cols]
    seen: dict[str, int] = {}
    dups: list[str] = []
    for j, c in enumerate(lower):
        if c in seen and c not in dups:
            dups.append(c)
        seen.setdefault(c, j)
    if dups:
        raise _fail(
            path,
            f"duplicated column(s) {_names([quote(d) for d in dups])}",
            "give each source one column",
        )
    if names is None:
        return lower
    valid = {str(n).lower(): str(n) for n in names}
    unknown = [cols[j] for j, c in enumerate(lower) if c not in valid]
    if unknown:
        raise _unknown_columns(path, unknown, list(valid.values()), circuit)
    canonical = [valid[c] for c in lower]
    if require_all:
        missing = [n for k, n in valid.items() if k not in seen]
        if missing:
            raise _fail(
                path,
                f"missing column(s) {_names([quote(m) for m in missing])}",
                f"add one column per input ({len(valid):,} in all)",
            )
    return canonical


def _unknown_columns(
    path: str | os.PathLike, unknown: list[str], valid: list[str], circuit: Circuit | None
) -> InputError:
    """The error for columns that name no input: an element that is not a source, a
    source that is not one of the network's inputs, or nothing in the circuit."""
    kinds: dict[str, str] = {}
    if circuit is not None:
        for n in circuit.nodes:
            kinds.setdefault(n, "a node")
        for n in circuit.resistors.names:
            kinds[n] = "a resistor"
        for n in circuit.diodes.names:
            kinds[n] = "a diode"
        for n in list(circuit.vsources.names) + list(circuit.isources.names):
            kinds[n] = "a source that is not an input of this network"
    parts = []
    for u in unknown[:_LISTED]:
        kind = kinds.get(u.lower())
        parts.append(f"{quote(u)} ({kind})" if kind else quote(u))
    if len(unknown) > _LISTED:
        parts.append(f"… (+{len(unknown) - _LISTED:,} more)")
    what = "is not an input" if len(unknown) == 1 else "are not inputs"
    hint = f"name columns after the input sources (V or I sources): {_names(valid)}"
    if any(sep in u for u in unknown for sep in ";\t"):
        hint = "separate columns with commas; " + hint
    return _fail(path, f"column(s) {', '.join(parts)} {what}", hint)


# ------------------------------------------------------------------ values
def _check_values(path: str | os.PathLike, values: np.ndarray, names: list[str], rows: str):
    """Refuse zero rows and NaN / inf (naming the first bad row and column).  ``rows``
    says how rows are counted in this format (``row`` of data / ``sample``)."""
    if values.shape[0] == 0:
        raise _fail(path, "no samples (zero rows)", "add one row of source values per sample")
    bad = ~np.isfinite(values)
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        raise _fail(
            path,
            f"{rows} {i + 1} (index {i}), column {quote(names[j])}: {float(values[i, j])!r} "
            "is not a finite number",
            "every source value must be a finite number (no NaN or inf)",
        )


def _as_float(path: str | os.PathLike, arr: np.ndarray, what: str) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise _fail(
            path,
            f"{what} holds {arr.dtype} data, not numbers",
            "save the source values as a numeric (float) array",
        )
    return arr.astype(np.float64)


# ------------------------------------------------------------------ csv
_NUMBER = re.compile(
    r"^\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf(inity)?|nan)\s*$"
)


def _cell(path, text: str, line: int, name: str) -> float:
    """One CSV cell as a float, or an InputError naming its line and column."""
    if not _NUMBER.match(text.lower()):
        shown = text.strip()
        if len(shown) > _CSV_LINE_CHARS:
            shown = shown[:_CSV_LINE_CHARS] + "…"
        why = "an empty cell" if not shown else f"{quote(shown)} is not a number"
        raise _fail(
            path,
            f"line {line}, column {quote(name)}: {why}",
            "every cell below the header must be a number (the source value in V or A)",
        )
    return float(text)


def _csv_slow(path: Path, header_lines: int, names: list[str]) -> np.ndarray:
    """The rows after the header parsed with the csv module, cell by cell: exact line and
    column of the first ragged row, non-numeric cell or non-finite value.  Used when the
    fast reader refused the file, to say where and why."""
    ncols = len(names)
    rows: list[list[float]] = []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        for row in reader:
            if reader.line_num <= header_lines or not any(c.strip() for c in row):
                continue  # the header (and what precedes it), or a blank line
            line = reader.line_num
            if len(row) != ncols:
                raise _fail(
                    path,
                    f"line {line} has {len(row)} cell(s), the header has {ncols}",
                    "give every row one value per column (no missing or extra cells)",
                )
            vals = [_cell(path, c, line, names[j]) for j, c in enumerate(row)]
            for j, v in enumerate(vals):
                if not math.isfinite(v):
                    raise _fail(
                        path,
                        f"line {line}, column {quote(names[j])}: {quote(row[j].strip())} is "
                        "not a finite number",
                        "every source value must be a finite number (no NaN or inf)",
                    )
            rows.append(vals)
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), ncols)


def _csv_header(path: Path) -> tuple[list[str] | None, int]:
    """The first non-blank row of the file and the number of lines up to it."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        for row in reader:
            if any(c.strip() for c in row):
                return row, reader.line_num
        return None, reader.line_num


def _read_csv(
    path: Path, names: Sequence[str] | None, circuit: Circuit | None, require_all: bool
) -> tuple[list[str], np.ndarray]:
    """Header first (csv module); the body by pandas' C reader straight from the file (a
    big file is never held as text), or, when that refuses it, by :func:`_csv_slow`."""
    try:
        header, header_lines = _csv_header(path)
        if header is None:
            raise _fail(
                path,
                "empty file",
                "write a header row of source names, then one row of values per sample",
            )
        if all(_NUMBER.match(c.lower()) for c in header):
            raise _fail(
                path,
                f"line {header_lines} holds numbers, not source names",
                "start the file with a header row naming the source of each column",
            )
        canonical = _column_names(path, header, names, circuit, require_all)
        values = _csv_fast(path, header_lines, len(header))
        if values is None:
            values = _csv_slow(path, header_lines, canonical)
    except UnicodeDecodeError:
        raise _fail(
            path,
            "not UTF-8 text",
            "save it as a UTF-8 CSV file (a header row of source names, one row per sample)",
        ) from None
    except csv.Error as exc:
        raise _fail(path, f"not a readable CSV file ({exc})", "fix its quoting") from None
    if values.shape[0] == 0:
        raise _fail(
            path, "no samples: a header and no rows", "add one row of source values per sample"
        )
    _check_values(path, values, canonical, "row")
    return canonical, values


def _csv_fast(path: Path, header_lines: int, ncols: int) -> np.ndarray | None:
    """pandas' C reader on every line after the header; None when anything is off (a
    ragged row, a cell that is not a number, NaN / inf): then the slow reader says where."""
    import pandas as pd

    try:
        df = pd.read_csv(
            path,
            header=None,
            skiprows=header_lines,
            dtype=np.float64,
            na_filter=False,
            skip_blank_lines=True,
            engine="c",
            encoding="utf-8-sig",
        )
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None  # (UnicodeDecodeError is a ValueError: the slow reader reports it)
    if df.shape[1] != ncols:
        return None
    values = df.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        return None
    return values


# ------------------------------------------------------------------ npy / npz
def _read_npy(
    path: Path, names: Sequence[str] | None, circuit: Circuit | None, require_all: bool
) -> tuple[list[str], np.ndarray]:
    if names is None:
        raise _fail(
            path,
            "a .npy file has no column names",
            "use a .csv or .npz file that names the sources, or give the names",
        )
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        raise _fail(
            path,
            f"not a readable .npy array ({exc})",
            "save the values with numpy.save as a 2-D float array [samples, sources]",
        ) from None
    names = [str(n) for n in names]
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise _fail(
            path,
            f"a {arr.ndim}-D array of shape {arr.shape}",
            "save a 2-D array [samples, sources] (or 1-D for one sample)",
        )
    if arr.shape[1] != len(names):
        raise _fail(
            path,
            f"{arr.shape[1]:,} column(s), the network has {len(names):,} input(s) "
            f"({_names(names)})",
            "give one column per input, in that order (or use .csv / .npz with names)",
        )
    values = _as_float(path, arr, "the array")
    _check_values(path, values, names, "row")
    return names, values  # every input is a column (require_all holds)


def _read_npz(
    path: Path, names: Sequence[str] | None, circuit: Circuit | None, require_all: bool
) -> tuple[list[str], np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, EOFError, zipfile.BadZipFile, OSError) as exc:
        if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        raise _fail(
            path,
            f"not a readable .npz archive of numeric arrays ({exc})",
            "save it with numpy.savez(file, name=values, ...) (string names, numeric values)",
        ) from None
    if not arrays:
        raise _fail(path, "empty file (no arrays)", "save one array per source name")
    if "values" in arrays and ("names" in arrays or arrays["values"].ndim == 2):
        return _npz_values_names(path, arrays, names, circuit, require_all)
    cols = list(arrays)
    canonical = _column_names(path, cols, names, circuit, require_all)
    lengths = {}
    for k in cols:
        a = arrays[k]
        if a.ndim > 1:
            raise _fail(
                path,
                f"array {quote(k)} has shape {a.shape}",
                "save one 1-D array per source (one value per sample)",
            )
        lengths[k] = a.size
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{quote(k)}: {n:,}" for k, n in list(lengths.items())[:_LISTED])
        raise _fail(
            path,
            f"arrays of different lengths ({shown})",
            "give every source the same number of samples",
        )
    columns = [_as_float(path, arrays[k].reshape(-1), f"array {quote(k)}") for k in cols]
    values = np.stack(columns, axis=1) if columns else np.zeros((0, 0))
    _check_values(path, values, canonical, "sample")
    return canonical, values


def _npz_values_names(
    path: Path,
    arrays: dict[str, np.ndarray],
    names: Sequence[str] | None,
    circuit: Circuit | None,
    require_all: bool,
) -> tuple[list[str], np.ndarray]:
    """The ``values`` + ``names`` layout of an .npz file."""
    if "names" not in arrays:
        raise _fail(
            path,
            "a 2-D array 'values' without the array 'names'",
            "add a 1-D string array 'names' (one source name per column of 'values')",
        )
    raw_names, arr = arrays["names"], arrays["values"]
    if raw_names.ndim != 1 or raw_names.dtype.kind not in "US":
        raise _fail(
            path,
            f"'names' is a {raw_names.ndim}-D {raw_names.dtype} array",
            "save 'names' as a 1-D array of strings, one per column of 'values'",
        )
    col_names = [n.decode() if isinstance(n, bytes) else str(n) for n in raw_names.tolist()]
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise _fail(
            path,
            f"'values' is a {arr.ndim}-D array of shape {arr.shape}",
            "save 'values' as a 2-D array [samples, sources]",
        )
    if arr.shape[1] != len(col_names):
        raise _fail(
            path,
            f"'values' has {arr.shape[1]:,} column(s) and 'names' {len(col_names):,} name(s)",
            "give one name per column of 'values'",
        )
    canonical = _column_names(path, col_names, names, circuit, require_all)
    values = _as_float(path, arr, "'values'")
    _check_values(path, values, canonical, "row")
    return canonical, values


# ------------------------------------------------------------------ entry points
_READERS = {".csv": _read_csv, ".npy": _read_npy, ".npz": _read_npz}


def read_inputs(
    path: str | os.PathLike,
    names: Sequence[str] | None = None,
    *,
    circuit: Circuit | None = None,
    require_all: bool = False,
) -> tuple[list[str], np.ndarray]:
    """Read the source values of a batch: ``(column names, values[samples, columns])``.

    ``names`` are the valid inputs (e.g. every independent source of the circuit, or a
    Network's ``input_names``): file columns are matched to them case-insensitively and
    returned spelled as in ``names``; columns naming anything else are refused (with
    ``circuit``, the message says whether the name is a node, a resistor, a diode or a
    source that is not an input).  ``None`` accepts any (lower-cased) names, except for
    ``.npy``, whose columns are ``names`` in order and so need them.  A file may hold
    a subset of ``names`` unless ``require_all``.  Raises InputError for every bad file.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        raise _fail(
            path,
            f"unknown input format {quote(p.suffix or '(no extension)')}",
            f"use one of {', '.join(INPUT_FORMATS)}",
        )
    try:
        if p.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        if p.exists() and not p.is_file():
            raise _fail(
                path,
                "not a regular file (a pipe or a device)",
                "save the inputs to a file and give its path",
            )
        return reader(p, names, circuit, require_all)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        hint = {
            FileNotFoundError: "check the path",
            PermissionError: "make it readable, or copy it somewhere readable",
            IsADirectoryError: "give the input file, not a folder",
        }.get(type(exc), "check the file")
        raise _fail(path, f"cannot read it: {reason}", hint) from None


def _npz_bytes(result: BatchResult) -> bytes:
    """Every array of ``result`` as an .npz archive (strings as unicode arrays)."""
    arrays: dict[str, np.ndarray] = {
        "values": np.asarray(result.values, dtype=np.float64),
        "names": np.asarray(result.input_names, dtype=str),
        "voltages": np.asarray(result.voltages, dtype=np.float64),
        "node_names": np.asarray(result.node_names, dtype=str),
        "status": np.asarray(result.status, dtype=str),
        "messages": np.asarray(result.messages, dtype=str),
        "sweeps": np.asarray(result.sweeps, dtype=np.int64),
        "polished": np.asarray(result.polished, dtype=bool),
        "dtype": np.asarray(result.dtype),
    }
    cert = result.certificate
    if cert is not None:
        for field in cert.PER_SAMPLE:
            arrays[f"cert_{field}"] = np.asarray(getattr(cert, field))
    circuit = result.circuit
    if result.diode_current is not None:
        arrays["diode_current"] = np.asarray(result.diode_current, dtype=np.float64)
        arrays["diode_names"] = np.asarray(list(circuit.diodes.names), dtype=str)
    if result.vsource_current is not None:
        arrays["vsource_current"] = np.asarray(result.vsource_current, dtype=np.float64)
        arrays["vsource_names"] = np.asarray(list(circuit.vsources.names), dtype=str)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _parquet_bytes(df: pd.DataFrame, path: str | os.PathLike) -> bytes:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise InputError(
            f"{path}: writing .parquet needs pyarrow, which is not installed; install "
            "resbench's io extra (pip install 'resbench[io]', or pip install pyarrow), "
            "or write .csv / .npz"
        ) from None
    buf = io.BytesIO()
    df.to_parquet(buf, index=False, engine="pyarrow")
    return buf.getvalue()


def _output_format(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise InputError(
            f"{path}: cannot tell the output format from {quote(Path(path).suffix or '(none)')}; "
            f"name the file with one of {', '.join(OUTPUT_FORMATS)}"
        )
    return suffix


def check_output(path: str | os.PathLike) -> None:
    """Refuse, before any work, an output path whose format :func:`write_batch` cannot
    write (unknown extension, or .parquet without pyarrow)."""
    if _output_format(path) == ".parquet":
        import pandas as pd

        _parquet_bytes(pd.DataFrame({"x": [0.0]}), path)


def write_table(df: pd.DataFrame, path: str | os.PathLike, *, option: str = "-o") -> Path:
    """Write a table atomically, the format from the extension: ``.csv``, ``.parquet``, or
    ``.npz`` (one array per column; text columns as strings)."""
    from resbench.files import atomic_write_bytes, atomic_write_text

    fmt = _output_format(path)
    if fmt == ".csv":
        return atomic_write_text(path, df.to_csv(index=False, lineterminator="\n"), option=option)
    if fmt == ".parquet":
        return atomic_write_bytes(path, _parquet_bytes(df, path), option=option)
    buf = io.BytesIO()
    arrays = {}
    for c in df.columns:
        col = df[c].to_numpy()
        arrays[str(c)] = col.astype(str) if col.dtype == object else col
    np.savez(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue(), option=option)


def write_batch(result: BatchResult, path: str | os.PathLike, *, option: str = "-o") -> Path:
    """Write a batch's answers atomically; the format from the extension.

    ``.npz``: arrays ``values`` and ``names`` (the inputs, readable again by
    :func:`read_inputs`), ``voltages`` ``[B, n_nodes]`` with ``node_names`` (ground
    first), ``status``, ``messages``, ``sweeps``, ``polished``, ``dtype``, the
    certificate as ``cert_<field>`` arrays, and ``diode_current`` / ``vsource_current``
    with their names when they were computed.  ``.csv`` / ``.parquet``: the table of
    :meth:`BatchResult.to_frame` (one row per sample).  Unknown extension, or parquet
    without pyarrow: InputError (nothing written); an unwritable path: ResbenchError
    naming ``option``.
    """
    from resbench.files import atomic_write_bytes

    fmt = _output_format(path)
    if fmt == ".npz":
        return atomic_write_bytes(path, _npz_bytes(result), option=option)
    return write_table(result.to_frame(), path, option=option)
