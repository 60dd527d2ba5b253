"""SequenceEmpty (opset 11): an empty sequence (a new empty list). The `dtype` attribute (default
float) only types the sequence in the graph: an empty list carries no element type."""
from refruntime.ops.base import OpRun


class SequenceEmpty_11(OpRun):
    def prepare(self):
        dtype = self.attributes.get("dtype")
        if dtype is not None:
            from refruntime.dtypes import to_numpy_dtype

            try:
                to_numpy_dtype(dtype)
            except Exception:  # noqa: BLE001 - onnx raises KeyError/ValueError for unknown types
                self.refuse(f"dtype attribute {dtype} is not a known tensor element type")

    def _run(self, dtype=None):
        return ([],)
