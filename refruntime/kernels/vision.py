"""numba loops of the detection ops: NonMaxSuppression's greedy selection, RoiAlign's bilinear
sampling and MaxRoiPool's bin maxima. Importing this module imports numba (op files import it
inside `_run`)."""
import math

import numba
import numpy as np


@numba.njit(cache=True)
def _box_corners(boxes, i, center_point_box):
    """(x_min, y_min, x_max, y_max) of box i, in the boxes' own float type."""
    if center_point_box == 0:  # [y1, x1, y2, x2], any diagonal pair of corners
        y1, x1, y2, x2 = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
        return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)
    xc, yc, w, h = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
    half_w = w / 2
    half_h = h / 2
    return xc - half_w, yc - half_h, xc + half_w, yc + half_h


@numba.njit(cache=True)
def _suppresses(boxes, a, b, center_point_box, iou_threshold):
    """True when the IoU of boxes a and b is strictly above iou_threshold. Empty intersections
    and degenerate (zero-area) boxes never suppress."""
    ax0, ay0, ax1, ay1 = _box_corners(boxes, a, center_point_box)
    bx0, by0, bx1, by1 = _box_corners(boxes, b, center_point_box)
    ix0 = max(ax0, bx0)
    ix1 = min(ax1, bx1)
    if ix1 <= ix0:
        return False
    iy0 = max(ay0, by0)
    iy1 = min(ay1, by1)
    if iy1 <= iy0:
        return False
    inter = (ix1 - ix0) * (iy1 - iy0)
    area_a = (ax1 - ax0) * (ay1 - ay0)
    area_b = (bx1 - bx0) * (by1 - by0)
    union = area_a + area_b - inter
    if area_a <= 0 or area_b <= 0 or union <= 0:
        return False
    return inter / union > iou_threshold


@numba.njit(cache=True)
def nms_select(boxes, order, center_point_box, iou_threshold, max_out):
    """Greedy selection over the candidate box indices `order` (best first): a candidate is kept
    unless a box kept before it overlaps it with IoU > iou_threshold; stops at max_out boxes.
    Returns the kept box indices, in selection order."""
    kept = np.empty(min(max_out, order.shape[0]), dtype=np.int64)
    n = 0
    for k in range(order.shape[0]):
        if n >= max_out:
            break
        cand = order[k]
        keep = True
        for j in range(n):
            if _suppresses(boxes, kept[j], cand, center_point_box, iou_threshold):
                keep = False
                break
        if keep:
            kept[n] = cand
            n += 1
    return kept[:n]


@numba.njit(cache=True)
def roi_align(x, rois, batch_indices, out_h, out_w, sampling_ratio, spatial_scale, half_pixel, use_max):
    """RoiAlign over NCHW `x` (see op_roi_align.py for the definition); float math in x's type."""
    num_rois = rois.shape[0]
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    dt = x.dtype.type
    y = np.zeros((num_rois, channels, out_h, out_w), dtype=x.dtype)
    offset = dt(0.5) if half_pixel else dt(0.0)
    scale = dt(spatial_scale)
    for r in range(num_rois):
        b = batch_indices[r]
        start_w = rois[r, 0] * scale - offset
        start_h = rois[r, 1] * scale - offset
        end_w = rois[r, 2] * scale - offset
        end_h = rois[r, 3] * scale - offset
        roi_w = end_w - start_w
        roi_h = end_h - start_h
        if not half_pixel:  # legacy behaviour: rois at least one pixel wide
            roi_w = max(roi_w, dt(1.0))
            roi_h = max(roi_h, dt(1.0))
        bin_h = roi_h / dt(out_h)
        bin_w = roi_w / dt(out_w)
        grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_h / dt(out_h))
        grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_w / dt(out_w))
        grid_h = max(grid_h, 0)
        grid_w = max(grid_w, 0)
        count = dt(max(grid_h * grid_w, 1))
        for ph in range(out_h):
            for pw in range(out_w):
                for c in range(channels):
                    acc = dt(0.0)
                    first = True
                    for iy in range(grid_h):
                        yy = start_h + dt(ph) * bin_h + (dt(iy) + dt(0.5)) * bin_h / dt(grid_h)
                        for ix in range(grid_w):
                            xx = start_w + dt(pw) * bin_w + (dt(ix) + dt(0.5)) * bin_w / dt(grid_w)
                            v = dt(0.0)
                            if not (yy < -1.0 or yy > height or xx < -1.0 or xx > width):
                                sy = max(yy, dt(0.0))
                                sx = max(xx, dt(0.0))
                                y_lo = int(sy)
                                x_lo = int(sx)
                                if y_lo >= height - 1:
                                    y_lo = height - 1
                                    y_hi = y_lo
                                    sy = dt(y_lo)
                                else:
                                    y_hi = y_lo + 1
                                if x_lo >= width - 1:
                                    x_lo = width - 1
                                    x_hi = x_lo
                                    sx = dt(x_lo)
                                else:
                                    x_hi = x_lo + 1
                                ly = sy - dt(y_lo)
                                lx = sx - dt(x_lo)
                                hy = dt(1.0) - ly
                                hx = dt(1.0) - lx
                                t1 = hy * hx * x[b, c, y_lo, x_lo]
                                t2 = hy * lx * x[b, c, y_lo, x_hi]
                                t3 = ly * hx * x[b, c, y_hi, x_lo]
                                t4 = ly * lx * x[b, c, y_hi, x_hi]
                                if use_max:
                                    v = max(max(max(t1, t2), t3), t4)
                                else:
                                    v = t1 + t2 + t3 + t4
                            if use_max:
                                acc = v if first else max(acc, v)
                                first = False
                            else:
                                acc += v
                    y[r, c, ph, pw] = acc if use_max else acc / count
    return y


@numba.njit(cache=True)
def max_roi_pool(x, batch_indices, h0, h1, w0, w1):
    """MaxRoiPool: bin (ph, pw) of roi r is rows h0[r, ph]:h1[r, ph], columns w0[r, pw]:w1[r, pw]
    (already clipped to the image) of image batch_indices[r]; an empty bin gives 0, NaN wins."""
    num_rois, out_h, out_w = h0.shape[0], h0.shape[1], w0.shape[1]
    channels = x.shape[1]
    y = np.zeros((num_rois, channels, out_h, out_w), dtype=x.dtype)
    for r in range(num_rois):
        b = batch_indices[r]
        for ph in range(out_h):
            for pw in range(out_w):
                if h1[r, ph] <= h0[r, ph] or w1[r, pw] <= w0[r, pw]:
                    continue
                for c in range(channels):
                    best = x[b, c, h0[r, ph], w0[r, pw]]
                    for h in range(h0[r, ph], h1[r, ph]):
                        for w in range(w0[r, pw], w1[r, pw]):
                            v = x[b, c, h, w]
                            if v > best or np.isnan(v):
                                best = v
                    y[r, c, ph, pw] = best
    return y
