"""Which tolerance applies to a value: per dtype, per output, quantized tensors in steps.

Defaults per element type, relative to what a correct implementation can differ by after a chain
of ops that each round once (a few units in the last place, more for the narrow types):

    float64   atol 1e-10  rtol 1e-9
    float32   atol 1e-5   rtol 1e-4     (~840 ulps: BLAS summation order, fused multiply-adds)
    float16   atol 1e-3   rtol 1e-2     (~10 ulps of eps 2**-10)
    bfloat16  atol 1e-2   rtol 5e-2     (~6 ulps of eps 2**-7)
    float8/4  atol 0      rtol 2 eps    (one step either way)
    integers, booleans, strings: exact
    quantized tensors (the integer outputs of QuantizeLinear, DynamicQuantizeLinear, QLinear*,
    QGemm...): one quantization step (atol 1): a float rounding just before quantization may
    move a value across a rounding boundary.

A user's atol / rtol replace the defaults of every floating type (Polygraphy's meaning); `--tol
NAME=ATOL,RTOL` sets one value's tolerance, whatever its type; the error statistic (max, mean,
median, quantile) applies to every comparison.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import onnx

from graphkit.errors import UsageError
from graphkit.verification.compare import Stats, Tolerance, check_error_stat, compare, numeric_kind

FLOAT_DEFAULTS = {
    "float64": (1e-10, 1e-9),
    "float32": (1e-5, 1e-4),
    "float16": (1e-3, 1e-2),
    "bfloat16": (1e-2, 5e-2),
}
NARROW_FLOAT_EPS = {"float8_e4m3fn": 0.125, "float8_e4m3fnuz": 0.125, "float8_e5m2": 0.25,
                    "float8_e5m2fnuz": 0.25, "float8_e8m0fnu": 1.0, "float4_e2m1fn": 0.5}
QUANTIZED_STEP = Tolerance(1.0, 0.0)
EXACT = Tolerance(0.0, 0.0)


def quantizing_op(op_type: str) -> bool:
    """Ops whose integer outputs are quantized values (ONNX and onnxruntime's com.microsoft)."""
    return op_type in ("QuantizeLinear", "DynamicQuantizeLinear", "QGemm") or op_type.startswith("QLinear")


def quantized_values(graph: onnx.GraphProto) -> set[str]:
    """Names of the values quantizing ops produce (their integer outputs; float ones stay float)."""
    names: set[str] = set()
    for node in graph.node:
        if quantizing_op(node.op_type):
            names.update(n for n in node.output if n)
    return names


class Tolerances:
    """The tolerance of each compared value. `atol`/`rtol` None keep the per-dtype defaults."""

    def __init__(self, atol: float | None = None, rtol: float | None = None, stat: str = "max",
                 per_value: Mapping[str, tuple[float, float]] | None = None, quantized: Iterable[str] = ()):
        try:
            self.stat = check_error_stat(str(stat))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        for what, x in (("atol", atol), ("rtol", rtol)):
            if x is not None and not (x >= 0):
                raise UsageError(f"{what} must be a non-negative number, got {x}")
        self.atol, self.rtol = atol, rtol
        self.per_value = {k: Tolerance(float(a), float(r), self.stat) for k, (a, r) in (per_value or {}).items()}
        self.quantized = set(quantized)
        self.declared: dict[str, np.dtype] = {}

    def with_model(self, graph: onnx.GraphProto) -> Tolerances:
        """The same settings, knowing which of `graph`'s values are quantized and the element
        types declared for sequence and map values (a runtime may hand their elements back as
        Python floats: ZipMap's probabilities are float32 by declaration)."""
        out = Tolerances(self.atol, self.rtol, self.stat, quantized=quantized_values(graph))
        out.per_value = dict(self.per_value)
        out.declared = declared_element_types(graph)
        return out

    def for_value(self, name: str, value) -> Tolerance:
        if name in self.per_value:
            return self.per_value[name]
        dtype = getattr(value, "dtype", None)
        kind = numeric_kind(dtype) if dtype is not None else None
        if kind in ("i", "u") and name in self.quantized:
            return Tolerance(QUANTIZED_STEP.atol, QUANTIZED_STEP.rtol, self.stat)
        if kind == "f":
            return self.for_float(np.dtype(dtype))
        if kind == "c":
            return self.for_float(np.dtype(np.float64 if np.dtype(dtype).itemsize == 16 else np.float32))
        return Tolerance(0.0, 0.0, self.stat)

    def for_float(self, dtype: np.dtype) -> Tolerance:
        name = dtype.name
        if name in FLOAT_DEFAULTS:
            atol, rtol = FLOAT_DEFAULTS[name]
        else:
            atol, rtol = 0.0, 2 * NARROW_FLOAT_EPS.get(name, 0.5)
        return Tolerance(self.atol if self.atol is not None else atol,
                         self.rtol if self.rtol is not None else rtol, self.stat)

    def compare(self, name: str, expected, actual) -> Stats:
        """compare() with this value's tolerance (taken from the baseline's value)."""
        probe = _probe(expected if expected is not None else actual)
        if probe.dtype.kind == "f" and probe.dtype == np.float64 and name in self.declared:
            probe = probe.astype(self.declared[name])  # Python floats stand for the declared type
        return compare(expected, actual, self.for_value(name, probe))

    def to_dict(self) -> dict:
        return {
            "atol": self.atol, "rtol": self.rtol, "stat": self.stat,
            "defaults": {k: {"atol": self.atol if self.atol is not None else a,
                             "rtol": self.rtol if self.rtol is not None else r}
                         for k, (a, r) in FLOAT_DEFAULTS.items()},
            "quantized_step": {"atol": QUANTIZED_STEP.atol, "rtol": QUANTIZED_STEP.rtol},
            "overrides": {k: {"atol": t.atol, "rtol": t.rtol} for k, t in self.per_value.items()},
        }

    def describe(self) -> str:
        """One line for the terminal report."""
        if self.atol is not None and self.rtol is not None:
            text = f"atol={self.atol:g} rtol={self.rtol:g} (every float type)"
        else:
            text = "per dtype: " + ", ".join(
                f"{k} {t.atol:g}/{t.rtol:g}" for k in ("float32", "float16", "bfloat16")
                for t in [self.for_float(np.dtype(k) if k != "bfloat16" else _bfloat16())])
            text += "; integers exact; quantized tensors 1 step"
        if self.stat != "max":
            text += f"; statistic {self.stat}"
        if self.per_value:
            text += "; " + ", ".join(f"{k}: {t.atol:g}/{t.rtol:g}" for k, t in self.per_value.items())
        return text


def declared_element_types(graph: onnx.GraphProto) -> dict[str, np.dtype]:
    """{value: numpy dtype} of the innermost tensor type of sequence- and map-typed values."""
    out = {}
    for vi in [*graph.output, *graph.value_info]:
        t = vi.type
        for _ in range(4):
            if t.HasField("sequence_type"):
                t = t.sequence_type.elem_type
            elif t.HasField("map_type"):
                t = t.map_type.value_type
            else:
                break
        if t is not vi.type and t.HasField("tensor_type") and t.tensor_type.elem_type:
            try:
                out[vi.name] = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.tensor_type.elem_type))
            except Exception:  # noqa: BLE001,S112 - strings and unknown enums: compared by equality
                continue
    return out


def _probe(value):
    """An array whose dtype stands for `value`'s elements: a sequence's first element, a map's first
    value (ZipMap: a list of dicts of float probabilities)."""
    for _ in range(4):
        if isinstance(value, (list, tuple)) and value:
            value = value[0]
        elif isinstance(value, dict) and value:
            value = next(iter(value.values()))
        else:
            break
    return np.asarray(value)


def _bfloat16() -> np.dtype:
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16)


def parse_tol(text: str) -> tuple[str, tuple[float, float]]:
    """'NAME=ATOL,RTOL' -> (NAME, (atol, rtol))."""
    name, sep, values = text.rpartition("=")
    parts = values.split(",")
    try:
        atol, rtol = (float(p) for p in parts) if len(parts) == 2 else (None, None)
    except ValueError:
        atol = rtol = None
    if not sep or not name or atol is None or not (atol >= 0 and rtol >= 0):
        raise UsageError(f"--tol expects NAME=ATOL,RTOL with non-negative numbers, got {text!r}")
    return name, (atol, rtol)
