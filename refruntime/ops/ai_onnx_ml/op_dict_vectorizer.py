"""DictVectorizer (ai.onnx.ml 1): a map X becomes Y = [1, len(vocabulary)], Y[0, i] = X[vocabulary[i]]
(0, or "" for string values, where the key is absent). Y's type is the map's value type: Session
feeds of declared map type carry it (refruntime/feeds.py makes the values numpy scalars of it);
Python floats count as float32, Python ints as int64, and an empty map gives float32."""
import numpy as np

from refruntime.ops.ai_onnx_ml import _common
from refruntime.ops.base import OpRun


class DictVectorizer(OpRun):
    def prepare(self):
        ints, strings = self.attributes.get("int64_vocabulary"), self.attributes.get("string_vocabulary")
        if bool(ints) == bool(strings):
            self.refuse("exactly one of the attributes 'int64_vocabulary' and 'string_vocabulary' must be given "
                        "(and not empty)")
        self.vocabulary = list(strings or ints)

    def _run(self, x, int64_vocabulary=None, string_vocabulary=None):
        if not isinstance(x, dict):
            self.fail(f"input X must be a map (a dict), got {type(x).__name__}")
        dtype = value_dtype(x.values())
        missing = "" if dtype == object else 0
        values = [x.get(k, missing) for k in self.vocabulary]
        if dtype == object:
            return (_common.string_array(values).reshape(1, -1),)
        return (np.asarray(values, dtype=dtype).reshape(1, -1),)


def value_dtype(values) -> np.dtype:
    for v in values:
        if isinstance(v, str):
            return np.dtype(object)
        if isinstance(v, np.generic):
            return v.dtype
        if isinstance(v, bool | int):
            return np.dtype(np.int64)
        return np.dtype(np.float32)
    return np.dtype(np.float32)
