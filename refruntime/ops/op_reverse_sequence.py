"""ReverseSequence (opsets 10 and 28: 28 adds types), from the operator spec: for each batch
entry b (along batch_axis), the first sequence_lens[b] elements along time_axis are reversed and
the rest copied. batch_axis and time_axis are 0 and 1 in either order; the input has rank >= 2.

sequence_lens (int64, one per batch entry) must lie in [0, time dimension], as onnxruntime
requires (it rejects values outside); 0 and 1 leave the entry unchanged.
"""
import numpy as np

from refruntime.ops.base import OpRun


class ReverseSequence_10(OpRun):
    def prepare(self):
        batch_axis = self.attributes.get("batch_axis", 1)
        time_axis = self.attributes.get("time_axis", 0)
        if {batch_axis, time_axis} != {0, 1}:
            self.refuse(f"batch_axis and time_axis must be 0 and 1 in either order, got batch_axis="
                        f"{batch_axis}, time_axis={time_axis}")

    def _run(self, x, sequence_lens, batch_axis=1, time_axis=0):
        if x.ndim < 2:
            self.fail(f"input must have rank >= 2, got shape {x.shape}")
        lens = np.asarray(sequence_lens).reshape(-1)
        if sequence_lens.ndim != 1 or lens.size != x.shape[batch_axis]:
            self.fail(f"sequence_lens must be 1-D with one length per batch entry ({x.shape[batch_axis]} "
                      f"for input shape {x.shape}, batch_axis {batch_axis}), got shape {sequence_lens.shape}")
        steps = x.shape[time_axis]
        if lens.size and (lens.min() < 0 or lens.max() > steps):
            self.fail(f"sequence_lens {lens.tolist()} must lie in [0, {steps}] (time dimension of "
                      f"shape {x.shape}, time_axis {time_axis})")
        # time index read by each (batch, time) output position: reversed inside the length
        t = np.arange(steps)[None, :]
        n = lens.astype(np.int64)[:, None]
        source = np.where(t < n, n - 1 - t, t)  # (batch, time)
        if batch_axis == 1:
            source = source.T  # (time, batch)
        index = source.reshape(source.shape + (1,) * (x.ndim - 2))
        return (np.take_along_axis(x, np.broadcast_to(index, index.shape[:2] + x.shape[2:]), axis=time_axis),)
