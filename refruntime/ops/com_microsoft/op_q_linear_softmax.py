"""com.microsoft QLinearSoftmax (ContribOperators.md, "com.microsoft.QLinearSoftmax", opset 1):
Y = quantize(Softmax(dequantize(X))), with the Softmax of the onnx opset given by the required
attribute `opset`: below 13 the input is coerced to 2-D at `axis` and the softmax runs over every
axis from `axis` on; from 13 it runs along the single axis `axis`. `axis` defaults to -1 for
every opset (the doc's default, which onnxruntime applies too, although Softmax below 13 defaults
to 1). X_scale,
x_zero_point (optional, 0), y_scale and y_zero_point are per tensor; X and Y of one type T (uint8
or int8).

refruntime computes exactly that map: dequantize (exact), softmax in float64 (the maximum
subtracted first), divide by y_scale, round half to even, add y_zero_point, saturate.

Where runtimes disagree, onnxruntime's kernel (contrib_ops/cpu/quantization/qlinear_softmax.cc)
approximates it: exp comes from a float32 table of exp((x - 255 + shift) * X_scale) indexed by x -
max(x), summed in float32, and the output is nearbyint(e * floor(1 / y_scale) / sum) +
y_zero_point, i.e. y_scale is replaced by 1 / floor(1 / y_scale). That is exact only when 1 /
y_scale is an integer (the 1/256 that quantization tools choose): with y_scale = float32(1/255),
floor gives 254 and a probability of 1 comes out as 254 instead of 255 (onnxruntime 1.32,
tests/refruntime/test_contrib_quantized.py). Elsewhere results agree to one step.
"""
import numpy as np

from refruntime.ops.com_microsoft._common import INT, QuantizedOp, check_node, requantized, value


class QLinearSoftmax(QuantizedOp):
    SCALES = (1, 3)
    ZERO_POINTS = ((2, 0), (4, 0))

    def prepare(self):
        check_node(self, inputs=(5, 5), required_inputs=(0, 1, 3, 4), attributes={"axis": INT, "opset": INT},
                   required_attributes=("opset",))
        if self.attributes["opset"] < 1:
            self.refuse(f"attribute 'opset' must be a positive onnx opset version, got {self.attributes['opset']}")

    def _run(self, x, x_scale, x_zero_point=None, y_scale=None, y_zero_point=None, axis=-1, opset=None):
        self.check_data(x, 0)
        self.check_params((x, x_scale, x_zero_point, y_scale, y_zero_point))
        coerce = opset < 13
        rank = x.ndim
        if not -rank <= axis < max(rank, 1):
            self.fail(f"axis {axis} is out of range for an input of shape {x.shape}")
        axis = axis + rank if axis < 0 else axis
        if x.size == 0:
            return (x.copy(),)
        v = float(value(x_scale)) * (x.astype(np.float64) - value(x_zero_point))
        if rank == 0:
            v = v.reshape(1)
        if coerce:
            rows = int(np.prod(x.shape[:axis], dtype=np.int64))
            p = _softmax(v.reshape(rows, -1), 1).reshape(x.shape)
        else:
            p = _softmax(v, axis).reshape(x.shape)
        return (requantized(np.rint(p / float(value(y_scale))), y_zero_point, x.dtype),)


def _softmax(v, axis):
    e = np.exp(v - v.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
