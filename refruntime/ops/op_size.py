import numpy as np

from refruntime.ops.base import OpRun


class Size(OpRun):
    def _run(self, data):
        return (np.array(np.size(data), dtype=np.int64),)
