"""OptionalGetElement (opsets 15, 18 and 28): the element of a non-empty optional, or (18+) the
input tensor or sequence itself. An empty optional (None in refruntime) is an error: the spec
leaves the result undefined, onnxruntime fails, and so do we."""
from refruntime.ops.base import OpRun


class OptionalGetElement_15(OpRun):
    def _run(self, input=None):
        if input is None:
            self.fail("the input is an empty optional: it has no element to get")
        return (input,)
