"""FeatureVectorizer (ai.onnx.ml 1): the inputs side by side, Y = (N, sum(inputdimensions)) float32.
Input k fills inputdimensions[k] columns with its values per row (axes after the first flattened, a
1-D input is one row), cut when it has more and padded with 0 when it has fewer, as onnxruntime does.
All inputs must have the same number of rows."""
import numpy as np

from refruntime.ops._common import check_alloc
from refruntime.ops.base import OpRun


class FeatureVectorizer(OpRun):
    def _run(self, *inputs, inputdimensions=None):
        sizes = list(inputdimensions or [])
        if len(sizes) != len(inputs):
            self.fail(f"there are {len(inputs)} inputs and 'inputdimensions' has {len(sizes)} values")
        if any(s < 0 for s in sizes):
            self.fail(f"'inputdimensions' {sizes} has a negative size")
        tables = [x.reshape(1, -1) if x.ndim <= 1 else x.reshape(x.shape[0], -1) for x in inputs]
        n = tables[0].shape[0] if tables else 0
        if any(t.shape[0] != n for t in tables):
            self.fail(f"the inputs have different numbers of rows: {[t.shape[0] for t in tables]}")
        check_alloc(self, (n, sum(sizes)), np.float32)
        y = np.zeros((n, sum(sizes)), dtype=np.float32)
        column = 0
        for table, size in zip(tables, sizes):
            width = min(size, table.shape[1])
            y[:, column:column + width] = table[:, :width]
            column += size
        return (y,)
