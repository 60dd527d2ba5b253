"""RoiAlign (opsets 10, 16, 22; 22 only adds bfloat16): for each roi r = [x1, y1, x2, y2] of
image batch_indices[r], the (output_height, output_width) bins of the roi (scaled by
spatial_scale) are each pooled over a grid of sampling points, every point bilinearly
interpolated from X. Output shape (num_rois, C, output_height, output_width).

The spec describes the op only in prose; the arithmetic below is onnxruntime's CPU kernel (the
Detectron/Caffe2 RoIAlign the op was taken from), and the onnx conformance data agrees with it:
- coordinate_transformation_mode (16+): 'half_pixel' (the default) shifts the scaled roi corners
  by -0.5 pixel; 'output_half_pixel' does not, and then widens rois to at least 1x1 pixel.
  Opset 10 has no attribute and behaves as 'output_half_pixel' (onnxruntime's opset-10 kernel).
- sampling_ratio > 0 uses sampling_ratio x sampling_ratio points per bin; 0 uses
  ceil(roi_height / output_height) x ceil(roi_width / output_width). Point (iy, ix) of bin
  (ph, pw) is at y = y_start + ph * bin_h + (iy + 0.5) * bin_h / grid_h (same for x).
- a sampling point with y < -1, y > H, x < -1 or x > W counts as 0; otherwise coordinates below
  0 are clamped to 0 and a point on or past the last row/column uses that row/column.
- mode 'avg' averages the interpolated values over the grid (points counted even when 0);
  mode 'max' is onnxruntime's: per point, the largest of the four weighted corner terms
  w_i * x_i of the bilinear formula (not the interpolated value), then the max over the grid.
  This is what onnxruntime and the onnx conformance case test_roialign_mode_max compute
  (onnxruntime 1.32 still logs that this max "is incorrect and will be fixed" but has kept it;
  measured equal to onnxruntime and onnx.reference on random rois, all modes).
Computation is in X's type (float16/bfloat16 in float32, rounded once).
"""
import numpy as np

from refruntime.kernels.floats import compute_dtype
from refruntime.ops._common import check_alloc
from refruntime.ops.base import OpRun

#: bilinear samples one RoiAlign call may take (~1e10: minutes of work)
MAX_SAMPLES = 1e10


class _RoiAlignBase(OpRun):
    def prepare(self):
        a = self.attributes
        mode = a.get("mode", "avg")
        if mode not in ("avg", "max"):
            self.refuse(f"mode must be 'avg' or 'max', got {mode!r}")
        ctm = a.get("coordinate_transformation_mode", "half_pixel")
        if ctm not in ("half_pixel", "output_half_pixel"):
            self.refuse(f"coordinate_transformation_mode must be 'half_pixel' or "
                        f"'output_half_pixel', got {ctm!r}")
        for name in ("output_height", "output_width"):
            if a.get(name, 1) < 1:
                self.refuse(f"{name} must be positive, got {a[name]}")
        if a.get("sampling_ratio", 0) < 0:
            self.refuse(f"sampling_ratio must be >= 0, got {a['sampling_ratio']}")

    def _align(self, x, rois, batch_indices, half_pixel, mode, output_height, output_width,
               sampling_ratio, spatial_scale):
        if x.ndim != 4:
            self.fail(f"X must be 4-D (N, C, H, W), got shape {x.shape}")
        if rois.ndim != 2 or rois.shape[1] != 4:
            self.fail(f"rois must have shape (num_rois, 4), got {rois.shape}")
        if batch_indices.ndim != 1 or batch_indices.shape[0] != rois.shape[0]:
            self.fail(f"batch_indices must have shape ({rois.shape[0]},), got {batch_indices.shape}")
        bi = batch_indices.astype(np.int64)
        if bi.size and (bi.min() < 0 or bi.max() >= x.shape[0]):
            self.fail(f"batch_indices must lie in [0, {x.shape[0]}), got values in "
                      f"[{bi.min()}, {bi.max()}]")
        check_alloc(self, (rois.shape[0], x.shape[1], output_height, output_width), x.dtype)
        self._check_work(rois, x.shape[1], output_height, output_width, sampling_ratio, spatial_scale)
        dtype = compute_dtype(x.dtype)
        from refruntime.kernels.vision import roi_align

        y = roi_align(np.ascontiguousarray(x, dtype=dtype), np.ascontiguousarray(rois, dtype=dtype),
                      bi, int(output_height), int(output_width), int(sampling_ratio),
                      float(np.asarray(spatial_scale, dtype=dtype)), bool(half_pixel), mode == "max")
        return (y if y.dtype == x.dtype else y.astype(x.dtype),)


    def _check_work(self, rois, channels, out_h, out_w, sampling_ratio, spatial_scale):
        """Rois must be finite, and the sampling points (the adaptive grid grows with a roi's size)
        at most MAX_SAMPLES: a corrupted roi of 1e30 pixels would otherwise keep the loop busy for
        ever, where no deadline can stop compiled code (LimitError naming the node)."""
        if not rois.size:
            return
        boxes = np.asarray(rois, dtype=np.float64)
        if not np.isfinite(boxes).all():
            self.fail("rois must be finite; found NaN or Inf coordinates")
        if sampling_ratio > 0:
            per_bin = float(sampling_ratio) ** 2 * boxes.shape[0]
        else:
            size = np.maximum(np.abs(boxes[:, 2:] - boxes[:, :2]) * abs(float(spatial_scale)), 1.0)
            per_bin = float((np.ceil(size[:, 1] / out_h) * np.ceil(size[:, 0] / out_w)).sum())
        samples = per_bin * channels * out_h * out_w
        if samples > MAX_SAMPLES:
            from refruntime.errors import LimitError

            name = self.node.name or self.node.output[0]
            raise LimitError(f"node {name!r} (RoiAlign): the rois ask for {samples:.3g} bilinear samples, above "
                             f"{MAX_SAMPLES:.0e} (adaptive sampling grows with the roi's size: sampling_ratio=0)")


class RoiAlign_10(_RoiAlignBase):
    def _run(self, x, rois, batch_indices, mode="avg", output_height=1, output_width=1,
             sampling_ratio=0, spatial_scale=1.0):
        return self._align(x, rois, batch_indices, False, mode, output_height, output_width,
                           sampling_ratio, spatial_scale)


class RoiAlign_16(_RoiAlignBase):
    def _run(self, x, rois, batch_indices, coordinate_transformation_mode="half_pixel", mode="avg",
             output_height=1, output_width=1, sampling_ratio=0, spatial_scale=1.0):
        return self._align(x, rois, batch_indices, coordinate_transformation_mode == "half_pixel",
                           mode, output_height, output_width, sampling_ratio, spatial_scale)
