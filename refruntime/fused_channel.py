"""Chains of per-channel stages fused into one step of the plain path's program:

    (BatchNormalization | Mul | Add)+ [-> Relu | Clip]      at least two ops in all

where each Mul/Add multiplies or adds a constant per-channel tensor (shape (C, 1, .., 1) or
(1, C, 1, .., 1): Caffe-style Scale layers, DenseNet's and Inception's pre-activations) and each
BatchNormalization is the inference form with constant parameters. Run as one pass per stage over
each channel's data in cache (kernels/channel.py) instead of one pass over the whole tensor per
op, each allocating its output. Stages keep the unfused float operations and order, so results
are bitwise those of the unfused ops; inputs the stages do not fit (another dtype, a constant
that would broadcast along another axis) run the ops one by one.
"""
from __future__ import annotations

import numpy as np

from refruntime.fused_ops import _FUSED_DTYPES, _STANDARD

_AFFINE, _MUL, _ADD = 0, 1, 2


def channel_stage(step, source: str, constant):
    """The stage (kind, parameters, position of `source` among the inputs) that `step` applies
    to `source`, or None: an inference BatchNormalization with constant parameters, or a Mul/Add
    (opset 7+) of `source` and a constant per-channel tensor."""
    from refruntime.ops.op_batch_normalization import is_inference

    node = step.node
    if step.is_fallback or node.domain not in _STANDARD or len(step.outputs) != 1 or not step.outputs[0]:
        return None
    if node.op_type == "BatchNormalization" and is_inference(step.kernel) and step.inputs[0] == source:
        params = [constant(n) for n in step.inputs[1:5]]
        if len(params) == 4 and all(p is not None and p.ndim == 1 for p in params):
            return _AFFINE, (params, float(step.kernel.attributes.get("epsilon", 1e-5))), 0
        return None
    if type(step.kernel).__name__ not in ("Mul_7", "Add_7") or len(step.inputs) != 2:
        return None
    a, b = step.inputs
    if source not in (a, b) or a == b:
        return None
    position = 0 if a == source else 1
    value = constant(b if position == 0 else a)
    if value is None or value.dtype not in _FUSED_DTYPES or not _per_channel(value.shape):
        return None
    return (_MUL if node.op_type == "Mul" else _ADD), value, position


def _per_channel(shape) -> bool:
    """(C, 1, ..., 1) with at least one trailing 1, or (1, C, 1, ..., 1)."""
    if len(shape) >= 2 and all(d == 1 for d in shape[1:]):
        return True
    return len(shape) >= 2 and shape[0] == 1 and all(d == 1 for d in shape[2:])


class ChannelChain:
    """The fused step: stages (kind, parameters, position) of the chain's steps, then a clamp."""

    def __init__(self, chain, stages, act):
        self.chain = chain
        self.stages = stages
        self.clamp, self.act_inputs = act if act is not None else ((-np.inf, np.inf), ())
        self._arrays: dict = {}

    def run(self, x):
        arrays = self._stage_arrays(x) if isinstance(x, np.ndarray) else None
        if arrays is None:
            return self.unfused(x)
        from refruntime.kernels import channel

        scales, shifts = arrays
        x3 = np.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], -1)
        y = np.empty_like(x3)
        lo, hi = (x.dtype.type(v) for v in self.clamp)
        big = x3.size >= 1 << 21
        (channel.channel_stages if big else channel.channel_stages_serial)(x3, y, scales, shifts, lo, hi)
        return (y.reshape(x.shape),)

    def _stage_arrays(self, x):
        """(scales (S, C), shifts (S, C)) for x's dtype, stage k computing v * scales[k] +
        shifts[k] (kernels/channel.py: a Mul is (m, -0.0), an Add (1, a), exact), or None if a
        stage does not fit x (dtype, rank, channel count): then the unfused ops run and report
        any error."""
        if x.dtype not in _FUSED_DTYPES or x.ndim < 2 or x.size == 0:
            return None
        key = (x.dtype, x.ndim, x.shape[1])
        if key in self._arrays:
            return self._arrays[key]
        channels = x.shape[1]
        scales = np.ones((len(self.stages), channels), dtype=x.dtype)
        shifts = np.full((len(self.stages), channels), -0.0, dtype=x.dtype)
        result = (scales, shifts)
        for k, (kind, value, _) in enumerate(self.stages):
            if kind == _AFFINE:
                from refruntime.ops.op_batch_normalization import affine_parameters

                (scale, bias, mean, var), epsilon = value
                if scale.shape != (channels,):
                    result = None
                    break
                scales[k], shifts[k] = affine_parameters(scale, bias, mean, var, epsilon, x.dtype)
                continue
            axis_ok = (len(value.shape) + 1 == x.ndim and value.shape[0] == channels) or (
                len(value.shape) == x.ndim and value.shape[1] == channels)
            if value.dtype != x.dtype or not axis_ok or value.size != channels:  # (N, 1, 1) is not per channel
                result = None
                break
            (scales if kind == _MUL else shifts)[k] = value.reshape(channels)
        self._arrays[key] = result
        return result

    def unfused(self, x):
        """The chain's own kernels, one after the other (the reference behaviour)."""
        y = x
        for step, (kind, value, position) in zip(self.chain, self.stages):
            if kind == _AFFINE:
                (scale, bias, mean, var), _ = value
                y = step.kernel.run(y, scale, bias, mean, var)[0]
            else:
                y = step.kernel.run(*((y, value) if position == 0 else (value, y)))[0]
        for step in self.chain[len(self.stages):]:  # Relu / Clip
            y = step.kernel.run(y, *self.act_inputs)[0]
        return (y,)
