"""NonMaxSuppression (opsets 10 and 11, same semantics; 11 only rewords the spec).

For every batch b and class c, the boxes boxes[b] are visited in decreasing scores[b, c] order;
a box is selected unless a box selected before it (same batch and class) has an IoU with it
strictly greater than iou_threshold, until max_output_boxes_per_class boxes are selected. The
output lists [b, c, box] rows ordered by batch, then class, then selection order.

Details the spec leaves open, taken from onnxruntime's CPU kernel (and checked against it):
- score_threshold keeps boxes whose score is strictly greater than it (the spec's "boxes with
  score less than score_threshold are removed" leaves equality open; onnxruntime drops a score
  equal to the threshold). Without score_threshold no box is dropped. NaN scores are dropped
  when a threshold is given; without one they are visited last (onnxruntime's order for them is
  an artefact of its heap: measured [1, 0, 2] for scores [NaN, 0.7, 0.3] where this gives
  [1, 2, 0]).
- equal scores are visited lowest box index first (so, of two identical boxes with equal
  scores, the lower index is kept).
- max_output_boxes_per_class absent or <= 0 selects nothing; iou_threshold absent is 0 and must
  lie in [0, 1].
- center_point_box=0 takes [y1, x1, y2, x2] with any diagonal pair of corners (sorted per
  axis); center_point_box=1 takes [x_center, y_center, width, height], corners = center -/+ half
  the size. IoU is computed in the boxes' float32 type; an empty intersection, or a box of zero
  area, never suppresses.
"""
import numpy as np

from refruntime.ops.base import OpRun


def _scalar(kernel, value, what, default):
    if value is None or value.size == 0:
        return default
    if value.size != 1:
        kernel.fail(f"{what} must be a scalar, got shape {value.shape}")
    return value.reshape(-1)[0]


class NonMaxSuppression_10(OpRun):
    def prepare(self):
        cpb = self.attributes.get("center_point_box", 0)
        if cpb not in (0, 1):
            self.refuse(f"center_point_box must be 0 or 1, got {cpb}")

    def _run(self, boxes, scores, max_output_boxes_per_class=None, iou_threshold=None,
             score_threshold=None, center_point_box=0):
        if boxes.ndim != 3 or boxes.shape[2] != 4:
            self.fail(f"boxes must have shape [num_batches, spatial_dimension, 4], got {boxes.shape}")
        if scores.ndim != 3:
            self.fail(f"scores must have shape [num_batches, num_classes, spatial_dimension], "
                      f"got {scores.shape}")
        if scores.shape[0] != boxes.shape[0] or scores.shape[2] != boxes.shape[1]:
            self.fail(f"scores shape {scores.shape} does not match boxes shape {boxes.shape} "
                      f"(expected [{boxes.shape[0]}, num_classes, {boxes.shape[1]}])")
        max_out = int(_scalar(self, max_output_boxes_per_class, "max_output_boxes_per_class", 0))
        iou = float(_scalar(self, iou_threshold, "iou_threshold", 0.0))
        if not 0.0 <= iou <= 1.0:
            self.fail(f"iou_threshold must be in [0, 1], got {iou}")
        has_threshold = score_threshold is not None and score_threshold.size > 0
        threshold = _scalar(self, score_threshold, "score_threshold", None)
        num_batches, num_classes, _ = scores.shape
        if max_out <= 0 or boxes.shape[1] == 0:
            return (np.zeros((0, 3), dtype=np.int64),)

        from refruntime.kernels.vision import nms_select

        dtype = boxes.dtype if boxes.dtype in (np.float32, np.float64) else np.float32
        iou_t = np.dtype(dtype).type(iou)
        rows = []
        for b in range(num_batches):
            batch_boxes = np.ascontiguousarray(boxes[b], dtype=dtype)
            for c in range(num_classes):
                s = scores[b, c]
                candidates = np.arange(s.shape[0])
                if has_threshold:
                    candidates = candidates[s > threshold]
                # stable sort on the negated scores: best first, ties by lower index
                order = candidates[np.argsort(-s[candidates], kind="stable")].astype(np.int64)
                kept = nms_select(batch_boxes, order, int(center_point_box), iou_t, max_out)
                if kept.size:
                    block = np.empty((kept.size, 3), dtype=np.int64)
                    block[:, 0], block[:, 1], block[:, 2] = b, c, kept
                    rows.append(block)
        if not rows:
            return (np.zeros((0, 3), dtype=np.int64),)
        return (np.concatenate(rows),)
