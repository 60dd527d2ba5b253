"""Optional (opsets 15 and 28: 28 adds types): an optional holding the input, or, when the input
is omitted, an empty optional of the `type` attribute's type.

refruntime represents an optional by its element itself (a tensor or a sequence list) and an
empty optional by None, as the executor does for omitted values; so this op passes its input (or
None) through. A node with neither an input nor a `type` attribute is refused at plan time (the
spec requires one of them to type the output).
"""
from refruntime.ops.base import OpRun


class Optional_15(OpRun):
    def prepare(self):
        has_input = len(self.node.input) > 0 and self.node.input[0] != ""
        if not has_input and "type" not in self.attributes:
            self.refuse("an Optional without input needs the type attribute (the empty optional's type)")

    def _run(self, input=None, type=None):
        return (input,)
