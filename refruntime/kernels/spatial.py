"""Geometry of convolution and pooling windows: output sizes and the padding actually applied.

Plain Python (no numba), so op files may import it at module level. Every op with a sliding
window (Conv, ConvTranspose, MaxPool, AveragePool) reads its `auto_pad`/`pads`/`strides`/
`dilations`/`ceil_mode` through `window_geometry`, so the formulas of the spec live in one place.

Shapes are handled in 3-D: 1-D and 2-D problems are promoted by prepending unit spatial axes
(`as_3d`), so each numba loop is written once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


@dataclass(frozen=True)
class Geometry:
    """Resolved window geometry for one spatial rank (all tuples have one entry per axis)."""

    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pads_begin: tuple[int, ...]
    pads_end: tuple[int, ...]
    out: tuple[int, ...]

    def as_3d(self) -> Geometry:
        """The same geometry with unit axes prepended up to three spatial axes."""
        extra = 3 - len(self.kernel)
        one, zero = (1,) * extra, (0,) * extra
        return Geometry(one + self.kernel, one + self.strides, one + self.dilations,
                        zero + self.pads_begin, zero + self.pads_end, one + self.out)


def check_window_attributes(kernel, auto_pad: str, nd: int | None = None, **lists) -> None:
    """Validate auto_pad and the lengths/signs of ints attributes at plan time (fail names the node)."""
    if auto_pad not in AUTO_PADS:
        kernel.fail(f"auto_pad must be one of {', '.join(AUTO_PADS)}, got {auto_pad!r}")
    for name, value in lists.items():
        if value is None:
            continue
        want = nd * 2 if (name == "pads" and nd is not None) else nd
        if want is not None and len(value) != want:
            kernel.fail(f"{name} has {len(value)} values {list(value)}, expected {want}")
        if name in ("strides", "dilations", "kernel_shape") and any(v < 1 for v in value):
            kernel.fail(f"{name} must be positive, got {list(value)}")
        if name in ("pads", "output_padding") and any(v < 0 for v in value):
            kernel.fail(f"{name} must be non-negative, got {list(value)}")


def check_pool_attributes(kernel) -> None:
    """MaxPool/AveragePool's plan-time checks: kernel_shape present with 1 to 3 values, then the
    window attributes (`check_window_attributes`) against its length."""
    a = kernel.attributes
    if "kernel_shape" not in a:
        kernel.fail("the kernel_shape attribute is required")
    nd = len(a["kernel_shape"])
    if not 1 <= nd <= 3:
        kernel.fail(f"kernel_shape {a['kernel_shape']} must have 1 to 3 values")
    check_window_attributes(kernel, a.get("auto_pad", "NOTSET"), nd, strides=a.get("strides"),
                            dilations=a.get("dilations"), pads=a.get("pads"), kernel_shape=a["kernel_shape"])


def pool_geometry(kernel, x, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode) -> Geometry:
    """MaxPool/AveragePool's run-time geometry: the rank checked against kernel_shape, then
    `window_geometry` for x's spatial shape, cached on the kernel per shape."""
    if x.ndim != len(kernel_shape) + 2:
        kernel.fail(f"X has shape {x.shape} but kernel_shape {list(kernel_shape)} needs rank "
                    f"{len(kernel_shape) + 2}")
    cache = kernel.__dict__.setdefault("_pool_geometry", {})
    geometry = cache.get(x.shape[2:])
    if geometry is None:
        geometry = cache[x.shape[2:]] = window_geometry(kernel, x.shape[2:], kernel_shape, strides,
                                                        dilations, pads, auto_pad, ceil_mode)
    return geometry


def window_geometry(kernel, in_shape, kernel_shape, strides=None, dilations=None, pads=None,
                    auto_pad: str = "NOTSET", ceil_mode: int = 0) -> Geometry:
    """Output spatial shape and begin/end pads of a sliding window (Conv and pooling rules).

    `kernel` is the OpRun, used only to report errors. Follows the operator docs: SAME_* pads so
    that out = ceil(in / stride) (the extra pad at the end for UPPER, at the beginning for LOWER);
    VALID uses no pads; ceil_mode rounds up but drops a last window that would start in the right
    padding.
    """
    nd = len(in_shape)
    k = tuple(int(v) for v in kernel_shape)
    s = tuple(int(v) for v in strides) if strides else (1,) * nd
    d = tuple(int(v) for v in dilations) if dilations else (1,) * nd
    for name, value in (("kernel_shape", k), ("strides", s), ("dilations", d)):
        if len(value) != nd:
            kernel.fail(f"{name} {list(value)} has {len(value)} values but the input has {nd} "
                        f"spatial axes (shape {tuple(in_shape)})")
    begin, end, out = [], [], []
    for i in range(nd):
        size, extent = int(in_shape[i]), (k[i] - 1) * d[i] + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-size // s[i])
            total = max(0, (o - 1) * s[i] + extent - size)
            small, large = total // 2, total - total // 2
            b, e = (small, large) if auto_pad == "SAME_UPPER" else (large, small)
        elif auto_pad == "VALID":
            b = e = 0
            o = _out_size(size, extent, s[i], ceil_mode)
        else:
            p = [int(v) for v in pads] if pads else [0] * (2 * nd)
            if len(p) != 2 * nd:
                kernel.fail(f"pads {p} has {len(p)} values, expected {2 * nd} for {nd} spatial axes")
            b, e = p[i], p[nd + i]
            o = _out_size(size + b + e, extent, s[i], ceil_mode)
            if ceil_mode and o > 0 and (o - 1) * s[i] >= size + b:
                o -= 1  # the last window would start in the right padding: drop it
        if o < 1:
            kernel.fail(f"input spatial shape {tuple(in_shape)} is too small for kernel_shape {list(k)} "
                        f"with dilations {list(d)}, strides {list(s)} and pads {[*begin, b]}...: "
                        f"output axis {i} would have size {o}")
        begin.append(b)
        end.append(e)
        out.append(o)
    return Geometry(k, s, d, tuple(begin), tuple(end), tuple(out))


def _out_size(padded: int, extent: int, stride: int, ceil_mode: int) -> int:
    span = padded - extent
    if span < 0:
        return 0
    return (-(-span // stride) if ceil_mode else span // stride) + 1


def transpose_geometry(kernel, in_shape, kernel_shape, strides=None, dilations=None, pads=None,
                       auto_pad: str = "NOTSET", output_padding=None, output_shape=None) -> Geometry:
    """ConvTranspose: output spatial shape and the pads cropped from the full ("col2im") output.

    Geometry.out is the output size; pads_begin is the offset of output index 0 inside the full
    scatter of size stride*(in-1) + extent; pads_end is informational.
    """
    nd = len(in_shape)
    k = tuple(int(v) for v in kernel_shape)
    s = tuple(int(v) for v in strides) if strides else (1,) * nd
    d = tuple(int(v) for v in dilations) if dilations else (1,) * nd
    op = tuple(int(v) for v in output_padding) if output_padding else (0,) * nd
    for name, value in (("kernel_shape", k), ("strides", s), ("dilations", d), ("output_padding", op)):
        if len(value) != nd:
            kernel.fail(f"{name} {list(value)} has {len(value)} values but the input has {nd} "
                        f"spatial axes (shape {tuple(in_shape)})")
    if output_shape:
        wanted = [int(v) for v in output_shape][-nd:]
        if len(wanted) != nd:
            kernel.fail(f"output_shape {list(output_shape)} does not give {nd} spatial sizes")
    begin, end, out = [], [], []
    for i in range(nd):
        size, extent = int(in_shape[i]), (k[i] - 1) * d[i] + 1
        full = s[i] * (size - 1) + op[i] + extent
        if output_shape or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            target = wanted[i] if output_shape else size * s[i]
            total = full - target
            small, large = total // 2, total - total // 2
            b, e = (small, large) if auto_pad == "SAME_UPPER" else (large, small)
            o = target
        elif auto_pad == "VALID":
            b = e = 0
            o = full
        else:
            p = [int(v) for v in pads] if pads else [0] * (2 * nd)
            if len(p) != 2 * nd:
                kernel.fail(f"pads {p} has {len(p)} values, expected {2 * nd} for {nd} spatial axes")
            b, e = p[i], p[nd + i]
            o = full - b - e
        if o < 1:
            kernel.fail(f"output spatial axis {i} would have size {o} (input {tuple(in_shape)}, "
                        f"kernel_shape {list(k)}, strides {list(s)}, pads {b},{e})")
        begin.append(b)
        end.append(e)
        out.append(o)
    return Geometry(k, s, d, tuple(begin), tuple(end), tuple(out))


def to_3d_shape(shape) -> tuple[int, ...]:
    """(N, C, *spatial) with 1..3 spatial axes -> (N, C, D, H, W)."""
    shape = tuple(int(v) for v in shape)
    return shape[:2] + (1,) * (5 - len(shape)) + shape[2:]


def padded_input(x5, g3, fill):
    """x5 (N, C, D, H, W) with g3's pads applied (value `fill`), extended at the end so that every
    window of g3 (ceil_mode ones included) lies inside. Returns x5 itself when nothing is needed."""
    shape = x5.shape[:2]
    slices = [slice(None), slice(None)]
    grow = False
    for size, k, s, d, b, e, o in zip(x5.shape[2:], g3.kernel, g3.strides, g3.dilations, g3.pads_begin,
                                      g3.pads_end, g3.out):
        total = max(size + b + e, (o - 1) * s + (k - 1) * d + 1 + max(0, -b))
        shape += (total,)
        slices.append(slice(b, b + size))
        grow = grow or b or total != size
    if not grow:
        return x5
    out = np.full(shape, fill, dtype=x5.dtype)
    out[tuple(slices)] = x5
    return out


def window_views(xp, g3):
    """For each kernel offset (a, b, e): the strided view of padded input xp that offset reads,
    shaped (N, C, od, oh, ow)."""
    (kd, kh, kw), (sd, sh, sw), (dd, dh, dw), (od, oh, ow) = g3.kernel, g3.strides, g3.dilations, g3.out
    for a in range(kd):
        for b in range(kh):
            for e in range(kw):
                yield (a, b, e), xp[:, :, a * dd: a * dd + (od - 1) * sd + 1: sd,
                                    b * dh: b * dh + (oh - 1) * sh + 1: sh,
                                    e * dw: e * dw + (ow - 1) * sw + 1: sw]
