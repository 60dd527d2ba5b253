import numpy as np

from refruntime.ops._common import check_alloc, ints
from refruntime.ops.base import OpRun


class ConstantOfShape_9(OpRun):
    def prepare(self):
        value = self.attributes.get("value")
        if value is None:
            self.fill = np.zeros((), dtype=np.float32)
        else:
            value = np.asarray(value)
            if value.size != 1:
                self.fail(f"attribute value must hold one element, it has shape {value.shape}")
            self.fill = value.reshape(())

    def _run(self, shape, value=None):
        dims = ints(shape)
        check_alloc(self, dims, self.fill.dtype)
        return (np.full(dims, self.fill, dtype=self.fill.dtype),)
