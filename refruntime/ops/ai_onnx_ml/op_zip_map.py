"""ZipMap (ai.onnx.ml 1): each row of X (N, C) becomes a map {label_c: X[n, c]}; the output is the
sequence of those maps, a list of N dicts as onnxruntime returns it (keys: Python int or str,
values: Python floats holding the float32 values). A 1-D X is one row."""
from refruntime.ops.ai_onnx_ml import _common
from refruntime.ops.base import OpRun


class ZipMap(OpRun):
    def prepare(self):
        a = self.attributes
        labels = _common.class_labels(self, "classlabels_int64s", a.get("classlabels_int64s"),
                                      "classlabels_strings", a.get("classlabels_strings"))
        self.keys = labels.tolist()

    def _run(self, x, classlabels_int64s=None, classlabels_strings=None):
        if x.ndim not in (1, 2):
            self.fail(f"input X must be 1-D or 2-D, got shape {tuple(x.shape)}")
        table = x.reshape(1, -1) if x.ndim == 1 else x
        if table.shape[1] != len(self.keys):
            self.fail(f"input X has {table.shape[1]} columns; there are {len(self.keys)} class labels")
        keys = self.keys
        return ([dict(zip(keys, row)) for row in table.tolist()],)
