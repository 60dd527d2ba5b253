"""Pad: pads/mode/value attributes (opset 2-10), pads and constant_value inputs (11+), axes input
(18+), 'wrap' mode (19+). Negative pads crop."""
import numpy as np

from refruntime.ops._common import check_alloc, ints, normalize_axes
from refruntime.ops.base import OpRun

_MODES = ("constant", "reflect", "edge", "wrap")


class _PadBase(OpRun):
    def prepare(self):
        mode = self.attributes.get("mode", "constant")
        if mode not in _MODES or (mode == "wrap" and self.opset < 19):
            self.fail(f"unknown mode {mode!r} at opset {self.opset}")

    def _pad(self, data, pads, mode, value, axes=None):
        rank = data.ndim
        axes = list(range(rank)) if axes is None else list(normalize_axes(self, axes, rank))
        if len(pads) != 2 * len(axes):
            self.fail(f"pads {pads} must hold 2 values per padded axis ({len(axes)} axes)")
        begin = [0] * rank
        end = [0] * rank
        for i, axis in enumerate(axes):
            begin[axis], end[axis] = pads[i], pads[len(axes) + i]
        # crop first (negative pads), then pad
        crop = tuple(slice(-b if b < 0 else 0, d + e if e < 0 else d)
                     for b, e, d in zip(begin, end, data.shape))
        data = data[crop]
        width = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
        out_shape = [d + b + e for d, (b, e) in zip(data.shape, width)]
        check_alloc(self, out_shape, data.dtype)
        if not any(b or e for b, e in width):
            return (data.copy(),)
        if mode == "constant":
            fill = np.asarray(value if value is not None else 0).astype(data.dtype).reshape(-1)
            fill = fill[0] if fill.size else data.dtype.type(0)
            return (np.pad(data, width, mode="constant", constant_values=fill),)
        for axis, (b, e) in enumerate(width):
            if (b or e) and data.shape[axis] == 0:
                self.fail(f"mode {mode!r} cannot pad axis {axis}, which has size 0")
        return (np.pad(data, width, mode=mode),)


class Pad_2(_PadBase):
    def _run(self, data, mode="constant", pads=None, value=0.0):
        return self._pad(data, pads, mode, value)


class Pad_11(_PadBase):
    def _run(self, data, pads, constant_value=None, mode="constant"):
        return self._pad(data, ints(pads), mode, constant_value)


class Pad_18(_PadBase):
    def _run(self, data, pads, constant_value=None, axes=None, mode="constant"):
        return self._pad(data, ints(pads), mode, constant_value, ints(axes))
