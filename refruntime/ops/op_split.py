"""Split: sizes from the `split` attribute (opset 2-12), the `split` input (13+), or equal parts
(num_outputs attribute from 18; the number of outputs before that)."""
from refruntime.ops._common import ints, normalize_axis
from refruntime.ops.base import OpRun


class _SplitBase(OpRun):
    def _split(self, x, sizes, axis, num_outputs=None):
        ax = normalize_axis(self, axis, x.ndim)
        dim = x.shape[ax]
        if sizes is None or len(sizes) == 0:
            n = num_outputs or self.num_outputs
            if num_outputs is not None:
                chunk = -(-dim // n)  # ceil: the last chunk may be smaller (opset 18)
                sizes = [min(chunk, max(dim - chunk * i, 0)) for i in range(n)]
            else:
                if dim % n:
                    self.fail(f"cannot split dimension {dim} of shape {x.shape} (axis {axis}) into "
                              f"{n} equal outputs")
                sizes = [dim // n] * n
        if sum(sizes) != dim or any(s < 0 for s in sizes):
            self.fail(f"split sizes {list(sizes)} do not add up to dimension {dim} of shape "
                      f"{x.shape} (axis {axis})")
        if len(sizes) != self.num_outputs:
            self.fail(f"{len(sizes)} split sizes {list(sizes)} for {self.num_outputs} outputs")
        parts, start, lead = [], 0, (slice(None),) * ax  # slicing: np.split costs ~10 us in Python
        for size in sizes:
            parts.append(x[(*lead, slice(start, start + size))])
            start += size
        return tuple(parts)


class Split_2(_SplitBase):
    def _run(self, x, axis=0, split=None):
        return self._split(x, split, axis)


class Split_13(_SplitBase):
    def _run(self, x, split=None, axis=0):
        return self._split(x, ints(split), axis)


class Split_18(_SplitBase):
    def prepare(self):
        n = self.attributes.get("num_outputs")
        if n is not None and n != self.num_outputs:
            self.fail(f"attribute num_outputs={n} but the node has {self.num_outputs} outputs")

    def _run(self, x, split=None, axis=0, num_outputs=None):
        if split is not None and num_outputs is not None:
            self.fail("give either the split input or the num_outputs attribute, not both")
        return self._split(x, ints(split), axis, num_outputs)
