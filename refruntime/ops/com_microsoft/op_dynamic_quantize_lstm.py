"""com.microsoft DynamicQuantizeLSTM (opset 1), as onnxruntime defines it.

The doc (ContribOperators.md) describes an ONNX LSTM whose weights arrive quantized:

    W (num_directions, input_size, 4 * hidden_size), R (num_directions, hidden_size, 4 * hidden_size):
        uint8 or int8, gates i, o, f, c along the last axis (transposed with respect to the ONNX
        LSTM's (num_directions, 4 * hidden_size, input_size));
    W_scale, W_zero_point, R_scale, R_zero_point: (num_directions,) per tensor or
        (num_directions, 4 * hidden_size) per output channel; W = (W_q - W_zero_point) * W_scale;

and everything else is the ONNX LSTM (B, sequence_lens, initial_h, initial_c, P; Y, Y_h, Y_c;
activations, activation_alpha/beta, clip, direction, hidden_size, input_forget: see op_lstm.py and
kernels/recurrent.py, whose recurrence this kernel runs). The doc is silent on the activations.
Dynamic quantization, per onnxruntime's quantization docs, quantizes them at run time, and
onnxruntime's kernel does so inside each of its GEMMs. This kernel implements that definition,
read from onnxruntime's sources (contrib_ops/cpu/quantization/dynamic_quantize_lstm.cc ->
core/providers/cpu/rnn/lstm_base.cc, uni_directional_lstm.cc, rnn_helpers.cc's ComputeGemm for
quantized weights, core/util/qmath.h's GetQuantizationParameter, mlas/lib/quantize.cpp):

1. Each direction makes one GEMM of the inputs, over the first L = max(sequence_lens) time steps
   (seq_length without sequence_lens) of all batch entries: A = X[:L] as one (L * batch, input)
   matrix (the reverse direction's time-reversed copy holds the same elements). Then, every step t,
   one GEMM of the state: A = H_{t-1} as (batch, hidden), initial_h at t = 0; an entry whose
   sequence ended before step t - 1 contributes zeros when the node outputs Y (onnxruntime reads
   the state back from Y, where it wrote 0) and its last state otherwise.
2. A (float32) is quantized to uint8 per GEMM, per tensor:
       lo = min(min(A), 0), hi = max(max(A), 0)                        (float32)
       scale = 1 if hi == lo else fl32(fl32(hi - lo) / 255)
       zp = round_half_even(clamp(fl32(0 - fl32(lo / scale)), 0, 255))
       q = clamp(round_half_even(fl32(a / scale)), -zp, 255 - zp) + zp
   Every fl32(...) is one IEEE float32 operation, so the integers are machine-independent: this
   kernel forms them with numpy's float32 arithmetic, rounding half to even as onnxruntime does
   (MLAS converts with round-to-nearest-even). H is the kernel's float64 state rounded to float32,
   the type onnxruntime holds it in.
3. The product is exact: acc = sum_k (q - zp)(Wq - W_zp), accumulated here in integers (as float64
   BLAS on integer values whose partial sums stay far below 2**53, hence exact on any machine),
   then acc * (scale * W_scale[column]) in float64 (the product of two float32 values is exact).
4. The gates sum both products and the biases (Wb + Rb), and the LSTM's element-wise part runs in
   float64; the outputs are rounded once to float32.

Remaining departures from onnxruntime, all below its float32 rounding except the last two:
- onnxruntime rounds scale * W_scale, float(acc) and every gate sum to float32, and uses MLAS's
  approximations of sigmoid and tanh; its H therefore differs from ours by float32 rounding, and
  an element of H that lies that close to a quantization boundary would quantize one step apart
  (measured: the zoo's dynamic LSTMs and the tests' cases agree with onnxruntime within 3e-7 of the
  output range everywhere, against 0.8 % for the float LSTM the doc's text alone describes).
- an entry with sequence_lens 0 when the node has no Y output: onnxruntime's recurrent GEMM then
  reads that entry's row of Y_h before writing it (uninitialized memory), so its other entries are
  undefined; this kernel reads initial_h.
- per-channel zero points: onnxruntime uses the first zero point of each direction and refuses
  unequal ones (int8 weights: all must be 0); this kernel subtracts each column's own.
- batch > 1: onnxruntime splits the batch rows of the recurrent GEMM across its intra-op threads
  (UniDirectionalLstm::SetNumThreads: batch > 4, or batch >= 2 with hidden_size <= 256) and each
  chunk is quantized with its own scale, so its result depends on its thread count. This kernel
  quantizes all rows together: onnxruntime with one intra-op thread.
- on x86 without VNNI, MLAS's u8s8 GEMM sums pairs of products in saturating int16 (the reason
  onnxruntime's quantizer offers reduce_range); this kernel's sums are exact.
sequence_lens may hold 0 (outputs 0 for that entry) as in onnxruntime; its range is [0, seq_length].
"""
import numpy as np

from refruntime.ops._quant import scale_error, zero_point_error
from refruntime.ops.base import OpRun
from refruntime.ops.com_microsoft._common import FLOAT, FLOATS, INT, STRING, STRINGS, check_node

#: inputs by role (com.microsoft's order; the quantization parameters are 8-11)
INPUTS = {"X": 0, "W": 1, "R": 2, "B": 3, "sequence_lens": 4, "initial_h": 5, "initial_c": 6, "P": 7}
_F32 = np.float32


def dynamic_quantize(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """onnxruntime's dynamic uint8 quantization of each a[g] (float32, leading axis = groups):
    (q - zp as float64 integers of a's shape, scale per group as float64). See step 2 above."""
    axes = tuple(range(1, a.ndim))
    lo = np.minimum(a.min(axis=axes, initial=np.inf), _F32(0))
    hi = np.maximum(a.max(axis=axes, initial=-np.inf), _F32(0))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(hi == lo, _F32(1), (hi - lo) / _F32(255)).astype(_F32)
        zp = np.rint(np.clip(_F32(0) - lo / scale, _F32(0), _F32(255)))
        shape = (-1,) + (1,) * len(axes)
        q = np.rint(a / scale.reshape(shape))
    centered = np.clip(q, -zp.reshape(shape), _F32(255) - zp.reshape(shape))
    return centered.astype(np.float64), scale.astype(np.float64)


class DynamicQuantizeLSTM(OpRun):
    def prepare(self):
        check_node(self, inputs=(12, 12), outputs=(0, 3), required_inputs=(0, 1, 2, 8, 9, 10, 11),
                   attributes={"activation_alpha": FLOATS, "activation_beta": FLOATS, "activations": STRINGS,
                               "clip": FLOAT, "direction": STRING, "hidden_size": INT, "input_forget": INT})
        from refruntime.kernels import recurrent

        self.config = recurrent.parse_node(self, ("Sigmoid", "Tanh", "Tanh"))
        self.num_directions = self.config.num_directions

    def check_constants(self, constants):
        from refruntime.kernels import recurrent

        values = {role: constants[i] for role, i in INPUTS.items() if i in constants and role != "X"}
        for role in ("W", "R"):
            if role in values and values[role].dtype.name not in ("uint8", "int8"):
                self.refuse(f"must be uint8 or int8, got {values[role].dtype}", INPUTS[role])
        recurrent.check_shapes(self.refuse, self.config, 4, values, INPUTS, transposed=True)
        for scale_index, zp_index, weights_index in ((8, 9, 1), (10, 11, 2)):
            self._check_quantization(constants.get(scale_index), constants.get(zp_index),
                                     constants.get(weights_index), scale_index, self.refuse)

    def _check_quantization(self, scale, zero_point, weights, index, report):
        dirs, hidden = self.num_directions, self.attributes.get("hidden_size")
        for offset, param in ((0, scale), (1, zero_point)):
            if param is None:
                continue
            ok = param.ndim in (1, 2) and param.shape[0] == dirs and (
                param.ndim == 1 or hidden is None or param.shape[1] == 4 * hidden)
            if not ok:
                report(f"must have shape [{dirs}] (per tensor) or [{dirs}, 4 * hidden_size] (per channel), got "
                       f"{list(param.shape)}", index + offset)
        if scale is not None:
            problem = scale_error(scale)
            if problem:
                report(problem, index)
        if zero_point is not None:
            problem = zero_point_error(zero_point, None if weights is None else weights.dtype)
            if problem:
                report(problem, index + 1)
        if scale is not None and zero_point is not None and scale.shape != zero_point.shape:
            report(f"has shape {list(zero_point.shape)} but its scale has {list(scale.shape)}", index + 1)

    def _run(self, x, w, r, b=None, sequence_lens=None, initial_h=None, initial_c=None, p=None, w_scale=None,
             w_zero_point=None, r_scale=None, r_zero_point=None, activation_alpha=None, activation_beta=None,
             activations=None, clip=None, direction="forward", hidden_size=None, input_forget=0):
        from refruntime.kernels import recurrent

        report = recurrent.failing(self)
        config, dirs = self.config, self.num_directions
        for index, q in ((1, w), (2, r)):
            if q.dtype.name not in ("uint8", "int8"):
                report(f"must be uint8 or int8, got {q.dtype}", index)
        if x.dtype.kind != "f":
            report(f"must be float32, got {x.dtype}", 0)
        inputs = {"X": x, "W": w, "R": r, "B": b, "sequence_lens": sequence_lens, "initial_h": initial_h,
                  "initial_c": initial_c, "P": p}
        if r.ndim != 3 or w.ndim != 3:
            report(f"W {list(w.shape)} and R {list(r.shape)} must be [{dirs}, input_size, 4 * hidden_size] and "
                   f"[{dirs}, hidden_size, 4 * hidden_size]", 1)
        recurrent.check_shapes(report, config, 4, inputs, INPUTS, transposed=True)
        self._check_quantization(w_scale, w_zero_point, w, 8, report)
        self._check_quantization(r_scale, r_zero_point, r, 10, report)
        seq, batch, _ = x.shape
        hidden = r.shape[1]
        lengths = recurrent.lengths_of(report, sequence_lens, seq, batch, INPUTS["sequence_lens"])
        order = recurrent.StepOrder(seq, batch, lengths, config.reverse)
        want_y = bool(self.node.output) and bool(self.node.output[0])

        # the input GEMM: X[:L] quantized once (both directions quantize the same elements)
        xc, x_scale = dynamic_quantize(x[:order.steps].astype(_F32)[None])
        w_centered = _centered(w, w_zero_point)                                   # (D, input, 4H)
        w_mult = x_scale[0] * _per_column(w_scale)                                # (D, 1, 4H | 1)
        gx = recurrent.input_projection(xc[0], w_centered, None, order)           # exact integers
        gx *= w_mult[:, None]
        if b is not None:
            bias = b.astype(np.float64)
            gx += (bias[:, :4 * hidden] + bias[:, 4 * hidden:])[:, None, None, :]

        r_centered = _centered(r, r_zero_point)                                   # (D, H, 4H)
        r_mult = _per_column(r_scale)
        flops = 2 * dirs * batch * hidden * 4 * hidden

        def product(h, step):
            a = h.astype(_F32)
            if want_y and lengths is not None and step > 0:
                a[:, lengths < step] = 0  # read back from Y, where a finished entry's row is 0
            hc, h_scale = dynamic_quantize(a)
            acc = recurrent.blas.matmul(hc, r_centered, flops=flops)
            acc *= h_scale[:, None, None] * r_mult
            return acc

        peep = None if p is None else p.astype(np.float64)
        cell = recurrent.lstm_cell(product, hidden, config.roles, peep, config.clip, bool(input_forget))
        zeros = np.zeros((dirs, batch, hidden))
        h0 = zeros if initial_h is None else initial_h.astype(np.float64)
        c0 = zeros if initial_c is None else initial_c.astype(np.float64)
        y, h, c = recurrent.recur(cell, gx, h0, c0, order, want_y)
        outputs = (y, h, c)[:self.num_outputs]
        return tuple(None if o is None else o.astype(x.dtype) for o in outputs)


def _centered(q, zero_point):
    """(num_directions, rows, 4H) weights minus their zero point (per direction or per column), as
    float64 integers."""
    zp = zero_point.astype(np.float64).reshape(q.shape[0], 1, -1)
    return q.astype(np.float64) - zp


def _per_column(scale):
    """W_scale / R_scale as (num_directions, 1, 4H) (per channel) or (num_directions, 1, 1)."""
    return scale.astype(np.float64).reshape(scale.shape[0], 1, -1)
