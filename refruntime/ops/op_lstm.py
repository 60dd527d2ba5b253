"""LSTM (default domain, opsets 1, 7, 14 and 22), from the operator spec:

    it = f(Xt Wi^T + Ht-1 Ri^T + Pi (.) Ct-1 + Wbi + Rbi)
    ft = f(Xt Wf^T + Ht-1 Rf^T + Pf (.) Ct-1 + Wbf + Rbf)      (input_forget = 1: ft = 1 - it)
    ct = g(Xt Wc^T + Ht-1 Rc^T + Wbc + Rbc)
    Ct = ft (.) Ct-1 + it (.) ct
    ot = f(Xt Wo^T + Ht-1 Ro^T + Po (.) Ct + Wbo + Rbo)
    Ht = ot (.) h(Ct)                                           (default f, g, h: Sigmoid, Tanh, Tanh)

W (D, 4H, input), R (D, 4H, H), B (D, 8H: Wb then Rb), P (D, 3H), gates in the order i, o, f, c.
Versions: opset 1 has `output_sequence` (it only says Y may be omitted; Y is computed when the node
names it); opset 7 drops it (the opset-1 text writes Ht-1*Ri where 7 writes Ht-1*(Ri^T): onnx's
reference and every runtime read both as R^T); opset 14 adds `layout`; opset 22 only adds bfloat16
(LSTM_14 covers it). What direction, activations, clip and sequence_lens mean, and how it computes
(float64, one GEMM per step, outputs rounded once to X's type: float16/bfloat16 outputs are
rounded once per op, never per step): refruntime/kernels/recurrent.py. onnx.reference ignores
sequence_lens, clip, activations and input_forget (op_lstm.py's TODO), so it is not an oracle.
"""
from refruntime.ops.base import OpRun

DEFAULT_FUNCTIONS = ("Sigmoid", "Tanh", "Tanh")


class _LSTM(OpRun):
    def prepare(self):
        from refruntime.kernels import recurrent

        self.config = recurrent.parse_node(self, DEFAULT_FUNCTIONS)

    def check_constants(self, constants):
        from refruntime.kernels import recurrent

        recurrent.plan_checks(self, self.config, 4, constants)

    def _lstm(self, x, w, r, b, sequence_lens, initial_h, initial_c, p, input_forget):
        from refruntime.kernels import recurrent

        config = self.config

        def make_cell(r_t, b, p, hidden):
            bias = None if b is None else b[:, :4 * hidden] + b[:, 4 * hidden:]
            product = recurrent.float_product(r_t)
            return recurrent.lstm_cell(product, hidden, config.roles, p, config.clip, bool(input_forget)), bias

        inputs = {"X": x, "W": w, "R": r, "B": b, "sequence_lens": sequence_lens, "initial_h": initial_h,
                  "initial_c": initial_c, "P": p}
        return recurrent.run_float(self, config, 4, inputs, make_cell)


class LSTM(_LSTM):
    def _run(self, x, w, r, b=None, sequence_lens=None, initial_h=None, initial_c=None, p=None,
             activation_alpha=None, activation_beta=None, activations=None, clip=None, direction="forward",
             hidden_size=None, input_forget=0, output_sequence=0):
        return self._lstm(x, w, r, b, sequence_lens, initial_h, initial_c, p, input_forget)


class LSTM_7(_LSTM):
    def _run(self, x, w, r, b=None, sequence_lens=None, initial_h=None, initial_c=None, p=None,
             activation_alpha=None, activation_beta=None, activations=None, clip=None, direction="forward",
             hidden_size=None, input_forget=0):
        return self._lstm(x, w, r, b, sequence_lens, initial_h, initial_c, p, input_forget)


class LSTM_14(_LSTM):
    def _run(self, x, w, r, b=None, sequence_lens=None, initial_h=None, initial_c=None, p=None,
             activation_alpha=None, activation_beta=None, activations=None, clip=None, direction="forward",
             hidden_size=None, input_forget=0, layout=0):
        return self._lstm(x, w, r, b, sequence_lens, initial_h, initial_c, p, input_forget)
