"""BlackmanWindow (opset 17): w[n] = 0.42 - 0.5 cos(2 pi n / N) + 0.08 cos(4 pi n / N) for
n < size, N = size when periodic=1 (default), size - 1 when periodic=0. Output in
output_datatype (default float), computed in float64 and rounded once (integer types: the float32
value of the function body, truncated by its Cast).

The end points are 0.42 - 0.5 + 0.08: -1.4e-17 in float64 (rounded once: about -1.4e-17 in
float32), where onnxruntime 1.32, which runs the body in float32, returns 1.49e-08.
size 0 gives an empty window. A symmetric window of size 1 is 0/0 in the function body: NaN,
as onnxruntime returns; an integer output type then fails.
"""
from refruntime.kernels.signal import cosine_window, output_dtype
from refruntime.ops.base import OpRun


class BlackmanWindow_17(OpRun):
    def prepare(self):
        self._dtype = output_dtype(self, self.attributes.get("output_datatype", 1))

    def _run(self, size, periodic=1, output_datatype=1):
        return (cosine_window(self, size, periodic, self._dtype, 0.42, 0.5, 0.08),)
