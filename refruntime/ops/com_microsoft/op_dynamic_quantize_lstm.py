"""com.microsoft DynamicQuantizeLSTM (ContribOperators.md, "com.microsoft.DynamicQuantizeLSTM", opset
1): an ONNX LSTM (onnx Operators.md, LSTM-14 without `layout`) whose weights arrive quantized:

    W (num_directions, input_size, 4 * hidden_size), R (num_directions, hidden_size, 4 * hidden_size):
        uint8 or int8, gates in the order i, o, f, c along the last axis (note: transposed with
        respect to the ONNX LSTM's (num_directions, 4 * hidden_size, input_size));
    W_scale, W_zero_point, R_scale, R_zero_point: (num_directions,) per tensor or
        (num_directions, 4 * hidden_size) per output channel; W = (W_q - W_zero_point) * W_scale.

Everything else is the ONNX LSTM: B (num_directions, 8 * hidden_size: Wb then Rb), sequence_lens,
initial_h, initial_c, P (peepholes i, o, f), outputs Y (seq_length, num_directions, batch, hidden),
Y_h, Y_c; attributes activations (f, g, h per direction; default Sigmoid, Tanh, Tanh),
activation_alpha/beta, clip, direction, hidden_size, input_forget. With X_t the input at step t:

    i = f(X_t Wi + H_{t-1} Ri + Pi * C_{t-1} + Wbi + Rbi)
    f = f(X_t Wf + H_{t-1} Rf + Pf * C_{t-1} + Wbf + Rbf)      (input_forget: f = 1 - i)
    c = g(X_t Wc + H_{t-1} Rc + Wbc + Rbc)
    C_t = f * C_{t-1} + i * c
    o = f(X_t Wo + H_{t-1} Ro + Po * C_t + Wbo + Rbo)
    H_t = o * h(C_t)

clip bounds every activation's input to [-clip, clip]. A batch entry with sequence_lens L runs L
steps (the reverse direction from its step L - 1 back to 0); Y is 0 past L, Y_h and Y_c hold its
last step. The reference dequantizes W and R exactly (float64) and runs the recurrence in float64,
rounding the outputs once to X's type (float32).

Where runtimes disagree: onnxruntime also quantizes the activations: each of its GEMMs quantizes its
left operand (X for all steps at once, H_{t-1} at every step) to uint8 with dynamic per-GEMM
parameters, and accumulates in int32. Its outputs therefore carry that quantization error (of the
order of range(X) / 255 and range(H) / 255 times |W|), which the reference, following the doc's
LSTM, does not: tests/refruntime/test_contrib_quantized.py measures the difference. onnxruntime
also requires per-channel zero points to be all 0 (int8) or all equal (uint8); the reference takes
any, and refuses sequence_lens outside [1, seq_length] as onnxruntime does.
"""
import numpy as np

from refruntime.ops._quant import scale_error, zero_point_error
from refruntime.ops.base import OpRun
from refruntime.ops.com_microsoft._common import FLOAT, FLOATS, INT, STRING, STRINGS, check_node

DIRECTIONS = {"forward": 1, "reverse": 1, "bidirectional": 2}

#: the ONNX RNN activation functions: (function of (x, alpha, beta), default alpha, default beta);
#: a None default means the function takes no such parameter
ACTIVATIONS = {
    "relu": (lambda x, a, b: np.maximum(x, 0.0), None, None),
    "tanh": (lambda x, a, b: np.tanh(x), None, None),
    "sigmoid": (lambda x, a, b: 1.0 / (1.0 + np.exp(-x)), None, None),
    "affine": (lambda x, a, b: a * x + b, 1.0, 0.0),
    "leakyrelu": (lambda x, a, b: np.where(x >= 0, x, a * x), float(np.float32(0.01)), None),
    "thresholdedrelu": (lambda x, a, b: np.where(x > a, x, 0.0), 1.0, None),
    "scaledtanh": (lambda x, a, b: a * np.tanh(b * x), 1.0, 1.0),
    "hardsigmoid": (lambda x, a, b: np.clip(a * x + b, 0.0, 1.0), float(np.float32(0.2)), 0.5),
    "elu": (lambda x, a, b: np.where(x >= 0, x, a * np.expm1(np.minimum(x, 0.0))), 1.0, None),
    "softsign": (lambda x, a, b: x / (1.0 + np.abs(x)), None, None),
    "softplus": (lambda x, a, b: np.logaddexp(0.0, x), None, None),
}


class DynamicQuantizeLSTM(OpRun):
    def prepare(self):
        check_node(self, inputs=(12, 12), outputs=(0, 3), required_inputs=(0, 1, 2, 8, 9, 10, 11),
                   attributes={"activation_alpha": FLOATS, "activation_beta": FLOATS, "activations": STRINGS,
                               "clip": FLOAT, "direction": STRING, "hidden_size": INT, "input_forget": INT})
        a = self.attributes
        direction = a.get("direction", "forward")
        if direction not in DIRECTIONS:
            self.refuse(f"direction must be forward, reverse or bidirectional, got {direction!r}")
        self.num_directions = DIRECTIONS[direction]
        if a.get("hidden_size", 1) < 1:
            self.refuse(f"hidden_size must be positive, got {a['hidden_size']}")
        if "clip" in a and not a["clip"] > 0:
            self.refuse(f"clip must be positive, got {a['clip']}")
        names = a.get("activations", ["Sigmoid", "Tanh", "Tanh"] * self.num_directions)
        if len(names) != 3 * self.num_directions:
            self.refuse(f"activations has {len(names)} functions, expected {3 * self.num_directions} "
                        f"(f, g, h per direction)")
        alphas, betas = list(a.get("activation_alpha", [])), list(a.get("activation_beta", []))
        self.functions = []
        for name in names:
            if name.lower() not in ACTIVATIONS:
                self.refuse(f"unknown activation {name!r} (known: {', '.join(sorted(ACTIVATIONS))})")
            fn, alpha, beta = ACTIVATIONS[name.lower()]
            if alpha is not None and alphas:
                alpha = alphas.pop(0)
            if beta is not None and betas:
                beta = betas.pop(0)
            self.functions.append((fn, alpha, beta))

    def check_constants(self, constants):
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
        dirs = self.num_directions
        for index, q in ((1, w), (2, r)):
            if q.dtype.name not in ("uint8", "int8"):
                self.fail(f"input {index} must be uint8 or int8, got {q.dtype}")
        if x.dtype.kind != "f":
            self.fail(f"X must be float32, got {x.dtype}")
        if x.ndim != 3:
            self.fail(f"X must be (seq_length, batch_size, input_size), got shape {x.shape}")
        seq, batch, width = x.shape
        hidden = r.shape[1] if r.ndim == 3 else -1
        if hidden_size is not None and hidden != hidden_size:
            self.fail(f"R has shape {r.shape}, expected ({dirs}, {hidden_size}, {4 * hidden_size})")
        if w.shape != (dirs, width, 4 * hidden) or r.shape != (dirs, hidden, 4 * hidden):
            self.fail(f"W {w.shape} and R {r.shape} must be ({dirs}, {width}, 4H) and ({dirs}, H, 4H) for X of "
                      f"shape {x.shape}")
        self._check_quantization(w_scale, w_zero_point, w, 8, self._fail_at)
        self._check_quantization(r_scale, r_zero_point, r, 10, self._fail_at)
        shapes = {3: (b, (dirs, 8 * hidden)), 5: (initial_h, (dirs, batch, hidden)),
                  6: (initial_c, (dirs, batch, hidden)), 7: (p, (dirs, 3 * hidden))}
        for index, (value, shape) in shapes.items():
            if value is not None and value.shape != shape:
                self.fail(f"input {index} {self.node.input[index]!r} has shape {value.shape}, expected {shape}")
        lengths = np.full(batch, seq, dtype=np.int64)
        if sequence_lens is not None:
            if sequence_lens.shape != (batch,):
                self.fail(f"sequence_lens has shape {sequence_lens.shape}, expected ({batch},)")
            lengths = sequence_lens.astype(np.int64)
            if batch and (lengths.min() < 1 or lengths.max() > seq):
                self.fail(f"sequence_lens must lie in [1, {seq}], got {lengths.tolist()}")
        wf = _dequantize(w, w_scale, w_zero_point)
        rf = _dequantize(r, r_scale, r_zero_point)
        zeros = np.zeros((dirs, batch, hidden))
        bias = b.astype(np.float64) if b is not None else np.zeros((dirs, 8 * hidden))
        peep = p.astype(np.float64) if p is not None else np.zeros((dirs, 3 * hidden))
        h0 = initial_h.astype(np.float64) if initial_h is not None else zeros
        c0 = initial_c.astype(np.float64) if initial_c is not None else zeros
        y = np.zeros((seq, dirs, batch, hidden))
        y_h, y_c = np.empty_like(zeros), np.empty_like(zeros)
        xf = x.astype(np.float64)
        for d in range(dirs):
            reverse = direction == "reverse" or d == 1
            fns = self.functions[3 * d: 3 * d + 3]
            y[:, d], y_h[d], y_c[d] = self._direction(xf, wf[d], rf[d], bias[d], peep[d], h0[d], c0[d], lengths,
                                                       reverse, fns, clip, input_forget)
        outputs = (y, y_h, y_c)[:self.num_outputs]
        return tuple(o.astype(x.dtype) for o in outputs)

    def _direction(self, x, w, r, bias, peep, h, c, lengths, reverse, fns, clip, input_forget):
        seq, batch, _ = x.shape
        hidden = r.shape[0]
        steps = np.arange(seq)[:, None]
        valid = steps < lengths[None, :]                                         # (seq, batch)
        # the time index each step reads: t = s, or L - 1 - s going backwards
        time = np.where(valid, lengths[None, :] - 1 - steps, 0) if reverse else steps.repeat(batch, 1)
        xs = x[time, np.arange(batch)[None, :]]                                  # (seq, batch, input)
        gates_x = xs @ w + bias[:4 * hidden] + bias[4 * hidden:]
        p_i, p_o, p_f = peep[:hidden], peep[hidden:2 * hidden], peep[2 * hidden:]
        (f, fa, fb), (g, ga, gb), (hh, ha, hb) = fns
        lo, hi = (-clip, clip) if clip is not None else (-np.inf, np.inf)
        y = np.zeros((seq, batch, hidden))
        with np.errstate(over="ignore"):
            for s in range(seq):
                gates = gates_x[s] + h @ r
                gi, go, gf, gc = np.split(gates, 4, axis=1)
                i = f(np.clip(gi + p_i * c, lo, hi), fa, fb)
                forget = 1.0 - i if input_forget else f(np.clip(gf + p_f * c, lo, hi), fa, fb)
                c_new = forget * c + i * g(np.clip(gc, lo, hi), ga, gb)
                o = f(np.clip(go + p_o * c_new, lo, hi), fa, fb)
                h_new = o * hh(c_new, ha, hb)
                keep = valid[s][:, None]
                c = np.where(keep, c_new, c)
                h = np.where(keep, h_new, h)
                y[s] = np.where(keep, h_new, 0.0)
        if reverse:  # step s produced time L - 1 - s
            out = np.zeros_like(y)
            s_index, b_index = np.nonzero(valid)
            out[time[s_index, b_index], b_index] = y[s_index, b_index]
            y = out
        return y, h, c

    def _fail_at(self, message, index=None):
        self.fail(message if index is None else f"input {index} {self.node.input[index]!r}: {message}")


def _dequantize(q, scale, zero_point):
    """(num_directions, rows, 4H) weights: (q - zero_point) * scale, per direction or per column."""
    shape = (q.shape[0], 1, -1)
    zp = zero_point.astype(np.float64).reshape(shape)
    return (q.astype(np.float64) - zp) * scale.astype(np.float64).reshape(shape)
