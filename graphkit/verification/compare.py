"""Compare two arrays: error statistics and a within-tolerance verdict.

Each element has a normalized error  |actual - expected| / (atol + rtol * |expected|)  (`expected`
being the baseline): at most 1 means within numpy's allclose rule. With atol = rtol = 0 (integers)
any difference is an infinite error. The verdict takes one statistic of the normalized errors
(Polygraphy's --check-error-stat): `max` (the default: every element within), `mean`, `median`, or
a quantile such as `0.99`; the value is within when that statistic is at most 1.

NaN matches NaN at the same place; Inf matches the same Inf; any other non-finite mismatch is out.
`max_rel` counts only elements whose expected value is meaningful against atol (|expected| > atol):
1e-7 against 2e-7 is not a 50 % error when atol is 1e-5. Statistics are accumulated in blocks so a
large tensor is never copied whole to float64.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

BLOCK = 1 << 21  # elements per block
STATS = ("max", "mean", "median")


@dataclass(frozen=True)
class Tolerance:
    """atol/rtol of the allclose rule and the statistic that decides (see the module doc)."""

    atol: float = 1e-5
    rtol: float = 1e-4
    stat: str = "max"

    def __post_init__(self):
        check_error_stat(self.stat)

    @property
    def exact(self) -> bool:
        return self.atol == 0 and self.rtol == 0

    def to_dict(self) -> dict:
        return {"atol": self.atol, "rtol": self.rtol, "stat": self.stat}


def check_error_stat(stat: str) -> str:
    """`max`, `mean`, `median` or a quantile in (0, 1) written as a number; ValueError otherwise."""
    if stat in STATS:
        return stat
    try:
        q = float(stat)
    except (TypeError, ValueError):
        q = math.nan
    if not 0.0 < q < 1.0:
        raise ValueError(f"error statistic must be max, mean, median or a quantile in (0, 1), got {stat!r}")
    return stat


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
    max_expected: float = 0.0       # largest finite |expected|: the scale of the value
    error_stat: float = 0.0         # the tolerance's statistic of the normalized error (<= 1: within)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["nan"], d["inf"] = list(self.nan), list(self.inf)
        d["shape"] = list(self.shape) if self.shape is not None else None
        for key in ("max_abs", "max_rel", "mean_abs", "cosine", "frac_out", "max_expected", "error_stat"):
            d[key] = json_float(d[key])
        return d

    @property
    def error(self) -> float:
        """One number for charts and ranking: max abs error (inf when not comparable)."""
        return self.max_abs if self.note in ("", "nan/inf mismatch") else math.inf

    @property
    def relative_error(self) -> float:
        """max abs error against the value's scale (max |expected|): how much of the value is wrong."""
        if not self.comparable:
            return math.inf
        if self.max_abs == 0:
            return 0.0
        return self.max_abs / self.max_expected if self.max_expected > 0 else math.inf

    @property
    def comparable(self) -> bool:
        return self.note in ("", "nan/inf mismatch", "values differ")


def json_float(x: float):
    if x is None or math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _missing(note: str, shape=None) -> Stats:
    return Stats(False, math.inf, math.inf, math.inf, 0.0, 1.0, shape=shape, note=note, error_stat=math.inf)


def compare(expected, actual, tol: Tolerance) -> Stats:
    """Statistics of `actual` against the baseline `expected`."""
    if expected is None or actual is None:
        return _missing("missing value")
    if not isinstance(expected, np.ndarray) or not isinstance(actual, np.ndarray):
        return _compare_other(expected, actual, tol)
    if expected.shape != actual.shape:
        return _missing(f"shape {list(actual.shape)} != {list(expected.shape)}", tuple(actual.shape))
    kinds = numeric_kind(expected.dtype), numeric_kind(actual.dtype)
    if "c" in kinds and None not in kinds:  # complex: real and imaginary parts side by side
        return compare(_complex_pairs(expected), _complex_pairs(actual), tol)
    if None in kinds:
        same = bool(np.array_equal(expected, actual))
        return Stats(same, 0.0 if same else math.inf, 0.0 if same else math.inf, 0.0, 1.0,
                     0.0 if same else 1.0, shape=tuple(expected.shape), note="" if same else "values differ",
                     error_stat=0.0 if same else math.inf)
    acc = _Accumulator(tol, expected.size)
    e, a = expected.reshape(-1), actual.reshape(-1)
    for start in range(0, e.size, BLOCK):
        acc.add(e[start:start + BLOCK], a[start:start + BLOCK])
    return acc.stats(tuple(expected.shape))


class _Accumulator:
    """Running statistics over blocks of (expected, actual)."""

    def __init__(self, tol: Tolerance, n: int):
        self.tol, self.n = tol, n
        self.max_abs = self.max_rel = self.sum_abs = self.dot = self.ee = self.aa = self.max_e = 0.0
        self.max_norm = 0.0
        self.out = self.nan_e = self.nan_a = self.inf_e = self.inf_a = 0
        self.nonfinite_mismatch = False
        self.norms: list[np.ndarray] | None = None if tol.stat == "max" else []

    def add(self, expected: np.ndarray, actual: np.ndarray) -> None:
        eb, ab = _as_float64(expected), _as_float64(actual)
        fe, fa = np.isfinite(eb), np.isfinite(ab)
        bad_special = None
        if not (fe.all() and fa.all()):
            self.nan_e += int(np.isnan(eb).sum())
            self.nan_a += int(np.isnan(ab).sum())
            self.inf_e += int(np.isinf(eb).sum())
            self.inf_a += int(np.isinf(ab).sum())
            same_special = (~fe & ~fa) & ((np.isnan(eb) & np.isnan(ab)) | (eb == ab))
            bad_special = (~fe | ~fa) & ~same_special
            if bad_special.any():
                self.nonfinite_mismatch = True
                self.out += int(bad_special.sum())
            both = fe & fa
            eb, ab = eb[both], ab[both]
        if eb.size:
            self._add_finite(eb, ab)
        if self.norms is not None and bad_special is not None:
            self.norms.append(np.full(int(bad_special.sum()), np.inf, np.float32))
            self.norms.append(np.zeros(int(((~fe & ~fa) & ~bad_special).sum()), np.float32))

    def _add_finite(self, eb: np.ndarray, ab: np.ndarray) -> None:
        tol = self.tol
        diff = np.abs(ab - eb)
        absb = np.abs(eb)
        self.max_abs = max(self.max_abs, float(diff.max()))
        self.max_e = max(self.max_e, float(absb.max()))
        meaningful = absb > tol.atol
        if meaningful.any():
            self.max_rel = max(self.max_rel, float((diff[meaningful] / absb[meaningful]).max()))
        self.sum_abs += float(diff.sum())
        allowed = tol.atol + tol.rtol * absb
        self.out += int(np.count_nonzero(diff > allowed))
        with np.errstate(divide="ignore", invalid="ignore"):
            norm = np.where(diff > 0, diff / allowed, 0.0)
        self.max_norm = max(self.max_norm, float(norm.max()))
        if self.norms is not None:
            self.norms.append(norm.astype(np.float32))
        self.dot += float(np.dot(eb, ab))
        self.ee += float(np.dot(eb, eb))
        self.aa += float(np.dot(ab, ab))

    def stats(self, shape: tuple) -> Stats:
        n = self.n
        finite_n = n - max(self.nan_e + self.inf_e, self.nan_a + self.inf_a)
        if self.ee == 0.0 and self.aa == 0.0:
            cosine = 1.0
        elif self.ee == 0.0 or self.aa == 0.0:
            cosine = 0.0
        else:
            cosine = self.dot / math.sqrt(self.ee * self.aa)
        stat = math.inf if self.nonfinite_mismatch else self.max_norm
        if self.norms is not None:
            stat = _statistic(self.norms, self.tol.stat)
        return Stats(
            within=stat <= 1.0,
            max_abs=math.inf if self.nonfinite_mismatch else self.max_abs, max_rel=self.max_rel,
            mean_abs=self.sum_abs / finite_n if finite_n > 0 else 0.0,
            cosine=cosine, frac_out=self.out / n if n else 0.0,
            nan=(self.nan_e, self.nan_a), inf=(self.inf_e, self.inf_a), shape=shape,
            note="nan/inf mismatch" if self.nonfinite_mismatch else "",
            max_expected=self.max_e, error_stat=stat,
        )


def _statistic(parts: list[np.ndarray], stat: str) -> float:
    values = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if values.size == 0:
        return 0.0
    if stat == "mean":
        return float(values.astype(np.float64).mean())
    q = 0.5 if stat == "median" else float(stat)
    return float(np.quantile(values, q, method="higher"))


def numeric_kind(dtype: np.dtype) -> str | None:
    """'f' (floats, ml_dtypes' bfloat16/float8/float4 included), 'i'/'u' (int4/uint4 too), 'b', 'c',
    or None for anything compared by equality (strings, objects)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "fiubc":
        return dtype.kind
    name = dtype.name
    if name.startswith(("bfloat16", "float8", "float4", "float6")):
        return "f"
    if name in ("int4", "int2"):
        return "i"
    if name in ("uint4", "uint2"):
        return "u"
    return None


def _complex_pairs(value: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(value, dtype=np.complex128).view(np.float64)


def _as_float64(block: np.ndarray) -> np.ndarray:
    return block.astype(np.float64)


def _compare_other(expected, actual, tol: Tolerance) -> Stats:
    """Sequences (SplitToSequence, ZipMap's list of maps) element by element, maps (dict) key by
    key with their values compared as numbers; the worst element decides. Anything else by
    equality."""
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        if len(expected) != len(actual):
            return _missing(f"sequence of {len(actual)} != {len(expected)}")
        return _worst(compare(_element(e), _element(a), tol) for e, a in zip(expected, actual))
    if isinstance(expected, dict) and isinstance(actual, dict):
        if set(expected) != set(actual):
            missing = sorted(map(str, set(expected) ^ set(actual)))[:3]
            return _missing(f"map keys differ ({', '.join(missing)})")
        keys = list(expected)
        return compare(np.asarray([expected[k] for k in keys]), np.asarray([actual[k] for k in keys]), tol)
    try:
        same = bool(expected == actual)
    except Exception:  # noqa: BLE001
        same = False
    return Stats(same, note="" if same else "values differ", error_stat=0.0 if same else math.inf)


def _element(value):
    return value if isinstance(value, (dict, list, tuple)) else np.asarray(value)


def _worst(stats) -> Stats:
    worst = Stats(True)
    for s in stats:
        if not s.within or s.error_stat > worst.error_stat:
            worst = s
            if not s.within:
                break
    return worst


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
