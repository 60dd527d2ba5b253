"""OptionalHasElement (opsets 15, 18 and 28): true (a 0-D bool tensor) when the input holds a
value: a non-empty optional, or (18+) a tensor or sequence; false for an empty optional (None in
refruntime) or (18+) an omitted input."""
import numpy as np

from refruntime.ops.base import OpRun


class OptionalHasElement_15(OpRun):
    def _run(self, input=None):
        return (np.array(input is not None),)
