"""RNN (default domain, opsets 1, 7, 14 and 22), from the operator spec:

    Ht = f(Xt Wi^T + Ht-1 Ri^T + Wbi + Rbi)                     (default f: Tanh)

W (D, H, input), R (D, H, H), B (D, 2H: Wb then Rb). Versions: opset 1 has `output_sequence` (Y
is computed when the node names it); opset 7 drops it; opset 14 adds `layout`; opset 22 only adds
bfloat16 (RNN_14 covers it). The rest (direction, activations, clip, sequence_lens, precision:
float64, outputs rounded once to X's type) is refruntime/kernels/recurrent.py's.
"""
from refruntime.ops.base import OpRun

DEFAULT_FUNCTIONS = ("Tanh",)


class _RNN(OpRun):
    def prepare(self):
        from refruntime.kernels import recurrent

        self.config = recurrent.parse_node(self, DEFAULT_FUNCTIONS)

    def check_constants(self, constants):
        from refruntime.kernels import recurrent

        recurrent.plan_checks(self, self.config, 1, constants)

    def _rnn(self, x, w, r, b, sequence_lens, initial_h):
        from refruntime.kernels import recurrent

        config = self.config

        def make_cell(r_t, b, p, hidden):
            bias = None if b is None else b[:, :hidden] + b[:, hidden:]
            return recurrent.rnn_cell(r_t, config.roles, config.clip), bias

        inputs = {"X": x, "W": w, "R": r, "B": b, "sequence_lens": sequence_lens, "initial_h": initial_h}
        return recurrent.run_float(self, config, 1, inputs, make_cell)


class RNN(_RNN):
    def _run(self, x, w, r, b=None, sequence_lens=None, initial_h=None, activation_alpha=None,
             activation_beta=None, activations=None, clip=None, direction="forward", hidden_size=None,
             output_sequence=0):
        return self._rnn(x, w, r, b, sequence_lens, initial_h)


class RNN_7(_RNN):
    def _run(self, x, w, r, b=None, sequence_lens=None, initial_h=None, activation_alpha=None,
             activation_beta=None, activations=None, clip=None, direction="forward", hidden_size=None):
        return self._rnn(x, w, r, b, sequence_lens, initial_h)


class RNN_14(_RNN):
    def _run(self, x, w, r, b=None, sequence_lens=None, initial_h=None, activation_alpha=None,
             activation_beta=None, activations=None, clip=None, direction="forward", hidden_size=None,
             layout=0):
        return self._rnn(x, w, r, b, sequence_lens, initial_h)
