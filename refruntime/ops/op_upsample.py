"""Upsample (deprecated since opset 10): nearest (index floor(y / scale)) or linear, asymmetric
coordinates; shares Resize's per-axis machinery."""
from refruntime.ops.op_resize import _ResizeBase


class _UpsampleBase(_ResizeBase):
    coord_default = "asymmetric"

    def prepare(self):
        if self.attributes.get("mode", "nearest") not in ("nearest", "linear"):
            self.fail(f"mode must be 'nearest' or 'linear', got {self.attributes.get('mode')!r}")
        super().prepare()
        self.nearest_mode = "floor"


class Upsample_7(_UpsampleBase):
    def _run(self, x, mode="nearest", scales=None):
        return self._resize(x, None, scales, None)


class Upsample_9(_UpsampleBase):
    def _run(self, x, scales, mode="nearest"):
        return self._resize(x, None, scales, None)
