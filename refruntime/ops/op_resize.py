"""Resize (opset 10, 11/13, 18, 19), separable: the output is computed one resized axis at a time,
each as a gather of `taps` input indices per output index and a weighted sum (nearest is a pure
gather). Linear/cubic interpolation is a tensor product of 1-D kernels, so this equals the
N-linear / N-cubic definition.

Coordinates follow onnx's reference (the conformance data): `output_width = scale * input_width`
as a float in align_corners / tf_crop_and_resize / pytorch_half_pixel / half_pixel_symmetric,
`output_size = floor(input_size * scale)` from scales (roi does not enter the output size, as in
onnxruntime), edge samples clamp to the border, and `exclude_outside=1` zeroes and renormalizes the
weights of taps outside the input. antialias (18+) widens the linear/cubic kernel by 1/scale when
downscaling. Interpolation runs in float64 and is cast back to the input dtype (integers are
rounded and saturated).
"""
import math

import numpy as np

from refruntime.ops._common import check_alloc, fp_ignored, normalize_axes
from refruntime.ops.base import OpRun

_COORD_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                "asymmetric", "tf_crop_and_resize")
_NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def source_coordinates(mode, out_int, in_width, scale, roi_start=0.0, roi_end=1.0):
    """x_original of every output index along one axis, and the tf_crop_and_resize
    out-of-range mask (None for other modes).

    Computed in float32 like onnxruntime: a scale such as 0.6 is held as float32 and an exact
    coordinate (2.0, 4.5) then stays exact, which decides nearest-pixel ties."""
    f = np.float32
    y = np.arange(out_int, dtype=f)
    scale, in_w = f(scale), f(in_width)
    out_width = scale * in_w
    half = f(0.5)
    outside = None
    with fp_ignored(all="ignore"):
        if mode == "align_corners":
            x = np.zeros(out_int, f) if out_width == 1 else y * (in_w - 1) / (out_width - 1)
        elif mode == "asymmetric":
            x = y / scale
        elif mode == "tf_crop_and_resize":
            start, end = f(roi_start), f(roi_end)
            if out_width == 1:
                x = np.full(out_int, (end - start) * (in_w - 1) / 2, dtype=f)
            else:
                x = y * (end - start) * (in_w - 1) / (out_width - 1)
            x = x + start * (in_w - 1)
            outside = (x < 0) | (x > in_w - 1)
        elif mode == "pytorch_half_pixel":
            x = np.zeros(out_int, f) if out_int <= 1 else (y + half) / scale - half
        elif mode == "half_pixel":
            x = (y + half) / scale - half
        elif mode == "half_pixel_symmetric":
            offset = in_w / 2 * (1 - f(out_int) / out_width)
            x = offset + (y + half) / scale - half
        else:  # pragma: no cover - rejected in prepare
            raise ValueError(mode)
    return x.astype(np.float64), outside


def nearest_indices(x, nearest_mode, in_width):
    floor = np.floor(x)
    frac = x - floor
    if nearest_mode == "round_prefer_floor":
        idx = np.where(frac <= 0.5, floor, floor + 1)
    elif nearest_mode == "round_prefer_ceil":
        idx = np.where(frac < 0.5, floor, floor + 1)
    elif nearest_mode == "floor":
        idx = floor
    else:
        idx = np.ceil(x)
    return np.clip(idx, 0, in_width - 1).astype(np.intp)


def _cubic_kernel(d, a):
    d = np.abs(d)
    d2, d3 = d * d, d * d * d
    near = (a + 2) * d3 - (a + 3) * d2 + 1
    far = a * d3 - 5 * a * d2 + 8 * a * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def interpolation_taps(x, in_width, mode, scale, antialias, cubic_a, exclude_outside):
    """(indices, weights), each of shape (out, taps), for linear or cubic interpolation."""
    support = 1 if mode == "linear" else 2
    stretch = min(scale, 1.0) if antialias else 1.0
    start = math.floor(-support / stretch) + 1
    offsets = np.arange(start, 2 - start)
    base = np.ceil(x) - 1  # the left neighbour; x itself when x is an integer is tap +1
    taps = base[:, None] + offsets[None, :]
    distance = (taps - x[:, None]) * stretch
    if mode == "linear":
        weights = np.clip(1 - np.abs(distance), 0, 1)
    else:
        weights = _cubic_kernel(distance, cubic_a)
    if antialias:
        weights = weights / weights.sum(axis=1, keepdims=True)
    if exclude_outside:
        weights = np.where((taps < 0) | (taps >= in_width), 0.0, weights)
        total = weights.sum(axis=1, keepdims=True)
        weights = weights / np.where(total == 0, 1.0, total)
    return np.clip(taps, 0, in_width - 1).astype(np.intp), weights


def resize_axis(data, axis, out_int, scale, mode, coord_mode, nearest_mode, roi, cubic_a,
                exclude_outside, antialias):
    """Resize `data` along one axis. Returns (result, tf_crop_and_resize outside-mask or None)."""
    in_width = data.shape[axis]
    x, outside = source_coordinates(coord_mode, out_int, in_width, scale, *roi)
    if out_int == 0 or in_width == 0:
        shape = list(data.shape)
        shape[axis] = out_int
        return np.zeros(shape, dtype=data.dtype), outside
    if mode == "nearest":
        return np.take(data, nearest_indices(x, nearest_mode, in_width), axis=axis), outside
    idx, weights = interpolation_taps(x, in_width, mode, scale, antialias, cubic_a, exclude_outside)
    gathered = np.take(data, idx, axis=axis)  # the axis becomes (out, taps)
    shape = (1,) * axis + weights.shape + (1,) * (data.ndim - axis - 1)
    return np.sum(gathered * weights.reshape(shape), axis=axis + 1), outside


class _ResizeBase(OpRun):
    coord_default = "half_pixel"

    def prepare(self):
        a = self.attributes
        self.mode = a.get("mode", "nearest")
        self.coord_mode = a.get("coordinate_transformation_mode", self.coord_default)
        self.nearest_mode = a.get("nearest_mode", "round_prefer_floor")
        self.policy = a.get("keep_aspect_ratio_policy", "stretch")
        self.antialias = a.get("antialias", 0)
        if self.mode not in ("nearest", "linear", "cubic"):
            self.fail(f"unknown mode {self.mode!r}")
        if self.coord_mode not in _COORD_MODES:
            self.fail(f"unknown coordinate_transformation_mode {self.coord_mode!r}")
        if self.nearest_mode not in _NEAREST_MODES:
            self.fail(f"unknown nearest_mode {self.nearest_mode!r}")
        if self.policy not in ("stretch", "not_larger", "not_smaller"):
            self.fail(f"unknown keep_aspect_ratio_policy {self.policy!r}")

    def _resize(self, x, roi, scales, sizes, axes=None, cubic_coeff_a=-0.75, exclude_outside=0,
                extrapolation_value=0.0):
        rank = x.ndim
        axes = list(range(rank)) if axes is None else list(normalize_axes(self, axes, rank))
        scales = None if scales is None or np.size(scales) == 0 else [float(s) for s in np.ravel(scales)]
        sizes = None if sizes is None or np.size(sizes) == 0 else [int(s) for s in np.ravel(sizes)]
        if (scales is None) == (sizes is None):
            self.fail("exactly one of scales and sizes must be given (non-empty)")
        given = scales if scales is not None else sizes
        if len(given) != len(axes):
            self.fail(f"{'scales' if scales is not None else 'sizes'} {given} must have one value per "
                      f"resized axis ({len(axes)}) of input shape {x.shape}")
        roi_pairs = [(0.0, 1.0)] * rank
        if self.coord_mode == "tf_crop_and_resize":
            if roi is None or np.size(roi) != 2 * len(axes):
                self.fail(f"tf_crop_and_resize needs roi with {2 * len(axes)} values, got "
                          f"{None if roi is None else np.ravel(roi).tolist()}")
            r = [float(v) for v in np.ravel(roi)]
            for i, axis in enumerate(axes):
                roi_pairs[axis] = (r[i], r[len(axes) + i])
        full_scales = [1.0] * rank
        out_shape = list(x.shape)
        if scales is not None:
            for axis, s in zip(axes, scales):
                if s <= 0:
                    self.fail(f"scales {scales} must be positive")
                full_scales[axis] = s
                out_shape[axis] = math.floor(x.shape[axis] * s)
        else:
            if any(s < 0 for s in sizes):
                self.fail(f"sizes {sizes} must be non-negative")
            ratios = [s / x.shape[axis] if x.shape[axis] else 1.0 for axis, s in zip(axes, sizes)]
            if self.policy != "stretch":
                common = min(ratios) if self.policy == "not_larger" else max(ratios)
                for axis in axes:
                    full_scales[axis] = common
                    out_shape[axis] = int(common * x.shape[axis] + 0.5)
            else:
                for axis, s, ratio in zip(axes, sizes, ratios):
                    ratio = float(np.float32(s) / np.float32(x.shape[axis])) if x.shape[axis] else 1.0
                    full_scales[axis] = ratio
                    out_shape[axis] = s
        check_alloc(self, out_shape, x.dtype)
        interpolate = self.mode != "nearest"
        result = x.astype(np.float64) if interpolate else x
        outside_mask = None
        for axis in axes:
            if out_shape[axis] == x.shape[axis] and full_scales[axis] == 1.0 and roi_pairs[axis] == (0.0, 1.0):
                continue  # identity along this axis
            result, outside = resize_axis(
                result, axis, out_shape[axis], full_scales[axis], self.mode, self.coord_mode,
                self.nearest_mode, roi_pairs[axis], cubic_coeff_a, exclude_outside,
                self.antialias and self.mode != "nearest")
            if outside is not None and outside.any():
                m = outside.reshape((1,) * axis + (-1,) + (1,) * (rank - axis - 1))
                outside_mask = m if outside_mask is None else (outside_mask | m)
        if outside_mask is not None:
            result = np.where(outside_mask, np.asarray(extrapolation_value).astype(result.dtype), result)
        return (_to_dtype(np.asarray(result), x.dtype),)


def _to_dtype(result, dtype):
    if result.dtype == dtype:
        return result
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(result), info.min, info.max).astype(dtype)
    return result.astype(dtype)


class Resize_10(_ResizeBase):
    """Opset 10: scales only; asymmetric coordinates, nearest rounds down (as Upsample)."""

    coord_default = "asymmetric"

    def prepare(self):
        super().prepare()
        self.nearest_mode = "floor"

    def _run(self, x, scales, mode="nearest"):
        return self._resize(x, None, scales, None)


class Resize_11(_ResizeBase):
    def _run(self, x, roi=None, scales=None, sizes=None, antialias=0, axes=None,
             coordinate_transformation_mode="half_pixel", cubic_coeff_a=-0.75, exclude_outside=0,
             extrapolation_value=0.0, keep_aspect_ratio_policy="stretch", mode="nearest",
             nearest_mode="round_prefer_floor"):
        return self._resize(x, roi, scales, sizes, axes, cubic_coeff_a, exclude_outside,
                            extrapolation_value)
