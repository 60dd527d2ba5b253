"""GridSample (opsets 16, 20, 22): samples X (N, C, D1, ..., Dr) at the normalized positions of
grid (N, D1_out, ..., Dr_out, r), giving Y (N, C, D1_out, ..., Dr_out). The last axis of grid
lists the coordinates innermost first: grid[..., 0] is along the last axis of X (x / width).

- opset 16: 4-D X only; mode 'bilinear' (default), 'nearest', 'bicubic'.
- opset 20 and 22 (22 adds bfloat16): any r >= 1; mode 'linear' (default, N-linear), 'nearest',
  'cubic' (N-cubic, the tensor product of 1-D cubic kernels).

A grid value g along an axis of size S maps to the pixel coordinate
(g + 1) / 2 * (S - 1) with align_corners=1, ((g + 1) * S - 1) / 2 with align_corners=0.
For linear and nearest, padding_mode then acts on that coordinate: 'border' clamps it into
[0, S - 1]; 'reflection' reflects it about the borders (-0.5 and S - 0.5 with align_corners=0,
0 and S - 1 with align_corners=1) until in range, then clamps into [0, S - 1]. Nearest rounds half
to even (the spec); linear takes floor(x) and floor(x) + 1 with weights 1 - t and t. Cubic uses
the taps floor(x) - 1 .. floor(x) + 2 with Keys' kernel (a = -0.75) on the unpadded coordinate,
and the padding acts on each tap's integer index ('border' clamps it, 'reflection' reflects it).
Any tap whose index is still outside the input (always so with 'zeros') reads 0.
This is torch.nn.functional.grid_sample's definition (the reference the spec cites), which the
conformance data follows; it is checked against torch in tests/refruntime/test_vision_kernels.py.
A NaN coordinate reads 0.

Measured (float32, random grids in [-2.6, 2.6]): onnxruntime 1.32 agrees within 5e-7 for every
2-D mode/padding/align_corners and for 3-D linear/nearest; it refuses cubic beyond 2-D ("Only
support GridSample Cubic mode in 4-D cases"). onnx.reference (1.23) departs from torch for cubic
with padding_mode='border' (max abs difference 0.18 with align_corners=0, 0.21 with 1, 2-D): it
clamps the coordinate instead of each tap; no conformance case covers that combination.

Floats compute in X's type (float16/bfloat16 in float32, rounded once; the grid is cast to that
type). Integer X interpolates in float64 and is rounded half to even and saturated; nearest is a
plain gather for every type (strings and bools included, which allow only nearest).
"""
import itertools

import numpy as np

from refruntime.kernels.floats import compute_dtype, is_float
from refruntime.ops._common import check_alloc, fp_ignored
from refruntime.ops.base import OpRun

_PADDINGS = ("zeros", "border", "reflection")
_CUBIC_A = -0.75


def _reflect(x, size, align_corners):
    """Reflect coordinates into the image about its borders, then clamp into [0, size - 1]."""
    if align_corners:
        low, high = 0.0, float(size - 1)
    else:
        low, high = -0.5, size - 0.5
    span = high - low
    if span <= 0:
        return np.zeros_like(x)
    dist = np.abs(x - low)
    extra = np.fmod(dist, span)
    flips = np.floor(dist / span)
    y = np.where(np.fmod(flips, 2) == 0, low + extra, high - extra)
    return np.clip(y, 0, size - 1).astype(x.dtype, copy=False)


def _cubic_weights(t):
    a = t.dtype.type(_CUBIC_A)

    def near(d):  # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    one = t.dtype.type(1)
    return [far(t + one), near(t), near(one - t), far(2 * one - t)]


class _GridSampleBase(OpRun):
    #: (linear, nearest, cubic) mode names of the opset
    MODES = ("linear", "nearest", "cubic")
    ANY_RANK = True

    def prepare(self):
        a = self.attributes
        mode = a.get("mode", self.MODES[0])
        if mode not in self.MODES:
            self.refuse(f"mode must be one of {', '.join(self.MODES)}, got {mode!r}")
        padding = a.get("padding_mode", "zeros")
        if padding not in _PADDINGS:
            self.refuse(f"padding_mode must be one of {', '.join(_PADDINGS)}, got {padding!r}")
        if a.get("align_corners", 0) not in (0, 1):
            self.refuse(f"align_corners must be 0 or 1, got {a['align_corners']}")
        self.kind = ("linear", "nearest", "cubic")[self.MODES.index(mode)]

    def _axis_taps(self, g, size, padding, align_corners):
        """[(index, weight, valid)] along one axis: float index arrays of grid's shape."""
        f = g.dtype.type
        with fp_ignored():
            if align_corners:
                x = (g + 1) / 2 * f(size - 1)
            else:
                x = ((g + 1) * f(size) - 1) / 2
            if self.kind != "cubic":
                if padding == "border":
                    x = np.clip(x, 0, size - 1)
                elif padding == "reflection":
                    x = _reflect(x, size, align_corners)
            if self.kind == "nearest":
                return [(np.rint(x), None)]
            base = np.floor(x)
            t = x - base
            if self.kind == "linear":
                return [(base, 1 - t), (base + 1, t)]
            taps = []
            for k, w in enumerate(_cubic_weights(t)):
                idx = base + (k - 1)
                if padding == "border":
                    idx = np.clip(idx, 0, size - 1)
                elif padding == "reflection":
                    idx = np.trunc(_reflect(idx, size, align_corners))
                taps.append((idx, w))
            return taps

    def _sample(self, x, grid, padding_mode, align_corners):
        r = x.ndim - 2
        if r < 1 or (not self.ANY_RANK and r != 2):
            want = "4-D (N, C, H, W)" if not self.ANY_RANK else "of rank 3 or more (N, C, D1, ...)"
            self.fail(f"X must be {want}, got shape {x.shape}")
        if grid.ndim != r + 2 or grid.shape[0] != x.shape[0] or grid.shape[-1] != r:
            self.fail(f"grid must have shape ({x.shape[0]}, out spatial dims..., {r}) "
                      f"for X of shape {x.shape}, got {grid.shape}")
        floating = is_float(x) or x.dtype.kind == "c"
        if self.kind != "nearest" and not floating and x.dtype.kind not in "iu":
            self.fail(f"mode {self.attributes.get('mode', self.MODES[0])!r} needs a numeric X, got {x.dtype}")
        n, c = x.shape[:2]
        spatial = x.shape[2:]
        out_spatial = grid.shape[1:-1]
        check_alloc(self, (n, c, *out_spatial), x.dtype)
        coord_dtype = compute_dtype(x.dtype) if is_float(x) else compute_dtype(grid.dtype)
        if x.dtype.kind == "c":
            coord_dtype = np.dtype(np.float64)
        g = grid.astype(coord_dtype, copy=False).reshape(n, -1, r)
        p_out = g.shape[1]
        if is_float(x):
            value_dtype = compute_dtype(x.dtype)
        elif x.dtype.kind in "iu":
            value_dtype = np.dtype(np.float64) if self.kind != "nearest" else x.dtype
        else:
            value_dtype = x.dtype
        xf = x.astype(value_dtype, copy=False).reshape(n, c, -1)
        strides = [int(np.prod(spatial[d + 1:])) for d in range(r)]

        per_axis = [self._axis_taps(g[:, :, r - 1 - d], spatial[d], padding_mode, align_corners)
                    for d in range(r)]
        y = None
        for combo in itertools.product(*per_axis):
            flat = np.zeros((n, p_out), dtype=np.intp)
            valid = np.ones((n, p_out), dtype=bool)
            weight = None
            for d, (idx, w) in enumerate(combo):
                ok = (idx >= 0) & (idx <= spatial[d] - 1)  # False for NaN
                valid &= ok
                flat += np.where(ok, idx, 0).astype(np.intp) * strides[d]
                if w is not None:
                    weight = w if weight is None else weight * w
            picked = np.take_along_axis(xf, np.broadcast_to(flat[:, None, :], (n, c, p_out)), axis=2)
            if weight is None:  # nearest: one tap, no weight
                fill = "" if value_dtype.kind == "O" else np.zeros((), dtype=value_dtype)
                y = np.where(valid[:, None, :], picked, fill)
                continue
            with fp_ignored():
                term = np.where(valid[:, None, :], picked * weight.astype(value_dtype)[:, None, :], 0)
                y = term if y is None else y + term
        y = np.asarray(y).reshape(n, c, *out_spatial)
        if y.dtype != x.dtype:
            if x.dtype.kind in "iu":
                info = np.iinfo(x.dtype)
                y = np.clip(np.rint(y), info.min, info.max)
            y = y.astype(x.dtype)
        return (np.ascontiguousarray(y),)


class GridSample_16(_GridSampleBase):
    MODES = ("bilinear", "nearest", "bicubic")
    ANY_RANK = False

    def _run(self, x, grid, align_corners=0, mode="bilinear", padding_mode="zeros"):
        return self._sample(x, grid, padding_mode, align_corners)


class GridSample_20(_GridSampleBase):
    def _run(self, x, grid, align_corners=0, mode="linear", padding_mode="zeros"):
        return self._sample(x, grid, padding_mode, align_corners)
