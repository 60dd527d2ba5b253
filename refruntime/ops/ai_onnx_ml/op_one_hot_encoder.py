"""OneHotEncoder (ai.onnx.ml 1): Y = X.shape + [C] float32, Y[..., c] = 1 where X equals category c.
Strings use cats_strings; numbers are truncated to int64 (as onnxruntime's static_cast; NaN matches
nothing) and use cats_int64s. A value in no category gives a row of zeros, or a KernelError when
zeros = 0. A category listed twice counts at its last position (onnxruntime's map)."""
import numpy as np

from refruntime.ops._common import check_alloc
from refruntime.ops.ai_onnx_ml import _common
from refruntime.ops.base import OpRun


class OneHotEncoder(OpRun):
    def prepare(self):
        a = self.attributes
        ints, strings = a.get("cats_int64s"), a.get("cats_strings")
        if bool(ints) == bool(strings):
            self.refuse("exactly one of the attributes 'cats_int64s' and 'cats_strings' must be given (and not empty)")
        cats = list(strings or ints)
        self.position = {c: i for i, c in enumerate(cats)}
        self.strings, self.count = bool(strings), len(cats)
        if not self.strings:
            keys = np.array(list(self.position), dtype=np.int64)
            order = np.argsort(keys)
            self.keys, self.slots = keys[order], np.array(list(self.position.values()), dtype=np.int64)[order]

    def _run(self, x, cats_int64s=None, cats_strings=None, zeros=1):
        flat = x.reshape(-1)
        if self.strings:
            if not _common.is_string(x):
                self.fail(f"input X is {x.dtype}; the categories are strings")
            slot = np.array([self.position.get(v, -1) for v in flat.tolist()], dtype=np.int64)
        else:
            if _common.is_string(x):
                self.fail("input X holds strings; the categories are integers")
            values = flat
            if values.dtype.kind == "f":
                finite = np.isfinite(values)
                values = np.where(finite, values, 0).astype(np.int64)
            else:
                finite = np.ones(values.shape, dtype=bool)
                values = values.astype(np.int64)
            at = np.minimum(np.searchsorted(self.keys, values), len(self.keys) - 1)
            slot = np.where(finite & (self.keys[at] == values), self.slots[at], -1)
        if not zeros and np.any(slot < 0):
            unknown = flat[np.flatnonzero(slot < 0)[0]]
            self.fail(f"value {unknown!r} is in no category and zeros = 0")
        check_alloc(self, (flat.size, self.count), np.float32)
        y = np.zeros((flat.size, self.count), dtype=np.float32)
        known = np.flatnonzero(slot >= 0)
        y[known, slot[known]] = 1.0
        return (y.reshape(*x.shape, self.count),)
