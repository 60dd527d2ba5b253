"""The fused steps of the plain path's program (refruntime/plan_fusion.py decides what fuses):

    Conv [-> BatchNormalization] [-> Add/Sum residual] [-> Relu | Clip] [-> MaxPool]   FusedConv
    Gemm -> Relu                                                                     gemm_relu
    MatMul -> Add of a constant bias                                                 matmul_bias
    Softmax -> Where(IsNaN(s), constant, s)                                          softmax_nan_to

Each fused step computes fused only when the run-time inputs allow it (float32/float64, matching
shapes) and otherwise runs the chain's own kernels one after the other (`FusedConv.unfused`), so
results and errors are those of the unfused graph. The float operations are done in the unfused
order, so fused results are bitwise equal to the unfused ones.
"""
from __future__ import annotations

import numpy as np

from refruntime.kernels.bias import add_bias, add_bias_rows, row_vector
from refruntime.kernels.blas import matmul as blas_matmul

_FLOAT32 = np.dtype(np.float32)
_FUSED_DTYPES = (_FLOAT32, np.dtype(np.float64))
_STANDARD = ("", "ai.onnx")


def clamp_of(step, constant, source: str):
    """((lo, hi), the node's bound inputs) of a Relu or of a Clip with constant bounds clamping
    `source`, else None."""
    node = step.node
    if step.is_fallback or node.domain not in _STANDARD or len(step.outputs) != 1 or step.inputs[0] != source:
        return None
    if node.op_type == "Relu":
        return (0.0, np.inf), ()
    if node.op_type != "Clip":
        return None
    if type(step.kernel).__name__ == "Clip_6":
        attrs = step.kernel.attributes
        return (float(attrs.get("min", -3.4028234663852886e38)), float(attrs.get("max", 3.4028234663852886e38))), ()
    if type(step.kernel).__name__ != "Clip_11":
        return None  # Clip-1 (attributes, consumed_inputs): rare, left unfused
    bounds, inputs = [-np.inf, np.inf], []
    for k, name in enumerate(node.input[1:3]):
        value = constant(name) if name else None
        if name and (value is None or value.size != 1 or value.dtype.kind != "f"):
            return None
        inputs.append(value)
        if value is not None:
            bounds[k] = float(value.reshape(()))
    return (bounds[0], bounds[1]), tuple(inputs)


def pool_window(step, source: str):
    """(ph, pw) of a MaxPool reading `source` that the channels-last conv epilogue can apply: 2-D,
    values only, window = stride, no pads or dilations, floor mode; else None."""
    node = step.node
    if (step.is_fallback or node.op_type != "MaxPool" or node.domain not in _STANDARD
            or step.inputs[0] != source or any(node.output[1:])):
        return None
    a = step.kernel.attributes
    window = list(a.get("kernel_shape", ()))
    if (len(window) != 2 or window == [1, 1] or list(a.get("strides", [1, 1])) != window
            or any(a.get("pads", ())) or any(d != 1 for d in a.get("dilations", ()))
            or a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID") or a.get("ceil_mode", 0)):
        return None
    return tuple(window)


def residual_of(step, source: str):
    """(other input, position of `source`) of a two-input Add (opset 7+) or Sum (6+) reading
    `source` and another value, else None. Whether the other value has the Conv output's shape
    and dtype is checked per run."""
    node = step.node
    if (step.is_fallback or node.domain not in _STANDARD or len(step.inputs) != 2
            or type(step.kernel).__name__ not in ("Add_7", "Sum_6")):
        return None
    a, b = step.inputs
    if a == b or source not in (a, b) or not (a and b):
        return None
    return (b, 0) if a == source else (a, 1)


class FusedConv:
    """Conv [-> BatchNormalization] [-> Add/Sum] [-> Relu/Clip] [-> MaxPool] as one call of
    Conv.run_fused. Its inputs are the Conv's, then the residual when an Add/Sum is fused."""

    def __init__(self, chain, bn, act, pool=None, residual=None):
        self.chain = chain
        self.conv = chain[0].kernel
        self.n_conv_inputs = len(chain[0].inputs)
        self.bn = bn
        self.clamp, self.act_inputs = act if act is not None else ((-np.inf, np.inf), ())
        self.pool = pool
        self.residual_position = None if residual is None else residual[1]
        self._affine: dict = {}

    def affine(self, dtype):
        if self.bn is None:
            return None, None
        got = self._affine.get(dtype)
        if got is None:
            from refruntime.ops.op_batch_normalization import affine_parameters

            (scale, b, mean, var), epsilon = self.bn
            got = self._affine[dtype] = affine_parameters(scale, b, mean, var, epsilon, dtype)
        return got

    def run(self, *inputs):
        x, w = inputs[0], inputs[1]
        b = inputs[2] if self.n_conv_inputs > 2 else None
        residual = inputs[self.n_conv_inputs] if self.residual_position is not None else None
        if (x.dtype in _FUSED_DTYPES and (self.bn is None or self.bn[0][0].shape == (w.shape[0],))
                and (self.pool is None or x.ndim == 4) and self._residual_fits(residual, x, w, b)):
            scale, shift = self.affine(x.dtype)
            clamp = self.clamp
            if x.dtype != np.float64 and clamp != (-np.inf, np.inf):
                clamp = (float(x.dtype.type(clamp[0])), float(x.dtype.type(clamp[1])))
            y, pooled = self.conv.run_fused(x, w, b, scale, shift, clamp, self.pool, residual)
            if self.pool is not None and not pooled:  # a path without the pooling epilogue
                y = self.chain[-1].kernel.run(y)[0]
            return (y,)
        return self.unfused(x, w, b, residual)

    def _residual_fits(self, residual, x, w, b) -> bool:
        """No residual, or one of exactly the Conv output's shape and dtype (no broadcasting)."""
        if self.residual_position is None:
            return True
        if not isinstance(residual, np.ndarray) or residual.dtype != x.dtype or w.ndim != x.ndim or x.ndim < 3:
            return False
        try:
            out = self.conv.geometry(x, w, b).out
        except Exception:  # noqa: BLE001 - a shape error: the unfused Conv reports it
            return False
        return residual.shape == (x.shape[0], w.shape[0], *out)

    def unfused(self, x, w, b=None, residual=None):
        """The chain's own kernels, one after the other (the reference behaviour)."""
        (y,) = self.conv.run(x, w, b)[:1]
        for step in self.chain[1:]:
            op = step.node.op_type
            if op == "BatchNormalization":
                (scale, bias, mean, var), _ = self.bn
                y = step.kernel.run(y, scale, bias, mean, var)[0]
            elif op == "MaxPool":
                y = step.kernel.run(y)[0]
            elif op in ("Add", "Sum"):  # in the graph's operand order
                y = step.kernel.run(*((y, residual) if self.residual_position == 0 else (residual, y)))[0]
            else:  # Relu, Clip: with the bound inputs the graph gives them (constants)
                y = step.kernel.run(y, *self.act_inputs)[0]
        return (y,)


def matmul_bias(matmul, add, bias: np.ndarray, bias_first: bool):
    """MatMul -> Add of a constant bias (every transformer projection): the bias added in place to
    MatMul's fresh output, one step and one array fewer. Bitwise the unfused result: the same
    elementwise addition in the same dtype (IEEE addition commutes). Any other case (a bias that
    would broadcast the product up, another dtype) adds as the unfused Add would."""
    fits: list = [None]  # the last product shape the bias was checked against (type and dtype too)
    row_bias = row_vector(bias)
    # A float32 projection ((..., M, K) @ a constant (K, N), a row bias): after one call through the
    # kernels, calls with the same A shape and the same read-only B array (an initializer, whose shape
    # cannot change) skip their checks, as MatMul's own once-per-shape checks do.
    # (A shape, B, rows shape (M', K), flops, output shape)
    projection: list = [None]

    def run(a, b):
        known = projection[0]
        if known is not None and a.shape == known[0] and b is known[1] and a.dtype is _FLOAT32:
            y = blas_matmul(a.reshape(known[2]), b, flops=known[3])
            add_bias_rows(y, row_bias)
            return (y.reshape(known[4]),)
        (y,) = matmul.run(a, b)
        if type(y) is np.ndarray and y.shape == fits[0] and y.dtype == bias.dtype:
            add_bias(y, bias, row_bias)
            return (y,)
        if (isinstance(y, np.ndarray) and y.dtype == bias.dtype and y.ndim >= bias.ndim
                and all(d == 1 or d == e for d, e in zip(bias.shape[::-1], y.shape[::-1]))):
            fits[0] = y.shape
            add_bias(y, bias, row_bias)
            if (row_bias is not None and a.dtype is _FLOAT32 and b.dtype is _FLOAT32 and a.ndim >= 2
                    and b.ndim == 2 and not b.flags.writeable and y.shape[-1] == row_bias.size
                    and row_bias.size and a.size):
                rows = (a.size // a.shape[-1], a.shape[-1])
                projection[0] = (a.shape, b, rows, 2 * rows[0] * b.size, y.shape)
            return (y,)
        return add.run(bias, y) if bias_first else add.run(y, bias)

    return run



def reshaped_gemm(reshape_in, gemm, reshape_out, gemm_kernel):
    """Reshape -> Gemm -> Reshape (GPT-2's Conv1D as TorchScript exports it: x.view(-1, K), addmm,
    .view(..., N)): the three kernels one after the other, and once they ran a plain float32 Gemm
    (gemm_kernel._plain: A @ B + a row C) on read-only targets, B and C, later calls with the same
    input shape and the same target, B and C arrays go straight to the product and its reshape:
    the same reshapes, the same product and bias loop, so the same bits."""
    known: list = [None]  # (x shape, target in, B, C, target out, rows shape, flops, row C, out shape)

    def run(x, target_in, b, c, target_out):
        memo = known[0]
        if (memo is not None and x.shape == memo[0] and target_in is memo[1] and b is memo[2] and c is memo[3]
                and target_out is memo[4] and x.dtype is _FLOAT32):
            y = blas_matmul(x.reshape(memo[5]), b, flops=memo[6])
            add_bias_rows(y, memo[7])
            return (y.reshape(memo[8]),)
        (rows,) = reshape_in(x, target_in)[:1]
        (product,) = gemm(rows, b, c)[:1]
        (y,) = reshape_out(product, target_out)[:1]
        plain = gemm_kernel._plain
        if (plain and type(x) is np.ndarray and x.dtype is _FLOAT32 and type(rows) is np.ndarray
                and plain[0] == rows.shape and plain[1] is b and plain[2] is c and type(y) is np.ndarray
                and all(type(v) is np.ndarray and not v.flags.writeable for v in (target_in, b, c, target_out))):
            known[0] = (x.shape, target_in, b, c, target_out, rows.shape, plain[4], plain[3], y.shape)
        return (y,)

    return run


def gemm_relu(gemm):
    def run(a, b, c=None):
        (y,) = gemm.run(a, b, c)[:1]
        if isinstance(y, np.ndarray) and y.ndim:
            np.maximum(y, 0, out=y)  # Gemm's output is a fresh array of its own
        return (y,)

    return run



_replace_nan = None  # kernels/softmax_rows.replace_nan, imported on first use


def softmax_nan_to(softmax, is_nan, where, value: np.ndarray):
    """Softmax whose NaNs a Where(IsNaN(s), value, s) replaces (TorchScript's export of
    scaled_dot_product_attention after a fully masked row): the constant written over the NaNs of
    the Softmax's fresh output in one pass (kernels/softmax_rows.replace_nan), or for a float32
    softmax along the last axis in the pass that divides by the row sums, instead of an IsNaN and a
    Where over the scores. Bitwise the unfused result; any other dtype, a value that is not a single
    number or one of higher rank than the scores (Where would broadcast them up) runs the three
    kernels."""
    from refruntime.ops import op_softmax
    from refruntime.ops.op_softmax import Softmax_13

    single = value.dtype == np.float32 and value.size == 1
    fill = value.reshape(-1)[0] if single else None

    def run(x):
        if (single and type(softmax) is Softmax_13 and type(x) is np.ndarray and value.ndim <= x.ndim
                and softmax.rows_case(x)):
            return (op_softmax.float32_rows(x, fill),)  # one pass divides and replaces
        (s,) = softmax.run(x)
        if type(s) is np.ndarray and s.dtype == np.float32 and single and value.ndim <= s.ndim:
            global _replace_nan
            if _replace_nan is None:
                from refruntime.kernels.softmax_rows import replace_nan as _replace_nan
            _replace_nan(s.reshape(-1), value.reshape(-1)[0])
            return (s,)
        (mask,) = is_nan.run(s)
        return where.run(mask, value, s)

    return run
