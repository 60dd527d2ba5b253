"""Imputer (ai.onnx.ml 1): Y = X with every value equal to the replaced value (NaN matches NaN)
replaced by the imputed value of its feature (the last axis; one imputed value means the same
for all). Float inputs use replaced_value_float/imputed_value_floats, integer inputs the int64 pair.
Y has X's type."""
import numpy as np

from refruntime.ops.base import OpRun


class Imputer(OpRun):
    def prepare(self):
        a = self.attributes
        floats, ints = a.get("imputed_value_floats"), a.get("imputed_value_int64s")
        if bool(floats) == bool(ints):
            self.refuse("exactly one of the attributes 'imputed_value_floats' and 'imputed_value_int64s' must be "
                        "given (and not empty)")
        self.floats = bool(floats)
        self.values = np.asarray(floats or ints, dtype=np.float32 if floats else np.int64)
        self.replaced = np.float32(a.get("replaced_value_float", 0.0)) if floats else int(a.get("replaced_value_int64", 0))

    def _run(self, x, imputed_value_floats=None, imputed_value_int64s=None, replaced_value_float=0.0,
             replaced_value_int64=0):
        if x.ndim == 0:
            self.fail("input X is a scalar; Imputer needs at least one axis")
        if self.floats != (x.dtype.kind == "f"):
            self.fail(f"input X is {x.dtype}, but the imputed values are {'floats' if self.floats else 'int64s'}")
        if len(self.values) not in (1, x.shape[-1]):
            self.fail(f"there are {len(self.values)} imputed values and X has {x.shape[-1]} features per row "
                      "(expected that many or 1)")
        if self.floats and np.isnan(self.replaced):
            hit = np.isnan(x)
        else:
            hit = x == self.replaced
        return (np.where(hit, self.values.astype(x.dtype), x),)
