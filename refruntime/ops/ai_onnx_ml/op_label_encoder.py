"""LabelEncoder (ai.onnx.ml 1, 2, 4): maps each element of X to another value; Y has X's shape.

1: `classes_strings` is the table. A string maps to its index (default_int64 if absent; a string
   listed twice to its last index), an int64 i to classes_strings[i] (default_string outside).
2: keys_* -> values_* (one kind of each, same length), default_* of the values' kind for a key not
   listed. Float keys are compared bit by bit, as the doc says (so a NaN key matches that NaN;
   onnxruntime compares by value, so no NaN ever matches). A key listed twice maps to its first
   value (onnxruntime's emplace; the doc does not say).
4: also keys_tensor / values_tensor / default_tensor (any of the T1/T2 types); a NaN key matches
   every NaN; a key listed twice maps to its last value, as the doc says (onnxruntime keeps the
   first). Without a default: "_Unused", -1 or -0.0 by the values' type.
Strings are looked up in a dict (one Python step per element); numbers by binary search.
"""
import numpy as np

from refruntime.ops.ai_onnx_ml import _common
from refruntime.ops.base import OpRun


class LabelEncoder(OpRun):
    def prepare(self):
        classes = list(self.attributes.get("classes_strings") or [])
        self.index = {s: i for i, s in enumerate(classes)}
        self.classes = classes

    def _run(self, x, classes_strings=None, default_int64=-1, default_string="_Unused"):
        flat = x.reshape(-1).tolist()
        if _common.is_string(x):
            out = np.array([self.index.get(s, default_int64) for s in flat], dtype=np.int64)
        elif x.dtype.kind in "iu":
            n = len(self.classes)
            out = _common.string_array([self.classes[i] if 0 <= i < n else default_string for i in flat])
        else:
            self.fail(f"input X is {x.dtype}; LabelEncoder-1 maps strings or int64")
        return (out.reshape(x.shape),)


class LabelEncoder_2(OpRun):
    def prepare(self):
        keys, _ = _one_of(self, "keys", ("strings", "int64s", "floats"), {})
        values, kind = _one_of(self, "values", ("strings", "int64s", "floats"), {})
        self.default_name = {"strings": "default_string", "int64s": "default_int64", "floats": "default_float"}[kind]
        self.table = _Table(self, keys, values, last_wins=False, bitwise=True)

    def _run(self, x, default_float=-0.0, default_int64=-1, default_string="_Unused", keys_floats=None,
             keys_int64s=None, keys_strings=None, values_floats=None, values_int64s=None, values_strings=None):
        default = {"default_float": default_float, "default_int64": default_int64,
                   "default_string": default_string}[self.default_name]
        return (self.table(x, default),)


class LabelEncoder_4(OpRun):
    def prepare(self):
        a = self.attributes
        keys, _ = _one_of(self, "keys", ("strings", "int64s", "floats"), {"keys_tensor": a.get("keys_tensor")})
        values, _ = _one_of(self, "values", ("strings", "int64s", "floats"), {"values_tensor": a.get("values_tensor")})
        self.table = _Table(self, keys, values, last_wins=True, bitwise=False)
        if a.get("default_tensor") is not None:
            default = np.asarray(a["default_tensor"]).reshape(-1)
            if default.size != 1:
                self.refuse(f"attribute 'default_tensor' has {default.size} values; one default is expected")
            self.default = default[0]
        elif values.dtype == object:
            self.default = a.get("default_string", "_Unused")
        elif values.dtype.kind == "f":
            self.default = a.get("default_float", -0.0)
        else:
            self.default = a.get("default_int64", -1)

    def _run(self, x, default_float=-0.0, default_int64=-1, default_string="_Unused", default_tensor=None,
             keys_floats=None, keys_int64s=None, keys_strings=None, keys_tensor=None, values_floats=None,
             values_int64s=None, values_strings=None, values_tensor=None):
        return (self.table(x, self.default),)


def _one_of(kernel, prefix: str, kinds, tensors: dict):
    """(values as an array, kind) of the one `<prefix>_<kind>` (or `<prefix>_tensor`) attribute given."""
    given = {k: kernel.attributes[f"{prefix}_{k}"] for k in kinds if kernel.attributes.get(f"{prefix}_{k}") is not None}
    given.update({name: v for name, v in tensors.items() if v is not None})
    if len(given) != 1:
        names = [f"{prefix}_{k}" for k in kinds] + list(tensors)
        kernel.refuse(f"exactly one of the attributes {', '.join(repr(n) for n in names)} must be given, "
                      f"got {len(given)}")
    kind, value = next(iter(given.items()))
    if kind == "strings":
        return _common.string_array(value), kind
    if kind == "int64s":
        return np.asarray(value, dtype=np.int64), kind
    if kind == "floats":
        return np.asarray(value, dtype=np.float32), kind
    array = np.asarray(value).reshape(-1)
    return (_common.string_array(array.tolist()) if array.dtype.kind in "OSU" else array), kind


class _Table:
    """keys -> values, looked up for every element of an input tensor."""

    def __init__(self, kernel, keys: np.ndarray, values: np.ndarray, last_wins: bool, bitwise: bool):
        if len(keys) != len(values):
            kernel.refuse(f"the keys ({len(keys)}) and values ({len(values)}) attributes must have the same length")
        self.kernel, self.values = kernel, values
        self.strings = keys.dtype == object
        self.bitwise = bitwise and keys.dtype.kind == "f"
        order = range(len(keys)) if last_wins else range(len(keys) - 1, -1, -1)  # the kept one is written last
        if self.strings:
            self.lookup = {}
            for i in order:
                self.lookup[keys[i]] = i
            return
        if self.bitwise:
            search = keys.astype(np.float32).view(np.int32).astype(np.int64)
        else:
            search = keys.astype(np.float64) if keys.dtype.kind == "f" else keys.astype(np.int64)
        self.key_kind = keys.dtype.kind
        self.nan_slot = -1
        chosen = {}
        for i in order:
            k = search[i]
            if not self.bitwise and self.key_kind == "f" and np.isnan(k):
                self.nan_slot = i
                continue
            chosen[k.item()] = i
        self.sorted_keys = np.array(sorted(chosen), dtype=search.dtype)
        self.slots = np.array([chosen[k] for k in sorted(chosen)], dtype=np.int64)

    def __call__(self, x: np.ndarray, default):
        flat = x.reshape(-1)
        if self.strings:
            if not _common.is_string(x):
                self.kernel.fail(f"input X is {x.dtype}; the keys are strings")
            slot = np.array([self.lookup.get(v, -1) for v in flat.tolist()], dtype=np.int64)
        else:
            if _common.is_string(x):
                self.kernel.fail("input X holds strings; the keys are numbers")
            if self.bitwise:
                query = flat.astype(np.float32).view(np.int32).astype(np.int64)
            elif self.key_kind == "f" or flat.dtype.kind == "f":
                query = flat.astype(np.float64)
            else:
                query = flat.astype(np.int64)
            slot = np.full(flat.shape, -1, dtype=np.int64)
            if self.sorted_keys.size:
                at = np.minimum(np.searchsorted(self.sorted_keys, query), len(self.sorted_keys) - 1)
                slot = np.where(self.sorted_keys[at] == query, self.slots[at], -1)
            if self.nan_slot >= 0 and query.dtype.kind == "f":
                slot = np.where(np.isnan(query), self.nan_slot, slot)
        values = self.values
        if values.dtype == object:
            out = np.empty(flat.shape, dtype=object)
            out[:] = default
            hit = slot >= 0
            out[hit] = values[slot[hit]]
        else:
            out = np.where(slot >= 0, values[np.maximum(slot, 0)] if len(values) else 0,
                           np.asarray(default).astype(values.dtype))
            out = out.astype(values.dtype)
        return out.reshape(x.shape)
