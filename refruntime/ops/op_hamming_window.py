"""HammingWindow (opset 17): w[n] = 25/46 - 21/46 cos(2 pi n / N) for n < size, N = size when
periodic=1 (default), size - 1 when periodic=0. Output in output_datatype (default float),
computed in float64 and rounded once (integer types: the float32
value of the function body, truncated by its Cast).

The coefficients are the spec function body's (0.543478251 and 0.456521749, float32 roundings of
25/46 and 21/46, used here exactly), not the 0.54 / 0.46 of torch.hamming_window's and
scipy's defaults: the two windows differ by up to 0.007 (at the ends).

size 0 gives an empty window. A symmetric window of size 1 is 0/0 in the function body: NaN,
as onnxruntime 1.32 returns; an integer output type then fails.
"""
from refruntime.kernels.signal import cosine_window, output_dtype
from refruntime.ops.base import OpRun


class HammingWindow_17(OpRun):
    def prepare(self):
        self._dtype = output_dtype(self, self.attributes.get("output_datatype", 1))

    def _run(self, size, periodic=1, output_datatype=1):
        return (cosine_window(self, size, periodic, self._dtype, 25.0 / 46.0, 21.0 / 46.0, 0.0),)
