"""Cast (opset 6+; saturate from 19, round_mode from 24). Exotic float types (float8, float4,
int4/int2, e8m0) come from ml_dtypes through onnx's helpers; strings are parsed/printed here."""
import math

import numpy as np
import onnx
from onnx import TensorProto

from refruntime.ops.base import OpRun

_FLOAT8 = {TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E4M3FNUZ, TensorProto.FLOAT8E5M2,
           TensorProto.FLOAT8E5M2FNUZ}


def _from_strings(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    flat = [float(str(s).strip()) for s in x.reshape(-1)]  # float() knows INF, +INF, -INF, NaN
    values = np.array(flat, dtype=np.float64).reshape(x.shape)
    return values.astype(dtype)


def _float_text(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "INF" if v > 0 else "-INF"
    return f"{v:.8g}"


def _to_strings(x: np.ndarray) -> np.ndarray:
    """Numbers as onnxruntime prints them: integers in full, floats with %.8g, NaN/INF/-INF,
    bools as 1/0."""
    if x.dtype.kind in "OSU":
        return x.astype(object)
    if x.dtype.kind in "biu":
        text = [str(int(v)) for v in x.reshape(-1).tolist()]
    else:
        text = [_float_text(v) for v in x.astype(np.float64).reshape(-1).tolist()]
    return np.array(text, dtype=object).reshape(x.shape)


def cast_to(x: np.ndarray, to: int, saturate: int = 1, round_mode: str = "up") -> np.ndarray:
    """x cast to the ONNX element type `to`, following the Cast spec."""
    if to == TensorProto.STRING:
        return _to_strings(x)
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(to))
    if x.dtype.kind in "OSU":
        return _from_strings(x, dtype)
    if to in _FLOAT8 and saturate:
        return onnx.numpy_helper.saturate_cast(x, dtype)
    if to == TensorProto.FLOAT8E8M0:
        return onnx.numpy_helper.to_float8e8m0(x, saturate, round_mode).astype(dtype)
    if dtype == x.dtype:
        return x
    return x.astype(dtype)


class Cast_6(OpRun):
    def prepare(self):
        to = self.attributes.get("to")
        if to is None:
            self.fail("attribute 'to' is required")
        if to not in TensorProto.DataType.values() or to == TensorProto.UNDEFINED:
            self.fail(f"attribute 'to' = {to} is not an ONNX element type")

    def _run(self, x, to=None, saturate=1, round_mode="up"):
        return (cast_to(x, to, saturate, round_mode),)
