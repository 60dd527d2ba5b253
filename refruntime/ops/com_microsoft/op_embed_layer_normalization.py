"""com.microsoft EmbedLayerNormalization (onnxruntime docs/ContribOperators.md,
"com.microsoft.EmbedLayerNormalization", version 1): BERT's embedding layer.

    sum = word_embedding[input_ids] + position_embedding[position_ids]
          (+ segment_embedding[segment_ids])                          (B, S, D)
    output = LayerNorm(sum) * gamma + beta     over D, epsilon (default 1e-12)
    mask_index[b] = the number of entries of mask[b] equal to 1 (int32, (B,)); 0 without a mask
    embedding_sum = sum (optional third output)

input_ids, segment_ids, mask are int32 (B, S); position_ids is int32 (B, S) or (1, S) (broadcast),
and 0, 1, ..., S - 1 when absent. segment_ids and segment_embedding go together. An id outside its
table's rows is a KernelError (onnxruntime fails too). The mask_index counts ones wherever they
are, which is the "position of the first 0" the doc names only for right-padded masks;
mask_index_type is a shape-inference hint and changes nothing here.

Precision: the sum and the normalization in float64, each output rounded once (_norm.py);
onnxruntime sums in the embeddings' type and normalizes with mean(x^2) - mean^2.
"""
import numpy as np

from refruntime.ops.base import OpRun
from refruntime.ops.com_microsoft._common import FLOAT, INT, check_node
from refruntime.ops.com_microsoft._norm import check_vector, float64, layer_norm_rows


class EmbedLayerNormalization(OpRun):
    def prepare(self):
        check_node(self, inputs=(7, 9), outputs=(1, 3), required_inputs=(0, 2, 3, 5, 6),
                   attributes={"epsilon": FLOAT, "mask_index_type": INT})
        given = [i < len(self.node.input) and bool(self.node.input[i]) for i in range(9)]
        if given[1] != given[4]:
            self.refuse("segment_ids and segment_embedding go together")
        if not self.attributes.get("epsilon", 1e-12) >= 0:
            self.refuse(f"epsilon must be >= 0, got {self.attributes['epsilon']}")

    def check_constants(self, constants):
        tables = [constants.get(i) for i in (2, 3, 4)]
        widths = {t.shape[1] for t in tables if t is not None and t.ndim == 2}
        for index, table in zip((2, 3, 4), tables):
            if table is not None and table.ndim != 2:
                self.refuse(f"an embedding table must be 2-D (rows, hidden), got shape {list(table.shape)}", index)
        if len(widths) > 1:
            self.refuse(f"the embedding tables have different widths {sorted(widths)}")

    def _run(self, input_ids, segment_ids, word_embedding, position_embedding, segment_embedding, gamma, beta,
             mask=None, position_ids=None, epsilon=1e-12, mask_index_type=1):
        if input_ids.ndim != 2:
            self.fail(f"input_ids must be 2-D (batch, sequence), got shape {list(input_ids.shape)}")
        batch, seq = input_ids.shape
        if word_embedding.ndim != 2:
            self.fail(f"word_embedding must be 2-D (vocabulary, hidden), got shape {list(word_embedding.shape)}")
        hidden = word_embedding.shape[1]
        dtype = word_embedding.dtype
        for name, table in (("position_embedding", position_embedding), ("segment_embedding", segment_embedding)):
            if table is not None and (table.ndim != 2 or table.shape[1] != hidden or table.dtype != dtype):
                self.fail(f"{name} must be 2-D ({hidden} columns, {dtype}) like word_embedding, got "
                          f"{table.dtype} {list(table.shape)}")
        check_vector(self, "gamma", gamma, hidden, dtype)
        check_vector(self, "beta", beta, hidden, dtype)
        if position_ids is None:
            position_ids = np.arange(seq)[None, :]
        elif position_ids.shape not in ((batch, seq), (1, seq)):
            self.fail(f"position_ids must have shape ({batch}, {seq}) or (1, {seq}), got {list(position_ids.shape)}")
        total = self._lookup("input_ids", input_ids, word_embedding, (batch, seq))
        total = total + self._lookup("position_ids", position_ids, position_embedding, position_ids.shape)
        if segment_ids is not None:
            total = total + self._lookup("segment_ids", segment_ids, segment_embedding, (batch, seq))
        y, _, _ = layer_norm_rows(total, epsilon)
        y = y * float64(gamma) + float64(beta)
        outputs = [y.astype(dtype)]
        if self.num_outputs > 1:
            if mask is None:
                index = np.zeros(batch, np.int32)
            else:
                if mask.shape != (batch, seq):
                    self.fail(f"mask must have shape ({batch}, {seq}), got {list(mask.shape)}")
                index = (mask == 1).sum(axis=1).astype(np.int32)
            outputs.append(index)
        if self.num_outputs > 2:
            outputs.append(total.astype(dtype))
        return tuple(outputs)

    def _lookup(self, name, ids, table, shape):
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu" or ids.shape != tuple(shape):
            self.fail(f"{name} must be int32 of shape {list(shape)}, got {ids.dtype} {list(ids.shape)}")
        rows = table.shape[0]
        if ids.size and (ids.min() < 0 or ids.max() >= rows):
            self.fail(f"{name} range over [{ids.min()}, {ids.max()}] but the table has {rows} rows")
        return table[ids].astype(np.float64)  # rows first: a vocabulary table is never copied whole
