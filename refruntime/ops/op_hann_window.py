"""HannWindow (opset 17): w[n] = 0.5 - 0.5 cos(2 pi n / N) for n < size, N = size when
periodic=1 (default: the first `size` points of a size + 1 symmetric window), size - 1 when
periodic=0. Output in output_datatype (default float), computed in float64 from the formula of
the spec's function body and rounded once (integer types: the body's float32 value,
truncated by its Cast).

size 0 gives an empty window. A symmetric window of size 1 is 0/0 in the function body: NaN,
as onnxruntime 1.32 returns (torch and scipy return [1.]); an integer output type then fails.
"""
from refruntime.kernels.signal import cosine_window, output_dtype
from refruntime.ops.base import OpRun


class HannWindow_17(OpRun):
    def prepare(self):
        self._dtype = output_dtype(self, self.attributes.get("output_datatype", 1))

    def _run(self, size, periodic=1, output_datatype=1):
        return (cosine_window(self, size, periodic, self._dtype, 0.5, 0.5, 0.0),)
