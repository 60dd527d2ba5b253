"""What the com.microsoft quantized kernels share (not an op module: the registry skips `_` files).

- `check_node`: these ops have no onnx schema, so refruntime.validate cannot check them; each
  kernel's prepare() declares its arity and attributes here (ContribOperators.md's tables) and a
  malformed node is a ModelError naming it.
- `QuantizedOp`: the parameter checks of ops whose scales and zero points are per tensor (one value):
  at plan time for initializers (`check_constants`, refuse -> ModelError), at run time for the rest
  (`fail` -> KernelError); plus the zero point's type against the data's.
- `round_half_even`: the exact nearest integer (ties to even) of a value the kernel estimates in
  float64. The estimate is within a few float64 ulps of the exact value, so it rounds right unless
  the exact value is within that distance of a tie (k + 1/2); those few elements are recomputed
  with exact rational arithmetic (fractions.Fraction: a float is a dyadic rational), once per
  distinct combination of the integer inputs that determine them.
- `int_matmul`: an exact integer matrix product (int64 result) through float64 BLAS when every
  partial sum is an integer below 2**53 (then any summation order, FMA or not, is exact, so the
  result does not depend on the machine), numpy's int64 loops otherwise.
- the shared bodies of op families: `QLinearBinary` (QLinearAdd, QLinearMul), `LookupTableOp`
  (QLinearSigmoid, QLinearLeakyRelu), `integer_matmul_to_float` (MatMulIntegerToFloat,
  DynamicQuantizeMatMul), `check_linear_params` (QuantizeLinear, DequantizeLinear).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
from onnx import AttributeProto

from refruntime.ops._quant import as_int64, saturate, scale_error, zero_point_error
from refruntime.ops.base import OpRun

INT, FLOAT, STRING = AttributeProto.INT, AttributeProto.FLOAT, AttributeProto.STRING
INTS, FLOATS, STRINGS = AttributeProto.INTS, AttributeProto.FLOATS, AttributeProto.STRINGS
_TYPE_NAMES = {INT: "int", FLOAT: "float", STRING: "string", INTS: "ints", FLOATS: "floats",
               STRINGS: "strings"}
EIGHT_BIT = (np.dtype(np.uint8), np.dtype(np.int8))

#: a float64 estimate this close (relative) to a tie is re-decided exactly
_NEAR_TIE = 2.0 ** -40


def check_node(kernel: OpRun, inputs: tuple[int, int], outputs: tuple[int, int] = (1, 1),
               attributes: dict[str, int] | None = None, required_attributes: tuple[str, ...] = (),
               required_inputs: tuple[int, ...] = (0,)) -> None:
    """Refuse (ModelError naming the node) a node whose input/output counts are outside
    [min, max] (max None: unbounded), whose required inputs are missing (empty names), or whose
    attributes are unknown to the op, of another type, or missing when required."""
    node = kernel.node
    n_in, n_out = len(node.input), len(node.output)
    lo, hi = inputs
    if n_in < lo or (hi is not None and n_in > hi):
        kernel.refuse(f"has {n_in} inputs, the op takes {_count(lo, hi)}")
    lo, hi = outputs
    if n_out < lo or (hi is not None and n_out > hi):
        kernel.refuse(f"has {n_out} outputs, the op produces {_count(lo, hi)}")
    for index in required_inputs:
        if index < n_in and not node.input[index]:
            kernel.refuse(f"input {index} is required but empty", index)
    allowed = attributes or {}
    for attr in node.attribute:
        if attr.name not in allowed:
            names = ", ".join(sorted(allowed)) or "none"
            kernel.refuse(f"unknown attribute {attr.name!r} (the op has: {names})")
        if attr.type != allowed[attr.name]:
            kernel.refuse(f"attribute {attr.name!r} must be {_TYPE_NAMES[allowed[attr.name]]}, got "
                          f"{_TYPE_NAMES.get(attr.type, attr.type)}")
    for name in required_attributes:
        if name not in kernel.attributes:
            kernel.refuse(f"the attribute {name!r} is required")


def _count(lo: int, hi: int | None) -> str:
    if hi is None:
        return f"at least {lo}"
    return str(lo) if lo == hi else f"{lo} to {hi}"


class QuantizedOp(OpRun):
    """Base of the kernels whose scales and zero points are single values.

    SCALES lists the inputs that are scales; ZERO_POINTS pairs each zero point input with the input
    whose element type it must have (None: any 8-bit integer type)."""

    SCALES: tuple[int, ...] = ()
    ZERO_POINTS: tuple[tuple[int, int | None], ...] = ()
    #: the element types the data inputs (the values of ZERO_POINTS) may have
    DATA_TYPES: tuple[np.dtype, ...] = EIGHT_BIT

    def check_constants(self, constants):
        self._check_params(constants, self.refuse)

    def check_params(self, inputs) -> None:
        """Run-time check of every scale and zero point among `inputs` (positional, None = absent)."""
        self._check_params({i: v for i, v in enumerate(inputs) if v is not None}, self._fail_at)

    def _fail_at(self, message: str, index: int | None = None):
        if index is not None and index < len(self.node.input):
            message = f"input {index} {self.node.input[index]!r}: {message}"
        self.fail(message)

    def _check_params(self, values: dict, report) -> None:
        for index in self.SCALES:
            if index in values:
                scale = np.asarray(values[index])
                if scale.size != 1:
                    report(f"must be a single value (per-tensor), got shape {list(scale.shape)}", index)
                problem = scale_error(scale)
                if problem:
                    report(problem, index)
        for index, data in self.ZERO_POINTS:
            if index not in values:
                continue
            zp = np.asarray(values[index])
            if zp.size != 1:
                report(f"must be a single value (per-tensor), got shape {list(zp.shape)}", index)
            if zp.dtype not in self.DATA_TYPES:
                report(f"must be {' or '.join(d.name for d in self.DATA_TYPES)}, got {zp.dtype}", index)
            like = values.get(data) if data is not None else None
            problem = zero_point_error(zp, None if like is None else np.asarray(like).dtype)
            if problem:
                report(problem, index)

    def check_data(self, x: np.ndarray, index: int) -> None:
        if x.dtype not in self.DATA_TYPES:
            self._fail_at(f"must be {' or '.join(d.name for d in self.DATA_TYPES)}, got {x.dtype}", index)


def value(param) -> float | int:
    """The single value of a per-tensor scale or zero point (0 when absent)."""
    if param is None:
        return 0
    return np.asarray(param).reshape(-1)[0].item()


def round_half_even(estimate: np.ndarray, exact, *keys: np.ndarray) -> np.ndarray:
    """Nearest integers (ties to even) of the exact values that `estimate` approximates.

    `estimate` is float64 with a relative error of a few ulps; `exact(*key_values)` returns the
    exact value (a Fraction) of one element from its keys (Python ints/floats taken elementwise
    from `keys`, arrays broadcastable to the estimate's shape, which together determine the value).
    Only elements within 2**-40 (relative) of a tie are recomputed, once per distinct key tuple."""
    estimate = np.asarray(estimate, dtype=np.float64)
    result = np.rint(estimate)
    distance = np.abs(np.abs(estimate - np.floor(estimate)) - 0.5)
    near = distance <= _NEAR_TIE * np.maximum(1.0, np.abs(estimate))
    near &= np.isfinite(estimate)
    if not near.any():
        return result
    where = np.nonzero(near)
    columns = [np.broadcast_to(np.asarray(k), estimate.shape)[where].tolist() for k in keys]
    decided: dict[tuple, int] = {}
    rounded = []
    for combo in zip(*columns):
        if combo not in decided:
            decided[combo] = round(exact(*combo))  # round() of a Fraction: half to even
        rounded.append(decided[combo])
    result[where] = rounded
    return result


def requantized(rounded: np.ndarray, zero_point, dtype) -> np.ndarray:
    """round(value / scale) + zero_point saturated to `dtype` (rounded: integer-valued float64)."""
    return saturate(rounded + float(value(zero_point)), dtype)


def int_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for integer arrays (numpy matmul broadcasting), exact, as int64."""
    a, b = as_int64(a), as_int64(b)
    k = a.shape[-1] if a.ndim else 1
    bound = k * (int(np.abs(a).max(initial=0)) * int(np.abs(b).max(initial=0)))
    if bound < 2 ** 53:
        return np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(np.int64)
    return np.matmul(a, b)  # 8-bit operands: below 2**63 for any K under 2**47


def broadcast_shape(kernel: OpRun, *shapes) -> tuple[int, ...]:
    """numpy's (multidirectional) broadcast of the shapes, or a KernelError naming them."""
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        kernel.fail(f"shapes {' and '.join(str(tuple(s)) for s in shapes)} do not broadcast")


class QLinearBinary(QuantizedOp):
    """QLinearAdd and QLinearMul: C = quantize(f(dequantize(A), dequantize(B))) with numpy
    broadcasting, every parameter per tensor. Subclasses give the float64 estimate of
    f(...)/C_scale and its exact value."""

    SCALES = (1, 4, 6)
    ZERO_POINTS = ((2, 0), (5, 3), (7, 0))

    def prepare(self):
        check_node(self, inputs=(7, 8), required_inputs=(0, 1, 3, 4, 6))

    def _run(self, a, a_scale, a_zero_point=None, b=None, b_scale=None, b_zero_point=None, c_scale=None,
             c_zero_point=None):
        self.check_data(a, 0)
        self.check_data(b, 3)
        if a.dtype != b.dtype:
            self.fail(f"A is {a.dtype} but B is {b.dtype}: both operands have the type T")
        self.check_params((a, a_scale, a_zero_point, b, b_scale, b_zero_point, c_scale, c_zero_point))
        broadcast_shape(self, a.shape, b.shape)
        params = tuple(value(p) for p in (a_scale, a_zero_point, b_scale, b_zero_point, c_scale, c_zero_point))
        if a.dtype.itemsize == 1:  # 8-bit operands: every (a, b) pair computed once, then looked up
            table = self._table(a.dtype, params)
            low = int(np.iinfo(a.dtype).min)
            return (table[a.astype(np.intp) - low, b.astype(np.intp) - low],)
        return (self._compute(a, b, params),)

    def _compute(self, a, b, params) -> np.ndarray:
        sa, za, sb, zb, sc, zc = params
        estimate = self.estimate(as_int64(a, za), as_int64(b, zb), sa, sb, sc)
        exact_scales = (Fraction(sa), Fraction(sb), Fraction(sc))

        def exact(x, y):
            return self.exact(x - za, y - zb, *exact_scales)

        return requantized(round_half_even(estimate, exact, a, b), zc, a.dtype)

    def _table(self, dtype, params) -> np.ndarray:
        """The 256 x 256 results for these parameters (cached on the kernel: parameters are
        initializers in practice, so a run is one lookup instead of the exact rounding per element)."""
        tables = self.__dict__.setdefault("_tables", {})
        key = (np.dtype(dtype).name, *params)
        if key not in tables:
            if len(tables) >= 16:
                tables.clear()
            info = np.iinfo(dtype)
            values = np.arange(info.min, info.max + 1).astype(dtype)
            tables[key] = self._compute(values[:, None], values[None, :], params)
        return tables[key]

    def estimate(self, da, db, sa, sb, sc):  # pragma: no cover - abstract
        raise NotImplementedError

    def exact(self, da, db, sa, sb, sc):  # pragma: no cover - abstract
        raise NotImplementedError


class LookupTableOp(QuantizedOp):
    """QLinearSigmoid and QLinearLeakyRelu: Y = quantize(f(dequantize(X))) element-wise, per-tensor
    parameters. As in onnxruntime, the map is a table over the 256 values of T, built once per set
    of parameters (cached on the kernel), but each entry is computed in float64 and rounded
    exactly: dequantize (exact), f in float64, divide by Y_scale, round half to even. Subclasses
    give f in float64 and, where it is rational (LeakyRelu), its exact value for the rounding."""

    SCALES = (1, 3)
    ZERO_POINTS = ((2, 0), (4, 0))
    ATTRIBUTES: tuple[tuple[str, int], ...] = ()

    def prepare(self):
        check_node(self, inputs=(4, 5), required_inputs=(0, 1, 3), attributes=dict(self.ATTRIBUTES))
        self._tables: dict[tuple, np.ndarray] = {}

    def lookup(self, x, x_scale, x_zero_point, y_scale, y_zero_point, **attributes) -> np.ndarray:
        self.check_data(x, 0)
        self.check_params((x, x_scale, x_zero_point, y_scale, y_zero_point))
        params = tuple(value(p) for p in (x_scale, x_zero_point, y_scale, y_zero_point))
        key = (x.dtype.name, *params, *sorted(attributes.items()))
        table = self._tables.get(key)
        if table is None:
            if len(self._tables) >= 64:
                self._tables.clear()
            table = self._tables[key] = self._table(x.dtype, *params, **attributes)
        lo = -128 if x.dtype == np.int8 else 0
        return table[x.astype(np.intp) - lo]

    def _table(self, dtype, sx, zx, sy, zy, **attributes) -> np.ndarray:
        lo, hi = (-128, 127) if dtype == np.int8 else (0, 255)
        q = np.arange(lo, hi + 1, dtype=np.int64)
        with np.errstate(all="ignore"):
            estimate = self.function(sx * (q - zx).astype(np.float64), **attributes) / sy
        exact_scales = (Fraction(sx), Fraction(sy))

        def exact(v):
            return self.exact_function(exact_scales[0] * (v - zx), **attributes) / exact_scales[1]

        rounded = round_half_even(estimate, exact, q) if self.has_exact else np.rint(estimate)
        return requantized(rounded, zy, dtype)

    #: whether exact_function exists (f rational in its input)
    has_exact = False

    def function(self, v: np.ndarray, **attributes) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def exact_function(self, v: Fraction, **attributes) -> Fraction:  # pragma: no cover - abstract
        raise NotImplementedError


def check_linear_params(kernel: OpRun, x, scale, zero_point, types: tuple[str, ...], report,
                        zero_point_is_data: bool = False) -> None:
    """QuantizeLinear/DequantizeLinear (com.microsoft): scale positive and finite; per tensor
    (single values) without `axis`, 1-D along `axis` with it; the zero point of scale's shape, of
    one of `types` and within its range, and of x's type when x is the quantized data. Arguments
    may be None (unknown at plan time). `report(message, input_index)` raises."""
    axis = kernel.attributes.get("axis")
    if x is not None:
        x = np.asarray(x)
        if zero_point_is_data and x.dtype.name not in types:
            report(f"must be one of {', '.join(types)}, got {x.dtype}", 0)
        if not zero_point_is_data and scale is not None and x.dtype != np.asarray(scale).dtype:
            report(f"x is {x.dtype} but y_scale is {np.asarray(scale).dtype}: both have the type T1", 1)
    for index, param in ((1, scale), (2, zero_point)):
        if param is None:
            continue
        param = np.asarray(param)
        if axis is None and param.size != 1:
            report(f"has shape {list(param.shape)}: without the 'axis' attribute the quantization is per tensor "
                   "and the parameters are single values", index)
        if axis is not None and param.ndim > 1:
            report(f"has shape {list(param.shape)}: with 'axis' the parameters are 1-D tensors along it", index)
        if axis is not None and x is not None:
            from refruntime.ops._quant import param_shape_error

            problem = param_shape_error(param, x.shape, axis)
            if problem:
                report(problem, index)
    if scale is not None:
        problem = scale_error(scale)
        if problem:
            report(problem, 1)
    if zero_point is not None:
        zp = np.asarray(zero_point)
        if zp.dtype.name not in types:
            report(f"must be one of {', '.join(types)}, got {zp.dtype}", 2)
        problem = zero_point_error(zp, x.dtype if (zero_point_is_data and x is not None) else None)
        if problem:
            report(problem, 2)
        if scale is not None and zp.shape != np.shape(scale) and not (zp.size == 1 and np.size(scale) == 1):
            report(f"has shape {list(zp.shape)} but the scale has {list(np.shape(scale))}: they have one shape", 2)


def integer_matmul_to_float(kernel: OpRun, a, a_zero_point, b, b_zero_point, scales, bias, out_dtype):
    """(A - a_zero_point) @ (B - b_zero_point) (numpy matmul, exact int64) times every (scale,
    input index) in `scales`, plus `bias`, computed in float64 and rounded once to out_dtype.

    Zero points broadcast against their operand (per tensor, or e.g. per column of B: N values);
    scales broadcast against the product (per tensor, per column of Y: N values, per row: (M, 1));
    a shape that does not fit is a KernelError naming the input."""
    for name, index, x, zp in (("A", 0, a, a_zero_point), ("B", 1, b, b_zero_point)):
        if zp is not None and _broadcast_into(np.shape(zp), x.shape) is None:
            kernel.fail(f"the zero point of {name} has shape {list(np.shape(zp))}, which does not broadcast to "
                        f"{name}'s shape {list(x.shape)}")
    if a.ndim == 0 or b.ndim == 0 or a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        kernel.fail(f"A of shape {a.shape} and B of shape {b.shape} cannot be multiplied (matmul)")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        kernel.fail(f"the batch axes of A {a.shape} and B {b.shape} do not broadcast")
    acc = int_matmul(as_int64(a, a_zero_point), as_int64(b, b_zero_point))
    y = acc.astype(np.float64)
    for scale, index in scales:
        if _broadcast_into(np.shape(scale), y.shape) is None:
            kernel.fail(f"input {index} {kernel.node.input[index]!r} (a scale) has shape {list(np.shape(scale))}, "
                        f"which does not broadcast to the product's shape {list(y.shape)}: a scale is per tensor, "
                        "per column (N values) or per row ((M, 1)) of the result")
        y = y * np.asarray(scale, dtype=np.float64)
    if bias is not None:
        n = b.shape[-1] if b.ndim > 1 else 1
        if bias.shape != (n,):
            kernel.fail(f"bias has shape {bias.shape}, expected ({n},): one value per column of B")
        y = y + bias.astype(np.float64)
    return y.astype(out_dtype)


def _broadcast_into(shape, target):
    """The broadcast of shape into target if it leaves target unchanged, else None."""
    try:
        return target if np.broadcast_shapes(tuple(shape), tuple(target)) == tuple(target) else None
    except ValueError:
        return None


def check_scale_and_zero_point(kernel: OpRun, scales: tuple[int, ...],
                               zero_points: tuple[tuple[int, int | None], ...], values: dict, report) -> None:
    """Scales positive and finite, zero points 8-bit, in range and of their data's type; any shape
    (the kernel checks shapes against the data)."""
    for index in scales:
        if index in values and values[index] is not None:
            problem = scale_error(values[index])
            if problem:
                report(problem, index)
    for index, data in zero_points:
        zp = values.get(index)
        if zp is None:
            continue
        zp = np.asarray(zp)
        if zp.dtype not in EIGHT_BIT:
            report(f"must be uint8 or int8, got {zp.dtype}", index)
        like = values.get(data) if data is not None else None
        problem = zero_point_error(zp, None if like is None else np.asarray(like).dtype)
        if problem:
            report(problem, index)
