"""QuantizeLinear (opsets 10, 13, 19, 21, 23, 24, 25, 28): y = saturate(round(x / y_scale) + y_zero_point).

What each opset adds (the spec text is onnx.defs.get_schema("QuantizeLinear", v).doc):
- 10: per tensor; x float or int32, y_scale float, y uint8 (default) or int8.
- 13: per axis (`axis`): a 1-D scale of x.shape[axis] values.
- 19: float8 outputs with `saturate` (ONNX's Cast tables), float16/bfloat16 x and scale (one type T1).
- 21: int16/uint16/int4/uint4, blocked quantization (`block_size`), `output_dtype`.
- 23: float4e2m1; x and y_scale may differ in type, and "the type of y_scale determines the
  precision of the division operation between x and y_scale, unless the `precision` attribute is
  specified". 24: float8e8m0 scales. 25: int2/uint2. 28: float6e2m3/float6e3m2.
The allowed element types of each opset are read from its schema (`quant_types`).

Where runtimes disagree:
- Precision of x / y_scale. Opset 23 states it: "the type of y_scale determines the precision of
  the division operation between x and y_scale, unless the `precision` attribute is specified".
  Opsets 10-21 name none, but x and y_scale have one type there (float at 10/13, T1 from 19), and
  onnx's own conformance data divides in it: test_dynamicquantizelinear (QuantizeLinear-11 inside
  the op's function body) expects 179 for x = 0.5, y_scale = float32(5/255), zero point 153,
  where the exact quotient 25.4999991 gives 178 and the float32 one is 25.5 (a tie: 26). So every
  opset divides in the scale's type: the correctly rounded quotient (an IEEE division), then
  rounded half to even, bit for bit as onnxruntime (float32 at every opset; float16 from 23) and
  onnx.reference. onnxruntime at opsets 19-21 converts float16/bfloat16 to float32 first (1% of
  float16 elements one step away from a float16 division). Session(precision="float64") divides
  the stored values in float64 (exact rounding). A float8e8m0 scale (a power of two: the type
  cannot hold a quotient) divides exactly in x's type; an int32 scale (opset 23+) exactly.
- NaN with an integer output (undefined by ONNX) gives the type's minimum, as onnxruntime on x86.
- float8 outputs are rounded once from the quotient (ml_dtypes' own casts from float64 round
  twice); with saturate, +-Inf become +-max as the Cast table says.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import onnx
from onnx import TensorProto

from refruntime.ops._quant import param_shape_error, quantize, scale_error, zero_point_error
from refruntime.ops.base import OpRun


@lru_cache(maxsize=64)
def quant_types(op_type: str, opset: int, which: str) -> frozenset:
    """numpy dtypes a formal parameter of the op's schema at `opset` allows (which: 'input:N' or
    'output:N'), from the schema's type constraints."""
    schema = onnx.defs.get_schema(op_type, opset)
    kind, index = which.split(":")
    param = (schema.inputs if kind == "input" else schema.outputs)[int(index)]
    allowed = next((c.allowed_type_strs for c in schema.type_constraints if c.type_param_str == param.type_str),
                   [param.type_str])
    dtypes = set()
    for text in allowed:  # 'tensor(float8e4m3fn)'
        elem = getattr(TensorProto, text[len("tensor("):-1].upper())
        dtypes.add(np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem)))
    return frozenset(dtypes)


def type_names(dtypes) -> str:
    return ", ".join(sorted(d.name for d in dtypes))


def _same_shape(scale, zero_point) -> bool:
    """"x_scale and x_zero_point must have the same shape": equal shapes, or both one value of rank
    at most 1 (onnx's own cases pair a scalar scale with a [1] zero point)."""
    if scale.shape == zero_point.shape:
        return True
    return scale.size == zero_point.size == 1 and scale.ndim <= 1 and zero_point.ndim <= 1


class _LinearQuantOp(OpRun):
    """What QuantizeLinear and DequantizeLinear share: their parameter checks.

    Inputs 1 (scale) and 2 (zero point). `check_constants` checks initializers at plan time
    (refuse: ModelError naming node and input); `check_params` checks the rest on each run
    (fail: KernelError), with the shape checks done once per combination of shapes."""

    #: the first opset with per-axis parameters (13) and with blocked ones (21)
    PER_AXIS_FROM, BLOCKED_FROM = 13, 21

    def prepare(self):
        a = self.attributes
        self._constant: set[int] = set()
        self._shapes_ok: set[tuple] = set()
        if a.get("block_size", 0) < 0:
            self.refuse(f"block_size must be positive, got {a['block_size']}")

    def scale_error(self, scale) -> str | None:
        return scale_error(scale)

    def zero_point_type_error(self, zero_point, x_dtype) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def check_constants(self, constants):
        self._constant = set(constants)
        scale, zp = constants.get(1), constants.get(2)
        if scale is not None:
            self._check_scale(scale, self.refuse)
        if zp is not None:
            problem = self.zero_point_type_error(zp, constants[0].dtype if 0 in constants else None)
            if problem:
                self.refuse(problem, 2)
        if scale is not None and zp is not None and not _same_shape(scale, zp):
            self.refuse(f"the scale (shape {list(scale.shape)}) and the zero point (shape {list(zp.shape)}) must "
                        "have the same shape", 2)
        if 0 in constants:
            self._check_shapes(constants[0].shape, scale, zp, self.refuse)

    def check_params(self, x, scale, zp):
        """Run-time checks of what the plan could not check (parameters that are not initializers)."""
        if 1 not in self._constant:
            self._check_scale(scale, self._fail_at)
        if zp is not None and 2 not in self._constant:
            problem = self.zero_point_type_error(zp, x.dtype)
            if problem:
                self._fail_at(problem, 2)
        key = (x.shape, scale.shape, None if zp is None else zp.shape)
        if key not in self._shapes_ok:
            if zp is not None and not _same_shape(scale, zp):
                self._fail_at(f"the scale (shape {list(scale.shape)}) and the zero point (shape {list(zp.shape)}) "
                              "must have the same shape", 2)
            self._check_shapes(x.shape, scale, zp, self._fail_at)
            self._shapes_ok.add(key)

    def _check_scale(self, scale, report):
        problem = self.scale_error(scale)
        if problem:
            report(problem, 1)
        if scale.ndim > 1 and self.opset < self.BLOCKED_FROM:
            report(f"must be a scalar or a 1-D tensor at opset {self.opset}, got shape {list(scale.shape)}", 1)
        if scale.size > 1 and self.opset < self.PER_AXIS_FROM:
            report(f"must be a single value at opset {self.opset} (per-axis quantization comes with opset 13), "
                   f"got shape {list(scale.shape)}", 1)

    def _check_shapes(self, x_shape, scale, zp, report):
        a = self.attributes
        block = a.get("block_size", 0)
        for index, param in ((1, scale), (2, zp)):
            if param is None:
                continue
            if param.ndim > 1 and not block:
                report(f"shape {list(param.shape)} needs block_size (blocked quantization) or must be 1-D", index)
            problem = param_shape_error(param, tuple(x_shape), a.get("axis", 1), block)
            if problem:
                report(problem, index)

    def _fail_at(self, message: str, index: int | None = None):
        if index is not None and index < len(self.node.input):
            message = f"input {index} {self.node.input[index]!r}: {message}"
        self.fail(message)


class _QuantizeLinear(_LinearQuantOp):
    """The computation, for every opset; subclasses give the opset's attributes."""

    def prepare(self):
        super().prepare()
        self._outputs = quant_types("QuantizeLinear", self.opset, "output:0")
        self._out_attr = None
        out = self.attributes.get("output_dtype", 0)
        if out:
            try:
                self._out_attr = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(out))
            except (KeyError, ValueError, TypeError):
                self.refuse(f"output_dtype {out} is not an ONNX element type")
            if self._out_attr not in self._outputs:
                self.refuse(f"output_dtype {self._out_attr} is not a quantized type of opset {self.opset} "
                            f"({type_names(self._outputs)})")
        self._precision = None
        precision = self.attributes.get("precision", 0)
        if precision:
            if precision not in (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE):
                name = TensorProto.DataType.Name(precision) if precision in TensorProto.DataType.values() else precision
                self.refuse(f"precision must be a float type (FLOAT, FLOAT16, BFLOAT16), got {name}")
            self._precision = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(precision))

    def scale_error(self, scale):
        return scale_error(scale, allow_int=self.opset >= 23)

    def zero_point_type_error(self, zero_point, x_dtype=None):
        zp = np.asarray(zero_point)
        if zp.dtype not in self._outputs:
            return f"zero point is {zp.dtype}, not a quantized type of opset {self.opset} ({type_names(self._outputs)})"
        if self._out_attr is not None and zp.dtype != self._out_attr:
            return f"zero point is {zp.dtype} but output_dtype is {self._out_attr}: they must be the same type"
        return zero_point_error(zp)

    def division_precision(self, x_dtype, scale_dtype):
        """The float type x / y_scale is computed in (None: exactly). See the module docstring."""
        if self._precision is not None:
            return self._precision
        if scale_dtype.kind == "f" or scale_dtype.name == "bfloat16":
            return scale_dtype
        if scale_dtype.name.startswith("float8_e8m0"):
            return x_dtype if (x_dtype.kind == "f" or x_dtype.name == "bfloat16") else None
        return None  # an int32 scale (opset 23+): the exact quotient

    def quantize(self, x, y_scale, y_zero_point, axis=1, saturate=1, block_size=0):
        self.check_params(x, y_scale, y_zero_point)
        out = y_zero_point.dtype if y_zero_point is not None else (self._out_attr or np.dtype(np.uint8))
        precision = self.division_precision(x.dtype, y_scale.dtype)
        return (quantize(x, y_scale, y_zero_point, out, axis, block_size, bool(saturate), precision),)


class QuantizeLinear_10(_QuantizeLinear):
    def _run(self, x, y_scale, y_zero_point=None):
        return self.quantize(x, y_scale, y_zero_point)


class QuantizeLinear_13(_QuantizeLinear):
    def _run(self, x, y_scale, y_zero_point=None, axis=1):
        return self.quantize(x, y_scale, y_zero_point, axis)


class QuantizeLinear_19(_QuantizeLinear):
    def _run(self, x, y_scale, y_zero_point=None, axis=1, saturate=1):
        return self.quantize(x, y_scale, y_zero_point, axis, saturate)


class QuantizeLinear_21(_QuantizeLinear):
    def _run(self, x, y_scale, y_zero_point=None, axis=1, block_size=0, output_dtype=0, saturate=1):
        return self.quantize(x, y_scale, y_zero_point, axis, saturate, block_size)


class QuantizeLinear_23(_QuantizeLinear):
    """Also 24 (float8e8m0 scales), 25 (int2/uint2) and 28 (float6): the same computation, the
    allowed types read from the node's opset."""

    def _run(self, x, y_scale, y_zero_point=None, axis=1, block_size=0, output_dtype=0, precision=0, saturate=1):
        return self.quantize(x, y_scale, y_zero_point, axis, saturate, block_size)

