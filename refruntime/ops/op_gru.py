"""GRU (default domain, opsets 1, 3, 7, 14 and 22), from the operator spec:

    zt = f(Xt Wz^T + Ht-1 Rz^T + Wbz + Rbz)
    rt = f(Xt Wr^T + Ht-1 Rr^T + Wbr + Rbr)
    ht = g(Xt Wh^T + (rt (.) Ht-1) Rh^T + Rbh + Wbh)            linear_before_reset = 0 (default)
    ht = g(Xt Wh^T + rt (.) (Ht-1 Rh^T + Rbh) + Wbh)            linear_before_reset != 0
    Ht = (1 - zt) (.) ht + zt (.) Ht-1                          (default f, g: Sigmoid, Tanh)

W (D, 3H, input), R (D, 3H, H), B (D, 6H: Wb then Rb), gates in the order z, r, h. torch's GRU is
linear_before_reset = 1 (with its gates in the order r, z, n).
Versions: opset 1 has `output_sequence` (Y is computed when the node names it) and no
linear_before_reset (so 0); its schema spells the default direction "foward", read as forward;
opset 3 adds linear_before_reset; opset 7 drops output_sequence; opset 14 adds `layout`; opset 22
only adds bfloat16 (GRU_14 covers it). The rest (direction, activations, clip, sequence_lens,
precision: float64, outputs rounded once to X's type) is refruntime/kernels/recurrent.py's. With
linear_before_reset = 0 a step takes two GEMMs: the candidate's product needs the reset gate.
"""
from refruntime.ops.base import OpRun

DEFAULT_FUNCTIONS = ("Sigmoid", "Tanh")


class _GRU(OpRun):
    def prepare(self):
        from refruntime.kernels import recurrent

        self.config = recurrent.parse_node(self, DEFAULT_FUNCTIONS)

    def check_constants(self, constants):
        from refruntime.kernels import recurrent

        recurrent.plan_checks(self, self.config, 3, constants)

    def _gru(self, x, w, r, b, sequence_lens, initial_h, linear_before_reset):
        from refruntime.kernels import recurrent

        config = self.config

        def make_cell(r_t, b, p, hidden):
            n = hidden
            bias = rbh = None
            if b is not None:
                wb, rb = b[:, :3 * n], b[:, 3 * n:]
                bias = wb.copy()
                bias[:, :2 * n] += rb[:, :2 * n]
                if linear_before_reset:
                    rbh = rb[:, 2 * n:]
                else:
                    bias[:, 2 * n:] += rb[:, 2 * n:]
            cell = recurrent.gru_cell(r_t, rbh, config.roles, config.clip, bool(linear_before_reset))
            return cell, bias

        inputs = {"X": x, "W": w, "R": r, "B": b, "sequence_lens": sequence_lens, "initial_h": initial_h}
        return recurrent.run_float(self, config, 3, inputs, make_cell)


class GRU(_GRU):
    def _run(self, x, w, r, b=None, sequence_lens=None, initial_h=None, activation_alpha=None,
             activation_beta=None, activations=None, clip=None, direction="forward", hidden_size=None,
             output_sequence=0):
        return self._gru(x, w, r, b, sequence_lens, initial_h, 0)


class GRU_3(_GRU):
    def _run(self, x, w, r, b=None, sequence_lens=None, initial_h=None, activation_alpha=None,
             activation_beta=None, activations=None, clip=None, direction="forward", hidden_size=None,
             linear_before_reset=0, output_sequence=0):
        return self._gru(x, w, r, b, sequence_lens, initial_h, linear_before_reset)


class GRU_7(_GRU):
    def _run(self, x, w, r, b=None, sequence_lens=None, initial_h=None, activation_alpha=None,
             activation_beta=None, activations=None, clip=None, direction="forward", hidden_size=None,
             linear_before_reset=0):
        return self._gru(x, w, r, b, sequence_lens, initial_h, linear_before_reset)


class GRU_14(_GRU):
    def _run(self, x, w, r, b=None, sequence_lens=None, initial_h=None, activation_alpha=None,
             activation_beta=None, activations=None, clip=None, direction="forward", hidden_size=None,
             linear_before_reset=0, layout=0):
        return self._gru(x, w, r, b, sequence_lens, initial_h, linear_before_reset)
