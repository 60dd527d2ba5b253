import numpy as np

from refruntime.ops.base import OpRun


class Einsum_12(OpRun):
    def prepare(self):
        self.equation = self.attributes.get("equation", "").replace(" ", "")
        if not self.equation:
            self.fail("attribute equation is required")

    def _run(self, *inputs, equation=""):
        work = [x.astype(np.float32) if x.dtype.kind == "V" or x.dtype.type.__module__.startswith("ml_dtypes")
                else x for x in inputs]  # bfloat16 has no einsum loop: compute in float32
        try:
            result = np.einsum(self.equation, *work, optimize=len(inputs) > 2)
        except ValueError as exc:
            self.fail(f"equation {self.equation!r} does not fit inputs "
                      f"{[tuple(x.shape) for x in inputs]}: {exc}")
        result = np.asarray(result)
        return (result if result.dtype == inputs[0].dtype else result.astype(inputs[0].dtype),)
