"""CategoryMapper (ai.onnx.ml 1): strings to int64 (default_int64 for a string not listed) or int64
to strings (default_string), by the pairs (cats_strings[i], cats_int64s[i]); the input's type
chooses the direction. A value listed twice maps by its last pair (onnxruntime's maps)."""
import numpy as np

from refruntime.ops.ai_onnx_ml import _common
from refruntime.ops.base import OpRun


class CategoryMapper(OpRun):
    def prepare(self):
        a = self.attributes
        ints, strings = a.get("cats_int64s") or [], a.get("cats_strings") or []
        if len(ints) != len(strings):
            self.refuse(f"attributes 'cats_int64s' and 'cats_strings' have {len(ints)} and {len(strings)} values; "
                        "they pair up")
        self.to_int = dict(zip(strings, ints))
        self.to_string = dict(zip(ints, strings))

    def _run(self, x, cats_int64s=None, cats_strings=None, default_int64=-1, default_string="_Unused"):
        flat = x.reshape(-1).tolist()
        if _common.is_string(x):
            out = np.array([self.to_int.get(v, default_int64) for v in flat], dtype=np.int64)
        elif x.dtype.kind in "iu":
            out = _common.string_array([self.to_string.get(v, default_string) for v in flat])
        else:
            self.fail(f"input X is {x.dtype}; CategoryMapper maps strings or int64")
        return (out.reshape(x.shape),)
