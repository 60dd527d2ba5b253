"""The recurrence of ONNX's LSTM, GRU and RNN (default domain, every opset) and of com.microsoft
DynamicQuantizeLSTM, written once (plain numpy; op files import it inside prepare()/_run).

What the ops share, parsed once per node (`parse_node`) and checked at plan time against
initializers (`check_shapes` with the kernel's refuse) and at run time against every input
(`check_shapes` with its fail):
- direction forward / reverse / bidirectional (num_directions D = 1 or 2; the second direction of
  a bidirectional node runs backwards);
- activations: the spec's list, consumed f, g, h (LSTM), f, g (GRU), f (RNN) per direction, names
  case-insensitive; activation_alpha / activation_beta are consumed in that order by the functions
  that take them, the defaults being the corresponding ONNX operators' (`ACTIVATIONS`);
- clip: bounds the input of f and g (the gates' pre-activations) to [-clip, clip]. The spec says
  "applied to the input of activations"; like onnxruntime (uni_directional_lstm.cc, deep_cpu_gru.cc)
  the LSTM's h(C_t) is not clipped: C_t is the cell state, not a pre-activation;
- sequence_lens: entry b runs L_b steps (0 <= L_b <= seq_length; the reverse direction reads times
  L_b - 1 down to 0); Y is 0 past L_b; Y_h (and Y_c) hold the state after its last step, and 0 for
  an entry with L_b = 0 (the spec is silent there; onnxruntime writes 0);
- layout (opset 14+): 1 means X is (batch, seq, input), Y (batch, seq, D, hidden) and the states
  (batch, D, hidden).

How it computes: every float in float64 (inputs are widened exactly) and the outputs are rounded
once, to the input type, by the op. The input projection X W^T (+ the biases that do not depend on
the state) is one GEMM over all time steps per direction (`input_projection`); the recurrence is a
loop over time steps whose state has the two directions stacked, (D, batch, hidden), so each step
is one batched GEMM with R^T (two for GRU with linear_before_reset = 0, where the second product
needs the reset gate first) and a few vectorized numpy operations (`recur` with a cell from
`lstm_cell`, `gru_cell` or `rnn_cell`). The recurrent product is a callable, so DynamicQuantizeLSTM
swaps in its quantized GEMM and keeps the rest.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from refruntime.kernels import blas
from refruntime.kernels.floats import is_float

DIRECTIONS = {"forward": 1, "reverse": 1, "bidirectional": 2}


def _sigmoid(x, a, b):
    return 1.0 / (1.0 + np.exp(-x))


#: the spec's activation functions: name -> (function of (x, alpha, beta), default alpha, default
#: beta); a None default means the function takes no such parameter (and consumes no value).
#: Defaults are the corresponding ONNX operators' (LeakyRelu 0.01, ThresholdedRelu 1.0, HardSigmoid
#: 0.2/0.5, Elu 1.0; the retired Affine and ScaledTanh ops: 1.0/0.0 and 1.0/1.0). onnxruntime
#: (rnn_helpers.cc) uses 0 where an Affine, ThresholdedRelu or ScaledTanh parameter is missing.
ACTIVATIONS = {
    "relu": (lambda x, a, b: np.maximum(x, 0.0), None, None),
    "tanh": (lambda x, a, b: np.tanh(x), None, None),
    "sigmoid": (_sigmoid, None, None),
    "affine": (lambda x, a, b: a * x + b, 1.0, 0.0),
    "leakyrelu": (lambda x, a, b: np.where(x >= 0, x, a * x), float(np.float32(0.01)), None),
    "thresholdedrelu": (lambda x, a, b: np.where(x >= a, x, 0.0), 1.0, None),   # the RNN docs: x >= alpha
    "scaledtanh": (lambda x, a, b: a * np.tanh(b * x), 1.0, 1.0),
    "hardsigmoid": (lambda x, a, b: np.minimum(np.maximum(a * x + b, 0.0), 1.0), float(np.float32(0.2)), 0.5),
    "elu": (lambda x, a, b: np.where(x >= 0, x, a * np.expm1(np.minimum(x, 0.0))), 1.0, None),
    "softsign": (lambda x, a, b: x / (1.0 + np.abs(x)), None, None),
    "softplus": (lambda x, a, b: np.logaddexp(0.0, x), None, None),
}


@dataclass(frozen=True)
class Activation:
    name: str
    alpha: float | None
    beta: float | None

    def __call__(self, x):
        return ACTIVATIONS[self.name][0](x, self.alpha, self.beta)


class PerDirection:
    """One activation role (e.g. LSTM's f) across the directions: applied to the stacked
    (D, batch, hidden) array at once when every direction uses the same function."""

    def __init__(self, functions: tuple[Activation, ...]):
        self.functions = functions
        self.uniform = all(f == functions[0] for f in functions)

    def __call__(self, x):
        if self.uniform:
            return self.functions[0](x)
        return np.stack([f(x[d]) for d, f in enumerate(self.functions)])


@dataclass(frozen=True)
class Config:
    """A recurrent node's attributes, parsed at plan time."""
    num_directions: int
    reverse: tuple[bool, ...]                 # per direction
    hidden_size: int | None                   # None: taken from R at run time
    roles: tuple[PerDirection, ...]           # LSTM (f, g, h), GRU (f, g), RNN (f,)
    clip: float | None
    layout: int


def parse_node(kernel, default_functions: tuple[str, ...]) -> Config:
    """Config of a LSTM/GRU/RNN-like node; a ModelError (kernel.refuse) names what is wrong."""
    a = kernel.attributes
    direction = a.get("direction", "forward")
    if direction == "foward" and kernel.node.op_type == "GRU":
        direction = "forward"  # GRU-1's schema default is spelled "foward"
    if direction not in DIRECTIONS:
        kernel.refuse(f"direction must be forward, reverse or bidirectional, got {direction!r}")
    dirs = DIRECTIONS[direction]
    hidden = a.get("hidden_size")
    if hidden is not None and hidden < 1:
        kernel.refuse(f"hidden_size must be positive, got {hidden}")
    clip = a.get("clip")
    if clip is not None and not clip > 0:
        kernel.refuse(f"clip must be positive, got {clip}")
    layout = a.get("layout", 0)
    if layout not in (0, 1):
        kernel.refuse(f"layout must be 0 or 1, got {layout}")
    per = len(default_functions)
    names = list(a.get("activations") or [])
    if not names:
        names = list(default_functions) * dirs
    if len(names) != per * dirs:
        roles = {3: "f, g, h", 2: "f, g", 1: "f"}[per]
        kernel.refuse(f"activations has {len(names)} functions, expected {per * dirs} ({roles} per direction)")
    alphas, betas = list(a.get("activation_alpha") or []), list(a.get("activation_beta") or [])
    functions = []
    for name in names:
        key = name.lower()
        if key not in ACTIVATIONS:
            kernel.refuse(f"unknown activation {name!r} (known: {', '.join(sorted(ACTIVATIONS))})")
        _, alpha, beta = ACTIVATIONS[key]
        if alpha is not None and alphas:
            alpha = float(alphas.pop(0))
        if beta is not None and betas:
            beta = float(betas.pop(0))
        functions.append(Activation(key, alpha, beta))
    roles = tuple(PerDirection(tuple(functions[d * per + k] for d in range(dirs))) for k in range(per))
    reverse = (direction == "reverse",) if dirs == 1 else (False, True)
    return Config(dirs, reverse, hidden, roles, None if clip is None else float(clip), layout)


def check_shapes(report, config: Config, gates: int, values: dict, names: dict, transposed: bool = False) -> None:
    """Shapes of W, R, B, P, initial_h, initial_c (whichever `values` holds, by role name) against
    hidden_size and the direction; `report(message, input_index)` raises. `names` maps a role to
    its input index. With X present, also input_size and batch. `transposed`: W and R are
    (D, input, gates * H) and (D, H, gates * H), as com.microsoft's quantized weights are."""
    dirs = config.num_directions
    hidden = config.hidden_size
    r = values.get("R")
    if hidden is None and r is not None:
        if r.ndim != 3:
            report(f"R must be 3-D, got shape {list(r.shape)}", names["R"])
        hidden = r.shape[1] if transposed else r.shape[2]
    x = values.get("X")
    width = batch = None
    if x is not None:
        if x.ndim != 3:
            report(f"must be 3-D ({'batch, seq' if config.layout else 'seq, batch'}, input_size), got shape "
                   f"{list(x.shape)}", names["X"])
        batch, width = (x.shape[0] if config.layout else x.shape[1]), x.shape[2]
    expected = {}
    if hidden is not None:
        g = gates * hidden
        expected = {"W": (dirs, width, g) if transposed else (dirs, g, width),
                    "R": (dirs, hidden, g) if transposed else (dirs, g, hidden),
                    "B": (dirs, 2 * g), "P": (dirs, 3 * hidden)}
        state = (batch, dirs, hidden) if config.layout else (dirs, batch, hidden)
        expected["initial_h"] = expected["initial_c"] = state
    for role, shape in expected.items():
        value = values.get(role)
        if value is None:
            continue
        fits = value.ndim == len(shape) and all(e is None or e == d for e, d in zip(shape, value.shape))
        if not fits:
            text = ", ".join("?" if e is None else str(e) for e in shape)
            report(f"{role} has shape {list(value.shape)}, expected [{text}] for hidden_size {hidden} and "
                   f"{dirs} direction(s)", names[role])


def lengths_of(report, sequence_lens, seq: int, batch: int, index: int) -> np.ndarray | None:
    """sequence_lens as int64 (None when absent or all equal to seq_length), each in [0, seq]."""
    if sequence_lens is None:
        return None
    if sequence_lens.dtype.kind not in "iu":
        report(f"sequence_lens must be int32, got {sequence_lens.dtype}", index)
    if sequence_lens.shape != (batch,):
        report(f"sequence_lens has shape {list(sequence_lens.shape)}, expected [{batch}]", index)
    lengths = sequence_lens.astype(np.int64)
    if batch and (lengths.min() < 0 or lengths.max() > seq):
        report(f"sequence_lens must lie in [0, {seq}] (seq_length), got {lengths.tolist()}", index)
    return None if (lengths == seq).all() else lengths


class StepOrder:
    """Which time each step of each direction reads. Forward: step s reads time s; reverse: entry
    b reads L_b - 1 - s (time seq - 1 - s without sequence_lens). Only max(L) steps run."""

    def __init__(self, seq: int, batch: int, lengths: np.ndarray | None, reverse: tuple[bool, ...]):
        self.seq, self.batch, self.lengths, self.reverse = seq, batch, lengths, reverse
        self.steps = seq if lengths is None else int(lengths.max(initial=0))
        #: steps every entry runs (no masking needed before it)
        self.full_steps = seq if lengths is None else int(lengths.min(initial=0))
        self.valid = None
        self.time = None
        if lengths is not None:
            steps = np.arange(self.steps)[:, None]
            self.valid = steps < lengths[None, :]                                  # (steps, batch)
            self.time = np.where(self.valid, lengths[None, :] - 1 - steps, steps)   # reverse reads

    def rows(self, x: np.ndarray, d: int) -> np.ndarray:
        """x (seq, batch, ...) in direction d's step order: (steps, batch, ...)."""
        if not self.reverse[d]:
            return x[:self.steps]
        if self.lengths is None:
            return x[::-1]
        return x[self.time, np.arange(self.batch)[None, :]]

    def to_time(self, y: np.ndarray) -> np.ndarray:
        """y (steps, D, batch, H) in step order -> (seq, D, batch, H) in time order, 0 past L_b."""
        steps, dirs = y.shape[0], y.shape[1]
        if self.lengths is None and not any(self.reverse):
            return y
        out = np.zeros((self.seq,) + y.shape[1:], dtype=y.dtype)
        for d in range(dirs):
            if not self.reverse[d]:
                out[:steps, d] = y[:, d]
            elif self.lengths is None:
                out[:, d] = y[::-1, d]
            else:
                s_index, b_index = np.nonzero(self.valid)
                out[self.time[s_index, b_index], d, b_index] = y[s_index, d, b_index]
        return out


def input_projection(x: np.ndarray, w_t: np.ndarray, bias: np.ndarray | None, order: StepOrder) -> np.ndarray:
    """(D, steps, batch, K) = X (in each direction's step order) @ w_t[d] + bias[d]: one GEMM over
    all steps per direction. x (seq, batch, input) float64, w_t (D, input, K), bias (D, K)."""
    dirs, width, k = w_t.shape
    out = np.empty((dirs, order.steps, order.batch, k))
    for d in range(dirs):
        rows = np.ascontiguousarray(order.rows(x, d)).reshape(-1, width)
        blas.matmul(rows, w_t[d], out=out[d].reshape(-1, k))
    if bias is not None:
        out += bias[:, None, None, :]
    return out


def float_product(r_t: np.ndarray) -> Callable:
    """The recurrent product of a float op: h (D, batch, H) @ r_t (D, H, K), one batched GEMM."""
    flops = 2 * r_t.shape[0] * r_t.shape[1] * r_t.shape[2]

    def product(h, step):
        return blas.matmul(h, r_t, flops=flops * h.shape[1])
    return product


def _clip(x, clip):
    return x if clip is None else np.clip(x, -clip, clip, out=x)


def lstm_cell(product: Callable, hidden: int, roles, peepholes: np.ndarray | None, clip: float | None,
              input_forget: bool) -> Callable:
    """One LSTM step (gates i, o, f, c along the last axis, as ONNX orders them):
        i = f(Xt Wi^T + Ht-1 Ri^T + Pi * Ct-1 + Wbi + Rbi)      (the input part and biases in gx)
        f = f(... Pf * Ct-1 ...)       or 1 - i with input_forget
        c = g(Xt Wc^T + Ht-1 Rc^T + Wbc + Rbc)
        Ct = f * Ct-1 + i * c,   o = f(... Po * Ct ...),   Ht = o * h(Ct)
    clip bounds the arguments of f and g. peepholes: (D, 3H) as P[iof] or None."""
    f, g, h_fn = roles
    n = hidden
    if peepholes is not None:
        p_i, p_o, p_f = (peepholes[:, None, k * n:(k + 1) * n] for k in range(3))

    def cell(gx, h, c, step):
        z = gx + product(h, step)                                      # (D, batch, 4H)
        if peepholes is None:
            ifo = f(_clip(z[..., :3 * n], clip))
            i, o = ifo[..., :n], ifo[..., n:2 * n]
            forget = 1.0 - i if input_forget else ifo[..., 2 * n:]
        else:
            i = f(_clip(z[..., :n] + p_i * c, clip))
            forget = 1.0 - i if input_forget else f(_clip(z[..., 2 * n:3 * n] + p_f * c, clip))
        c_new = forget * c + i * g(_clip(z[..., 3 * n:], clip))
        if peepholes is not None:
            o = f(_clip(z[..., n:2 * n] + p_o * c_new, clip))
        return o * h_fn(c_new), c_new
    return cell


def gru_cell(r_t: np.ndarray, recurrent_bias_h: np.ndarray | None, roles, clip: float | None,
             linear_before_reset: bool) -> Callable:
    """One GRU step (gates z, r, h as ONNX orders them; r_t (D, H, 3H) = R^T):
        z = f(Xt Wz^T + Ht-1 Rz^T + Wbz + Rbz),  r = f(... Rr ...)   (input part and biases in gx)
        linear_before_reset = 0:  h~ = g(Xt Wh^T + (r * Ht-1) Rh^T + Rbh + Wbh)   (Rbh in gx)
        linear_before_reset = 1:  h~ = g(Xt Wh^T + r * (Ht-1 Rh^T + Rbh) + Wbh)
        Ht = (1 - z) * h~ + z * Ht-1
    recurrent_bias_h (D, H): Rbh, used (and needed) only with linear_before_reset."""
    f, g = roles
    n = r_t.shape[1]
    if linear_before_reset:
        both = float_product(r_t)
        rbh = None if recurrent_bias_h is None else recurrent_bias_h[:, None, :]
    else:
        gates = float_product(np.ascontiguousarray(r_t[..., :2 * n]))
        candidate = float_product(np.ascontiguousarray(r_t[..., 2 * n:]))

    def cell(gx, h, c, step):
        if linear_before_reset:
            hr = both(h, step)                                          # (D, batch, 3H)
            zr = f(_clip(gx[..., :2 * n] + hr[..., :2 * n], clip))
            linear = hr[..., 2 * n:] if rbh is None else hr[..., 2 * n:] + rbh
            h_tilde = g(_clip(gx[..., 2 * n:] + zr[..., n:] * linear, clip))
        else:
            zr = f(_clip(gx[..., :2 * n] + gates(h, step), clip))
            h_tilde = g(_clip(gx[..., 2 * n:] + candidate(zr[..., n:] * h, step), clip))
        z = zr[..., :n]
        return (1.0 - z) * h_tilde + z * h, None
    return cell


def rnn_cell(r_t: np.ndarray, roles, clip: float | None) -> Callable:
    """One RNN step: Ht = f(Xt Wi^T + Ht-1 Ri^T + Wbi + Rbi) (input part and biases in gx)."""
    (f,) = roles
    product = float_product(r_t)

    def cell(gx, h, c, step):
        return f(_clip(gx + product(h, step), clip)), None
    return cell


def recur(cell: Callable, gx: np.ndarray, h: np.ndarray, c: np.ndarray | None, order: StepOrder,
          want_y: bool = True):
    """Run `cell` over the steps. gx (D, steps, batch, K) from input_projection; h, c (D, batch, H)
    the initial states (c None for GRU/RNN). Returns Y in time order (seq, D, batch, H) or None,
    and the final h and c: an entry past its length keeps its state (0 for length 0)."""
    dirs, steps, batch, _ = gx.shape
    y = np.zeros((steps, dirs, batch, h.shape[-1])) if want_y else None
    with np.errstate(over="ignore", under="ignore"):
        for s in range(steps):
            h_new, c_new = cell(gx[:, s], h, c, s)
            if s < order.full_steps:
                h, c = h_new, c_new
                if want_y:
                    y[s] = h_new
                continue
            keep = order.valid[s][None, :, None]
            h = np.where(keep, h_new, h)
            if c is not None:
                c = np.where(keep, c_new, c)
            if want_y:
                y[s] = np.where(keep, h_new, 0.0)
    if order.lengths is not None and (order.lengths == 0).any():
        empty = order.lengths == 0
        h = h.copy()
        h[:, empty] = 0.0
        if c is not None:
            c = c.copy()
            c[:, empty] = 0.0
    return (order.to_time(y) if want_y else None), h, c


#: input index of each role in LSTM/GRU/RNN (GRU and RNN stop at initial_h)
INPUTS = {"X": 0, "W": 1, "R": 2, "B": 3, "sequence_lens": 4, "initial_h": 5, "initial_c": 6, "P": 7}


def failing(kernel) -> Callable:
    """report(message, input_index) raising the kernel's KernelError, naming the input."""
    def report(message, index=None):
        if index is not None and index < len(kernel.node.input):
            message = f"input {index} {kernel.node.input[index]!r}: {message}"
        kernel.fail(message)
    return report


def plan_checks(kernel, config: Config, gates: int, constants: dict) -> None:
    """check_constants of the standard ops: the initializers' shapes (refuse -> ModelError)."""
    values = {role: constants[i] for role, i in INPUTS.items() if i in constants and role != "X"}
    check_shapes(kernel.refuse, config, gates, values, INPUTS)


def run_float(kernel, config: Config, gates: int, inputs: dict, make_cell: Callable) -> tuple:
    """LSTM/GRU/RNN: inputs by role (None when absent); make_cell(r_t, b, p, hidden) -> (cell, the
    bias added to the input projection), with r_t = R^T (D, H, gates * H), b (D, 2 * gates * H) or
    None and p (D, 3H) or None in float64. Returns the node's outputs (Y, Y_h[, Y_c]), each rounded
    once from float64 to X's type."""
    report = failing(kernel)
    x = inputs["X"]
    dtype = np.dtype(x.dtype)
    if not is_float(x):
        report(f"X must be a float tensor, got {dtype}", INPUTS["X"])
    for role, value in inputs.items():
        if role != "sequence_lens" and value is not None and np.dtype(value.dtype) != dtype:
            report(f"{role} is {np.dtype(value.dtype)} but X is {dtype}: both have the type T", INPUTS[role])
    check_shapes(report, config, gates, inputs, INPUTS)
    hidden = config.hidden_size or inputs["R"].shape[2]
    if config.layout:
        inputs = dict(inputs, **{k: inputs[k].transpose(1, 0, 2) for k in ("X", "initial_h", "initial_c")
                                 if inputs.get(k) is not None})
    seq, batch, _ = inputs["X"].shape
    dirs = config.num_directions
    lengths = lengths_of(report, inputs.get("sequence_lens"), seq, batch, INPUTS["sequence_lens"])
    want_y = bool(kernel.node.output) and bool(kernel.node.output[0])
    if want_y:
        from refruntime.ops._common import check_alloc

        check_alloc(kernel, (seq, dirs, batch, hidden), np.float64)
    wide = {k: None if v is None else np.asarray(v, dtype=np.float64) for k, v in inputs.items()
            if k not in ("sequence_lens", "R")}
    # R^T once, contiguous: a stacked matmul with a transposed view runs ~4x slower per step
    r_t = np.ascontiguousarray(inputs["R"].transpose(0, 2, 1), dtype=np.float64)
    order = StepOrder(seq, batch, lengths, config.reverse)
    cell, bias = make_cell(r_t, wide.get("B"), wide.get("P"), hidden)
    gx = input_projection(wide["X"], wide["W"].transpose(0, 2, 1), bias, order)
    zeros = np.zeros((dirs, batch, hidden))
    h0 = zeros if wide.get("initial_h") is None else wide["initial_h"]
    c0 = None if gates != 4 else (zeros if wide.get("initial_c") is None else wide["initial_c"])
    y, h, c = recur(cell, gx, h0, c0, order, want_y)
    if config.layout:
        y = None if y is None else y.transpose(2, 0, 1, 3)
        h, c = h.transpose(1, 0, 2), None if c is None else c.transpose(1, 0, 2)
    outputs = (y, h, c)[:len(kernel.node.output)]
    return tuple(None if o is None else rounded(o, dtype) for o in outputs)


def rounded(values: np.ndarray, dtype) -> np.ndarray:
    """float64 values rounded once to the float type dtype (bfloat16 too: see ops/_quant.cast_float)."""
    dtype = np.dtype(dtype)
    if dtype in (np.float64, np.float32, np.float16):
        return np.ascontiguousarray(values, dtype=dtype)
    from refruntime.ops._quant import cast_float

    return cast_float(values, dtype)
