"""CastMap (ai.onnx.ml 1): a map with int64 keys becomes a [1, n] tensor of its values in ascending
key order, cast to `cast_to` (TO_FLOAT, TO_INT64, TO_STRING). DENSE: n = the number of entries.
SPARSE: n = max_map, the value of key k at position k, the others padded (0, or "0.f" for strings as
onnxruntime writes); keys must lie in [0, max_map). Casts as onnxruntime's: string to number parses
the string (std::stof / std::stoll), float to int64 truncates, float to string prints "%f"."""
import numpy as np

from refruntime.ops._common import check_alloc
from refruntime.ops.ai_onnx_ml import _common
from refruntime.ops.base import OpRun


class CastMap(OpRun):
    def prepare(self):
        a = self.attributes
        self.cast_to = _common.choice(self, "cast_to", a.get("cast_to", "TO_FLOAT"), ("TO_FLOAT", "TO_STRING", "TO_INT64"))
        self.sparse = _common.choice(self, "map_form", a.get("map_form", "DENSE"), ("DENSE", "SPARSE")) == "SPARSE"
        self.max_map = a.get("max_map", 1)
        if self.sparse and self.max_map < 0:
            self.refuse(f"attribute 'max_map' is {self.max_map}; SPARSE needs a length >= 0")

    def _run(self, x, cast_to="TO_FLOAT", map_form="DENSE", max_map=1):
        if not isinstance(x, dict):
            self.fail(f"input X must be a map (a dict), got {type(x).__name__}")
        keys = sorted(x)
        if any(isinstance(k, str) for k in keys):
            self.fail("the map's keys must be int64")
        values = [self._cast(x[k]) for k in keys]
        if self.cast_to == "TO_STRING":
            dtype, pad = object, "0.f"
        else:
            dtype, pad = (np.float32, 0.0) if self.cast_to == "TO_FLOAT" else (np.int64, 0)
        if self.sparse:
            check_alloc(self, (1, self.max_map), np.float64)  # a Python list of max_map values first
            bad = [k for k in keys if not 0 <= k < self.max_map]
            if bad:
                self.fail(f"key {bad[0]} is outside [0, max_map = {self.max_map}) for SPARSE packing")
            out = [pad] * self.max_map
            for k, v in zip(keys, values):
                out[k] = v
            values = out
        if dtype is object:
            return (_common.string_array(values).reshape(1, -1),)
        return (np.asarray(values, dtype=dtype).reshape(1, -1),)

    def _cast(self, value):
        if self.cast_to == "TO_STRING":
            return value if isinstance(value, str) else f"{float(np.float32(value)):f}"
        try:
            number = float(value) if isinstance(value, str) else value
        except ValueError:
            self.fail(f"map value {value!r} is not a number, so it cannot be cast {self.cast_to}")
        if self.cast_to == "TO_FLOAT":
            return np.float32(number)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                return int(float(value))
        return int(np.trunc(np.float32(number)))
