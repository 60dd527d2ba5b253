"""Quantization arithmetic shared by the quantized kernels (standard and com.microsoft).

The ONNX definitions:
    quantize:    y = saturate(round_half_even(x / scale) + zero_point)
    dequantize:  y = (x - zero_point) * scale
    requantize:  y = saturate(round_half_even(acc * a_scale * b_scale / y_scale) + zero_point)
`quantize` computes x / scale in the precision it is given (QuantizeLinear passes the scale's type
or its `precision` attribute: see ops/op_quantize_linear.py) or, with precision=None, exactly (the
float64 quotient of float32 values is never on the wrong side of a tie). `dequantize` forms the
exact product in float64 and rounds it once to the output type. `requantize` returns the nearest
integer to the exact real value (float64 estimate, near-ties re-decided exactly). Integer sums and
products are accumulated exactly (int64, or floats whose partial sums provably stay integers).
Every rounding to a narrow float goes through `round_to_float`: ml_dtypes' casts from float64 go
through float32 and so round twice (1 + 2**-8 + 2**-40 becomes bfloat16 1.0, not 1.0078125).

Scales and zero points are per tensor (scalar or 1-element), per axis (1-D along `axis`), or
blocked (opset 21: the shape of x with `axis` divided by `block_size`); MatMul-like ops use
per-row (A) / per-column (B) parameters (`matmul_param`).

Parameter checks (`scale_error`, `zero_point_error`, `param_shape_error`, `matmul_param_error`)
return a message; kernels raise it through `refuse` (a ModelError naming node and input) when the
values are known at plan time, and through `fail` (a KernelError) when they arrive at run time.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "uint16": (0, 65535),
              "int32": (-(2 ** 31), 2 ** 31 - 1), "uint32": (0, 2 ** 32 - 1),
              "int4": (-8, 7), "uint4": (0, 15), "int2": (-2, 1), "uint2": (0, 3)}


def int_range(dtype) -> tuple[int, int]:
    """(min, max) of an integer element type, int4/uint4 (ml_dtypes) included."""
    name = np.dtype(dtype).name
    if name not in INT_RANGES:
        raise ValueError(f"{name} is not a quantized integer type")
    return INT_RANGES[name]


def is_float8(dtype) -> bool:
    """float8*, float4e2m1 and float6* (ml_dtypes): the narrow float quantized types."""
    return np.dtype(dtype).name.startswith(("float8", "float4", "float6"))


def round_half_even(x: np.ndarray) -> np.ndarray:
    """np.rint rounds half to even (IEEE's default), as ONNX's QuantizeLinear requires."""
    return np.rint(x)


def saturate(values: np.ndarray, dtype) -> np.ndarray:
    """Integer-valued float64 `values` clipped to `dtype`'s range and converted exactly.
    NaN (undefined by ONNX) becomes the type's minimum, as onnxruntime's x86 kernels give."""
    lo, hi = int_range(dtype)
    values = np.where(np.isnan(values), lo, values)
    return np.clip(values, lo, hi).astype(np.int64).astype(dtype)


def round_to_float(values, dtype) -> np.ndarray:
    """float64 `values` rounded once (to nearest, ties to even) to the float type `dtype`, as
    float64 values on that type's grid (finite values beyond its range stay finite: the caller
    saturates or casts). numpy rounds float64 to float32/float16 directly; for ml_dtypes' types
    (bfloat16, float8...) the grid is applied here, since their casts from float64 round twice."""
    dtype = np.dtype(dtype)
    v = np.asarray(values, dtype=np.float64)
    if dtype == np.float64:
        return v
    with np.errstate(over="ignore", invalid="ignore"):
        if dtype in (np.float32, np.float16):
            return v.astype(dtype).astype(np.float64)
        import ml_dtypes

        info = ml_dtypes.finfo(dtype)
        _, e = np.frexp(v)  # v = f * 2**e with 1/2 <= |f| < 1
        ulp = np.ldexp(1.0, np.maximum(e - 1, info.minexp) - info.nmant)
        return np.where(np.isfinite(v), np.rint(v / ulp) * ulp, v)


def cast_float(values, dtype) -> np.ndarray:
    """float64 `values` as float type `dtype`, rounded once (`round_to_float`)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return round_to_float(values, dtype).astype(dtype)


def to_float8(values, dtype, saturate_float8: bool = True) -> np.ndarray:
    """float64 `values` as a float8/float4/float6 `dtype`, by ONNX's Cast tables: rounded once to
    nearest even; saturate: values (and +-Inf) beyond the range become +-max, NaN stays NaN;
    not saturate: they become Inf or NaN as the type encodes them. float4/float6 have neither, so
    they always saturate."""
    import ml_dtypes

    r = round_to_float(values, dtype)
    dtype = np.dtype(dtype)
    if saturate_float8 or dtype.name.startswith(("float4", "float6")):
        top = float(ml_dtypes.finfo(dtype).max)
        r = np.clip(r, -top, top)
    with np.errstate(over="ignore", invalid="ignore"):
        return r.astype(dtype)


def broadcast_param(param: np.ndarray, x_shape: tuple, axis: int | None, block_size: int = 0) -> np.ndarray:
    """A scale or zero point shaped to broadcast against x: scalar, per-axis (1-D) or blocked."""
    param = np.asarray(param)
    if param.size == 1 and not block_size:
        return param.reshape(())
    rank = len(x_shape)
    axis = _axis(axis, rank)
    if block_size:
        return np.repeat(param, block_size, axis=axis).take(range(x_shape[axis]), axis=axis)
    shape = [1] * rank
    shape[axis] = param.size
    return param.reshape(shape)


def _axis(axis: int | None, rank: int) -> int:
    axis = 1 if axis is None else int(axis)
    return axis + rank if axis < 0 else axis


def param_shape_error(param: np.ndarray, x_shape: tuple, axis: int | None, block_size: int = 0) -> str | None:
    """Why `param` (scale or zero point) does not fit x, or None when it does."""
    param = np.asarray(param)
    rank = len(x_shape)
    if block_size < 0:
        return f"block_size must be positive, got {block_size}"
    if param.size == 1 and param.ndim <= 1 and not block_size:
        return None
    a = _axis(axis, rank)
    if not 0 <= a < rank:
        return f"axis {axis} is out of range for an input of rank {rank}"
    if block_size:
        want = list(x_shape)
        want[a] = -(-x_shape[a] // block_size)
        if list(param.shape) != want:
            return (f"blocked quantization (axis {axis}, block_size {block_size}) needs shape {want} for an "
                    f"input of shape {list(x_shape)}, got {list(param.shape)}")
        return None
    if param.ndim != 1 or param.size != x_shape[a]:
        return (f"per-axis quantization along axis {axis} needs a 1-D tensor of {x_shape[a]} values for an "
                f"input of shape {list(x_shape)}, got shape {list(param.shape)}")
    return None


def matmul_param_error(param: np.ndarray, shape: tuple, per: str) -> str | None:
    """Why a MatMul-like op's scale or zero point does not fit its operand of `shape`, or None.
    Per tensor: one value. per="row" (A of shape [..., M, K]): M values, 1-D or shaped
    [..., M, 1]; per="column" (B of shape [..., K, N]): N values, 1-D or shaped [..., 1, N]
    (QLinearMatMul, MatMulInteger); leading axes match the operand's or are 1."""
    param = np.asarray(param)
    if param.size == 1 and param.ndim <= max(1, len(shape)):
        return None
    rank = len(shape)
    if rank < 2:
        return f"a 1-D operand takes a single (per-tensor) value, got shape {list(param.shape)}"
    index = -2 if per == "row" else -1
    want = f"[..., {shape[-2]}, 1]" if per == "row" else f"[..., 1, {shape[-1]}]"
    if param.ndim == 1 and param.size == shape[index]:
        return None
    fits = param.ndim == rank and param.shape[index] == shape[index] and param.shape[-3 - index] == 1 and all(
        p in (1, s) for p, s in zip(param.shape[:-2], shape[:-2]))
    if fits:
        return None
    return (f"per-{per} quantization of an operand of shape {list(shape)} needs {shape[index]} values "
            f"(1-D, or shaped {want}), got shape {list(param.shape)}")


def matmul_param(param: np.ndarray, shape: tuple, per: str) -> np.ndarray:
    """A parameter accepted by `matmul_param_error`, shaped to broadcast against its operand."""
    param = np.asarray(param)
    if param.size == 1:
        return param.reshape(())
    if param.ndim == 1 and per == "row":
        return param.reshape(-1, 1)
    return param


def scale_error(scale: np.ndarray, allow_int: bool = False) -> str | None:
    """Why a scale is invalid (ONNX: a positive, finite number), or None. `allow_int`: integer
    scales are valid (QuantizeLinear from opset 23)."""
    s = np.asarray(scale)
    if s.dtype.kind not in "fV" and not is_float8(s.dtype) and not (allow_int and s.dtype.kind in "iu"):
        return f"scale must be a float tensor, got {s.dtype}"
    values = s.astype(np.float64)
    if not np.isfinite(values).all():
        return "scale has a non-finite value"
    if (values <= 0).any():
        bad = values[values <= 0].reshape(-1)[0]
        return f"scale must be positive, got {bad:g}"
    return None


def zero_point_error(zero_point: np.ndarray, dtype=None) -> str | None:
    """Why a zero point is invalid (its type, or the quantized type it must match), or None."""
    zp = np.asarray(zero_point)
    if dtype is not None and zp.dtype != np.dtype(dtype):
        return f"zero point is {zp.dtype} but the quantized type is {np.dtype(dtype)}"
    if zp.dtype.name in INT_RANGES:  # (int64 and others: the caller's type check speaks)
        lo, hi = int_range(zp.dtype)
        v = zp.astype(np.int64)
        if ((v < lo) | (v > hi)).any():
            return f"zero point outside {zp.dtype}'s range [{lo}, {hi}]"
    return None


def quantize(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, out_dtype, axis: int | None = 1,
             block_size: int = 0, saturate_float8: bool = True, precision=None) -> np.ndarray:
    """ONNX QuantizeLinear: saturate(round_half_even(x / scale) + zero_point) in `out_dtype`.

    `precision` (a float dtype): x and scale are rounded to it and the quotient is their division
    in it (correctly rounded: the float64 quotient rounded once, an innocuous double rounding for
    types of at most 25 significant bits); for float8 outputs the zero point is added in it too.
    None: the exact quotient. Integer outputs round half to even (NaN: the type's minimum, see
    `saturate`); float8/float4/float6 outputs follow `to_float8`."""
    if (x.dtype == np.float32 and precision == np.float32 and out_dtype in _BYTE_TYPES
            and _float32_per_tensor(x, scale, zero_point, block_size)):
        return _quantize_float32(x, scale, zero_point, out_dtype)
    s = broadcast_param(scale, x.shape, axis, block_size).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if precision is None:
            q = x.astype(np.float64) / s
        else:
            q = round_to_float(round_to_float(x.astype(np.float64), precision) / round_to_float(s, precision),
                               precision)
        zp = None if zero_point is None else broadcast_param(zero_point, x.shape, axis, block_size).astype(np.float64)
        if is_float8(out_dtype):
            if zp is not None:
                q = q + zp if precision is None else round_to_float(q + zp, precision)
            return to_float8(q, out_dtype, saturate_float8)
        q = round_half_even(q)
        if zp is not None:
            q = q + zp
        return saturate(q, out_dtype)


def dequantize(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int | None = 1,
               block_size: int = 0, out_dtype=None) -> np.ndarray:
    """ONNX DequantizeLinear: (x - zero_point) * scale, in the scale's type (or `out_dtype`).
    The difference is exact; the product is exact in float64 while |x - zero_point| times the
    scale's significand fits 53 bits (8/16-bit and narrower x always; int32 x up to 2**29 with a
    float32 scale) and is then rounded once to the output type."""
    if (x.dtype in _BYTE_TYPES and _float32_per_tensor(x, scale, zero_point, block_size)
            and (out_dtype is None or out_dtype == np.float32)):
        return _dequantize_float32(x, scale, zero_point)
    v = x.astype(np.float64)
    if zero_point is not None:
        v = v - broadcast_param(zero_point, x.shape, axis, block_size).astype(np.float64)
    y = v * broadcast_param(scale, x.shape, axis, block_size).astype(np.float64)
    return cast_float(y, out_dtype if out_dtype is not None else np.asarray(scale).dtype)


def as_int64(x: np.ndarray, zero_point=None) -> np.ndarray:
    """x - zero_point as exact int64 (the operand of an integer MatMul/Conv)."""
    v = np.asarray(x).astype(np.int64)
    if zero_point is not None:
        v = v - np.asarray(zero_point).astype(np.int64)
    return v


#: the float64 estimate q of acc * P / Y is within ~2**-52 * |q| of the exact value (two
#: roundings); below 2**28 that is under 2**-24, so an estimate farther than 2**-16 from a tie
#: rounds like the exact value (and checking one absolute distance costs two passes, not five)
_NEAR_TIE = 2.0 ** -16
_EXACT_BELOW = 2.0 ** 28


def requantize(acc: np.ndarray, scale_product: np.ndarray, y_scale: np.ndarray, zero_point, out_dtype,
               bias=None) -> np.ndarray:
    """saturate(round_half_even((acc + bias) * scale_product / y_scale) + zero_point) as `out_dtype`,
    where the rounding is of the exact real value (ONNX's QLinearConv/QLinearMatMul formula has no
    intermediate precision). acc (+ bias): exact integers (int64, or integer-valued floats) below
    2**53; scale_product (a_scale * b_scale) and y_scale: float64, broadcastable to acc, the
    product exact and y_scale of at most 24 significant bits (float32/float16/bfloat16 scales).

    The float64 estimate q = acc * (P / Y) rounds like the exact value unless the exact value lies
    within its error of a tie n + 1/2. Those elements (|q| < 2**28; beyond, any output of at most
    16 bits is saturated either way) are decided exactly: acc * P = p + e (an error-free
    product), t = (2n + 1) * Y is exact, and the sign of 2p - t + 2e (2p - t exact by Sterbenz's
    lemma) says on which side of the tie the exact value lies; an exact tie goes to the even
    neighbour. A float64 multiplier alone misjudges some: 1/38 * 1/38 / 0.1 (float32 scales)
    times 4693 is just above 32.5. The full-size temporaries are per-thread scratch buffers (fresh
    ones cost more in page faults than the arithmetic: 3.0 -> 0.4 ms on a 1x64x56x56 output)."""
    from refruntime.kernels.scratch import scratch

    p_scale = np.asarray(scale_product, dtype=np.float64)
    y_scale = np.asarray(y_scale, dtype=np.float64)
    multiplier = p_scale / y_scale
    acc = np.asarray(acc)
    shape = np.broadcast_shapes(acc.shape, multiplier.shape)
    exact = scratch("quant.acc", acc.shape, np.float64)
    if bias is None:
        np.copyto(exact, acc)
    else:
        np.add(acc, np.asarray(bias, dtype=np.float64), out=exact)
    q = scratch("quant.q", shape, np.float64)
    np.multiply(exact, multiplier, out=q)
    rounded = scratch("quant.rounded", shape, np.float64)
    np.rint(q, out=rounded)
    np.subtract(q, rounded, out=q)
    np.abs(q, out=q)
    near = q >= 0.5 - _NEAR_TIE
    if near.any():
        where = np.unravel_index(np.flatnonzero(near), shape)  # np.nonzero is 30x slower on 4-D
        a_near = np.broadcast_to(exact, shape)[where]
        p_near = np.broadcast_to(p_scale, shape)[where]
        y_near = np.broadcast_to(y_scale, shape)[where]
        q_near = a_near * (p_near / y_near)
        n = np.floor(q_near)
        p, e = _two_product(a_near, p_near)
        side = (2.0 * p - (2.0 * n + 1.0) * y_near) + 2.0 * e
        even = np.where(np.fmod(n, 2.0) == 0, n, n + 1.0)
        decided = np.where(side > 0, n + 1.0, np.where(side < 0, n, even))
        rounded[where] = np.where(np.abs(q_near) < _EXACT_BELOW, decided, rounded[where])
    if zero_point is not None:
        rounded += np.asarray(zero_point, dtype=np.float64)
    lo, hi = int_range(out_dtype)
    np.clip(rounded, lo, hi, out=rounded)
    dtype = np.dtype(out_dtype)
    return rounded.astype(dtype) if dtype.kind in "iu" else rounded.astype(np.int64).astype(dtype)


def _two_product(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p, e) with p = fl(a * b) and p + e = a * b exactly (Dekker, Veltkamp's split; no FMA)."""
    p = a * b
    a_hi, a_lo = _split(a)
    b_hi, b_lo = _split(b)
    e = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return p, e


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = 134217729.0 * a  # 2**27 + 1
    hi = c - (c - a)
    return hi, a - hi


EIGHT_BIT = (np.dtype(np.int8), np.dtype(np.uint8))


def _one_value(param) -> bool:
    return param.size == 1 and param.ndim <= 1


class QuantParamChecks:
    """Mixin of OpRun kernels whose scales and zero points are inputs (QLinearConv, QLinearMatMul,
    MatMulInteger, ConvInteger): declarative checks, at plan time for initializers
    (`check_constants`: refuse, a ModelError naming node and input) and at run time for the rest
    (`check_inputs`: fail, a KernelError naming the input); shapes and types once per combination.

    DATA_TYPES: (data input index, allowed dtypes) pairs. PARAMS: (scale index or None, zero point
    index or None, data index or None, granularity) per quantized operand; granularity "tensor"
    (one value), "channel" (one value or W.shape[0] values, W the data input), "row"/"column" (A/B
    of a matmul: `matmul_param_error`). A zero point has its data's type (one of OUTPUT_TYPES when
    it has no data input: the output's) and the shape of its scale."""

    DATA_TYPES: ClassVar[tuple] = ()
    PARAMS: ClassVar[tuple] = ()
    OUTPUT_TYPES: ClassVar[tuple] = EIGHT_BIT

    def check_constants(self, constants):
        self._planned = set(constants)
        for message, index in self.param_problems(constants):
            self.refuse(message, index)

    def check_inputs(self, *inputs) -> None:
        values = {i: v for i, v in enumerate(inputs) if v is not None}
        keys = self.__dict__.setdefault("_checked_keys", set())
        key = tuple(None if v is None else (v.shape, v.dtype.str) for v in inputs)
        if key in keys:
            planned = self.__dict__.get("_planned", set())
            problems = [(scale_error(values[s]), s) for s, _, _, _ in self.PARAMS
                        if s in values and s not in planned]
        else:
            problems = self.param_problems(values)
        for message, index in problems:
            if message:
                message = f"input {index} {self.node.input[index]!r}: {message}" if index < len(self.node.input) else message
                self.fail(message)
        keys.add(key)

    def param_problems(self, values: dict) -> list[tuple[str, int]]:
        """(message, input index) for every problem among the known `values` ({index: array})."""
        problems = []
        for index, allowed in self.DATA_TYPES:
            if index in values and values[index].dtype not in allowed:
                problems.append((f"must be {' or '.join(d.name for d in allowed)}, got {values[index].dtype}", index))
        for s, z, data, granularity in self.PARAMS:
            scale, zp, x = values.get(s), values.get(z), values.get(data)
            if scale is not None:
                problem = scale_error(scale) or self._fit(scale, x, granularity)
                if problem:
                    problems.append((problem, s))
            if zp is None:
                continue
            want = x.dtype if x is not None else None
            problem = zero_point_error(zp, want) or (
                None if want is not None or zp.dtype in self.OUTPUT_TYPES
                else f"zero point must be {' or '.join(d.name for d in self.OUTPUT_TYPES)}, got {zp.dtype}")
            problem = problem or self._fit(zp, x, granularity)
            if not problem and scale is not None and scale.shape != zp.shape and not (
                    _one_value(scale) and _one_value(zp)):
                problem = f"shape {list(zp.shape)} differs from its scale's {list(scale.shape)}"
            if problem:
                problems.append((problem, z))
        return problems

    @staticmethod
    def _fit(param, x, granularity: str) -> str | None:
        if _one_value(param):
            return None
        if granularity == "tensor":
            return f"must be a single value (per tensor), got shape {list(param.shape)}"
        if granularity == "channel":
            if param.ndim != 1:
                return f"must be a single value or a 1-D tensor (per output channel), got shape {list(param.shape)}"
            if x is not None and x.ndim and param.size != x.shape[0]:
                return (f"has {param.size} values but the weights of shape {list(x.shape)} have {x.shape[0]} "
                        "output channels")
            return None
        return None if x is None else matmul_param_error(param, x.shape, granularity)


# --- the common case in float32: activations quantized per tensor to uint8/int8 --------------------
# QDQ models quantize and dequantize every activation with one float32 scale and one 8-bit zero
# point. There the float64 route above and float32 arithmetic give the same bits, in a third of the
# passes over the data and no float64 temporaries:
# - QuantizeLinear divides in float32 (its precision): numpy's float32 division is the correctly
#   rounded quotient, which is what rounding the float64 quotient to float32 gives (53 >= 2 * 24 + 2).
#   rint of a float32 is a float32; adding an 8-bit zero point is exact below 2**24, and anything
#   larger is far outside the range and clipped all the same; fmax maps NaN to the minimum.
# - DequantizeLinear: x - zero_point is a small integer (exact in float32) and its product with the
#   scale is rounded once, as the float64 product (exact) rounded to float32 is.
# tests/refruntime/test_quantize_kernels.py checks both against the float64 route bit for bit.
_BYTE_TYPES = (np.dtype(np.uint8), np.dtype(np.int8))


def _float32_per_tensor(x, scale, zero_point, block_size) -> bool:
    return (type(x) is np.ndarray and not block_size and np.asarray(scale).dtype == np.float32
            and np.asarray(scale).size == 1
            and (zero_point is None or (np.asarray(zero_point).size == 1
                                        and np.asarray(zero_point).dtype in _BYTE_TYPES)))


def _quantize_float32(x: np.ndarray, scale, zero_point, out_dtype) -> np.ndarray:
    from refruntime.ops._common import fp_ignored

    lo, hi = int_range(out_dtype)
    with fp_ignored():  # a quotient may overflow to Inf (then saturated)
        q = np.divide(x, np.float32(np.asarray(scale).reshape(())), out=np.empty(x.shape, np.float32))
    np.rint(q, out=q)
    if zero_point is not None:
        q += np.float32(np.asarray(zero_point).reshape(()))
    np.fmax(q, np.float32(lo), out=q)  # NaN (and -Inf) -> the minimum
    np.minimum(q, np.float32(hi), out=q)
    return q.astype(out_dtype)


def _dequantize_float32(x: np.ndarray, scale, zero_point) -> np.ndarray:
    y = x.astype(np.float32)
    if zero_point is not None:
        y -= np.float32(np.asarray(zero_point).reshape(()))
    y *= np.float32(np.asarray(scale).reshape(()))
    return y
