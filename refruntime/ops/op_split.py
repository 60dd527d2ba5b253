"""Split: sizes from the `split` attribute (opset 2-12), the `split` input (13+), or equal parts
(num_outputs attribute from 18; the number of outputs before that)."""
from itertools import pairwise

from refruntime.ops._common import ints, normalize_axis
from refruntime.ops.base import OpRun


class _SplitBase(OpRun):
    #: (input shape, the read-only split input, index tuples) of the last call: a transformer splits
    #: its fused QKV projection the same way every run
    _last: tuple = ((), None, ())

    def _split_input(self, x, split, axis, num_outputs=None):
        """_split for a `split` input (opset 13+): a read-only one seen with this shape before
        reuses its index tuples."""
        shape, known, indices = self._last
        if split is not None and split is known and x.shape == shape:
            return tuple(x[index] for index in indices)
        parts = self._split(x, ints(split), axis, num_outputs)
        if split is not None and not split.flags.writeable:
            ax = normalize_axis(self, axis, x.ndim)
            starts = [0]
            for part in parts:
                starts.append(starts[-1] + part.shape[ax])
            lead = (slice(None),) * ax
            self._last = (x.shape, split, tuple((*lead, slice(a, b)) for a, b in pairwise(starts)))
        return parts

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
        return self._split_input(x, split, axis)


class Split_18(_SplitBase):
    def prepare(self):
        n = self.attributes.get("num_outputs")
        if n is not None and n != self.num_outputs:
            self.fail(f"attribute num_outputs={n} but the node has {self.num_outputs} outputs")

    def _run(self, x, split=None, axis=0, num_outputs=None):
        if split is not None and num_outputs is not None:
            self.fail("give either the split input or the num_outputs attribute, not both")
        return self._split_input(x, split, axis, num_outputs)
