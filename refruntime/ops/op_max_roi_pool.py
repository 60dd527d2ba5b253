"""MaxRoiPool (opsets 1 and 22; 22 only adds bfloat16): Fast R-CNN's RoI max pooling. Each roi
[batch_id, x1, y1, x2, y2] is scaled by spatial_scale, its corners rounded to pixels, and split
into pooled_shape = (pooled_h, pooled_w) bins; each output is the max of X over its bin.
Output shape (num_rois, C, pooled_h, pooled_w).

The spec gives no formula; this is the Caffe ROIPooling arithmetic that onnxruntime implements:
x1 = round(x1 * spatial_scale) (half away from zero; same for y1, x2, y2), roi height
max(y2 - y1 + 1, 1) (width likewise), bin size roi_height / pooled_h as a float, bin ph covering
rows y1 + floor(ph * bin_h) to y1 + ceil((ph + 1) * bin_h) (end excluded), clipped to the image.
An empty bin (wholly outside the image) gives 0. A NaN in a bin gives NaN.
The rounding and bin sizes are computed in X's float type (float16/bfloat16 in float32).
"""
import numpy as np

from refruntime.kernels.floats import compute_dtype
from refruntime.ops._common import check_alloc, fp_ignored
from refruntime.ops.base import OpRun


class MaxRoiPool(OpRun):
    def prepare(self):
        shape = self.attributes.get("pooled_shape")
        if shape is None:
            self.refuse("the pooled_shape attribute is required")
        if len(shape) != 2 or min(shape) < 1:
            self.refuse(f"pooled_shape must be two positive ints, got {shape}")

    def _run(self, x, rois, pooled_shape=None, spatial_scale=1.0):
        if x.ndim != 4:
            self.fail(f"X must be 4-D (N, C, H, W), got shape {x.shape}")
        if rois.ndim != 2 or rois.shape[1] != 5:
            self.fail(f"rois must have shape (num_rois, 5), got {rois.shape}")
        dtype = compute_dtype(x.dtype)
        f = dtype.type
        r = rois.astype(dtype)
        out_h, out_w = (int(v) for v in pooled_shape)
        height, width = x.shape[2], x.shape[3]
        check_alloc(self, (rois.shape[0], x.shape[1], out_h, out_w), x.dtype)
        with fp_ignored():
            bi = r[:, 0].astype(np.int64)
            if bi.size and (bi.min() < 0 or bi.max() >= x.shape[0]):
                self.fail(f"roi batch ids must lie in [0, {x.shape[0]}), got values in "
                          f"[{bi.min()}, {bi.max()}]")
            scaled = r[:, 1:] * f(spatial_scale)
            corners = (np.sign(scaled) * np.floor(np.abs(scaled) + f(0.5))).astype(np.int64)
            x1, y1, x2, y2 = corners.T
            roi_h = np.maximum(y2 - y1 + 1, 1).astype(dtype)
            roi_w = np.maximum(x2 - x1 + 1, 1).astype(dtype)
            bin_h = roi_h / f(out_h)
            bin_w = roi_w / f(out_w)
            ph = np.arange(out_h, dtype=dtype)
            pw = np.arange(out_w, dtype=dtype)
            h0 = np.floor(ph[None, :] * bin_h[:, None]).astype(np.int64) + y1[:, None]
            h1 = np.ceil((ph[None, :] + 1) * bin_h[:, None]).astype(np.int64) + y1[:, None]
            w0 = np.floor(pw[None, :] * bin_w[:, None]).astype(np.int64) + x1[:, None]
            w1 = np.ceil((pw[None, :] + 1) * bin_w[:, None]).astype(np.int64) + x1[:, None]
        h0, h1 = np.clip(h0, 0, height), np.clip(h1, 0, height)
        w0, w1 = np.clip(w0, 0, width), np.clip(w1, 0, width)
        from refruntime.kernels.vision import max_roi_pool

        y = max_roi_pool(np.ascontiguousarray(x, dtype=dtype), bi, h0, h1, w0, w1)
        return (y if y.dtype == x.dtype else y.astype(x.dtype),)
