"""Compare two arrays: error statistics and a within-tolerance verdict.

An element is out of tolerance when |actual - expected| > atol + rtol * |expected| (numpy's
allclose rule, `expected` being the baseline). NaN matches NaN at the same place; Inf matches the
same Inf. Statistics are accumulated in blocks so that comparing a large tensor does not allocate
float64 copies of it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

BLOCK = 1 << 21  # elements per block


@dataclass(frozen=True)
class Tolerance:
    atol: float = 1e-5
    rtol: float = 1e-4


@dataclass
class Stats:
    """How far `actual` is from `expected`. `within` is the verdict."""

    within: bool
    max_abs: float = 0.0
    max_rel: float = 0.0
    mean_abs: float = 0.0
    cosine: float = 1.0
    frac_out: float = 0.0
    nan: tuple[int, int] = (0, 0)   # (expected, actual)
    inf: tuple[int, int] = (0, 0)
    shape: tuple | None = None
    note: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["nan"], d["inf"] = list(self.nan), list(self.inf)
        d["shape"] = list(self.shape) if self.shape is not None else None
        for key in ("max_abs", "max_rel", "mean_abs", "cosine", "frac_out"):
            d[key] = _json_float(d[key])
        return d

    @property
    def error(self) -> float:
        """One number for charts and ranking: max abs error (inf when not comparable)."""
        return self.max_abs if self.note in ("", "nan/inf mismatch") else math.inf


def _json_float(x: float):
    if x is None or math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def compare(expected, actual, tol: Tolerance) -> Stats:
    """Statistics of `actual` against the baseline `expected`."""
    if expected is None or actual is None:
        return Stats(False, math.inf, math.inf, math.inf, 0.0, 1.0, note="missing value")
    if not isinstance(expected, np.ndarray) or not isinstance(actual, np.ndarray):
        return _compare_other(expected, actual)
    if expected.shape != actual.shape:
        return Stats(False, math.inf, math.inf, math.inf, 0.0, 1.0, shape=tuple(actual.shape),
                     note=f"shape {list(actual.shape)} != {list(expected.shape)}")
    if expected.dtype.kind not in "fciub" or actual.dtype.kind not in "fciub":
        same = bool(np.array_equal(expected, actual))
        return Stats(same, 0.0 if same else math.inf, 0.0 if same else math.inf, 0.0, 1.0,
                     0.0 if same else 1.0, shape=tuple(expected.shape), note="" if same else "values differ")
    e, a = expected.reshape(-1), actual.reshape(-1)
    n = e.size
    max_abs = max_rel = sum_abs = dot = ee = aa = 0.0
    out = nan_e = nan_a = inf_e = inf_a = 0
    nonfinite_mismatch = False
    for start in range(0, max(n, 1), BLOCK):
        eb = e[start:start + BLOCK].astype(np.float64)
        ab = a[start:start + BLOCK].astype(np.float64)
        if eb.size == 0:
            break
        fe, fa = np.isfinite(eb), np.isfinite(ab)
        if not (fe.all() and fa.all()):
            nan_e += int(np.isnan(eb).sum())
            nan_a += int(np.isnan(ab).sum())
            inf_e += int(np.isinf(eb).sum())
            inf_a += int(np.isinf(ab).sum())
            same_special = (~fe & ~fa) & ((np.isnan(eb) & np.isnan(ab)) | (eb == ab))
            bad_special = (~fe | ~fa) & ~same_special
            if bad_special.any():
                nonfinite_mismatch = True
                out += int(bad_special.sum())
            both = fe & fa
            eb, ab = eb[both], ab[both]
        diff = np.abs(ab - eb)
        if diff.size:
            absb = np.abs(eb)
            max_abs = max(max_abs, float(diff.max()))
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(absb > 0, diff / absb, np.where(diff > 0, np.inf, 0.0))
            max_rel = max(max_rel, float(rel.max()))
            sum_abs += float(diff.sum())
            out += int(np.count_nonzero(diff > tol.atol + tol.rtol * absb))
            dot += float(np.dot(eb, ab))
            ee += float(np.dot(eb, eb))
            aa += float(np.dot(ab, ab))
    finite_n = n - max(nan_e + inf_e, nan_a + inf_a)
    if ee == 0.0 and aa == 0.0:
        cosine = 1.0
    elif ee == 0.0 or aa == 0.0:
        cosine = 0.0
    else:
        cosine = dot / math.sqrt(ee * aa)
    if nonfinite_mismatch:
        max_abs = math.inf
    return Stats(
        within=out == 0,
        max_abs=max_abs, max_rel=max_rel,
        mean_abs=sum_abs / finite_n if finite_n > 0 else 0.0,
        cosine=cosine, frac_out=out / n if n else 0.0,
        nan=(nan_e, nan_a), inf=(inf_e, inf_a), shape=tuple(expected.shape),
        note="nan/inf mismatch" if nonfinite_mismatch else "",
    )


def _compare_other(expected, actual) -> Stats:
    """Sequences (e.g. SplitToSequence) element by element; anything else by equality."""
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)) and len(expected) == len(actual):
        worst = Stats(True)
        for e, a in zip(expected, actual):
            s = compare(np.asarray(e), np.asarray(a), Tolerance())
            if not s.within or s.max_abs > worst.max_abs:
                worst = s
        return worst
    try:
        same = bool(expected == actual)
    except Exception:  # noqa: BLE001
        same = False
    return Stats(same, note="" if same else "values differ")


def array_summary(value) -> dict:
    """dtype, shape and min/max/mean/std of one value (for reports of a node's inputs)."""
    if not isinstance(value, np.ndarray):
        return {"type": type(value).__name__}
    out = {"dtype": str(value.dtype), "shape": list(value.shape)}
    if value.size and value.dtype.kind in "fiub":
        v = value.astype(np.float64) if value.dtype.kind != "f" else value
        finite = v[np.isfinite(v)] if v.dtype.kind == "f" else v
        if finite.size:
            out.update(min=float(finite.min()), max=float(finite.max()),
                       mean=float(finite.mean(dtype=np.float64)), std=float(finite.std(dtype=np.float64)))
        if v.dtype.kind == "f":
            out.update(nan=int(np.isnan(v).sum()), inf=int(np.isinf(v).sum()))
    return out
