"""com.microsoft MatMulNBits (ContribOperators.md, "com.microsoft.MatMulNBits", opset 1): Y = A @ W^T +
bias, where W (N, K) is the weight quantized block-wise along K:

    W[n, k] = (q[n, k] - zero_point[n, g(k)]) * scales[n, g(k)],   g(k) = k // block_size

- B (uint8, (N, k_blocks, blob_size), k_blocks = ceil(K / block_size), blob_size = block_size *
  bits / 8) holds q bit-packed along K within each block: each byte holds 8 / bits values, the
  first in its lowest bits (for 4 bits: low nibble, then high nibble). Values past K in the last
  block are padding.
- scales (N, k_blocks) of A's type (a flat N * k_blocks is accepted too).
- zero_points: absent, 2**(bits - 1); uint8, packed like B along the blocks, shape
  (N, ceil(k_blocks * bits / 8)); or of A's type, unpacked, (N, k_blocks), subtracted as a float.
- g_idx (deprecated in the doc; int32, K values): g(k) = g_idx[k], the block whose scale and
  zero point weight row k uses (act-order checkpoints); q stays in k order.
- bias: N values of A's type. A is (..., K) in float32, float16 or bfloat16; Y is (..., N).
- bits is 2, 4 or 8 (the doc's supported values); block_size a power of two >= 16;
  weight_prepacked must be 0 (the other layouts are CUDA-specific).

The reference dequantizes W exactly (float64: an integer of at most 8 bits minus the zero point,
times a float32/16 scale, is exact), computes the product and bias in float64, and rounds once to
A's type; W is built in column chunks so memory stays bounded for large weights.

accuracy_level (0 unset, 1 fp32, 2 fp16, 3 bf16, 4 int8) is a permission for the runtime to
compute in lower precision; the reference ignores it. onnxruntime 1.32 on CPU (measured in
tests/refruntime/test_contrib_quantized.py, errors relative to sum_k |A||W|): levels 0-3 compute in
float32 (~1e-7); level 4, with B, scales and zero points constant, quantizes A to int8 per block of
K and sums integer products (~1e-3, for 2, 4 and 8 bits), except with float zero points, where it
stays in float32. It refuses 8-bit weights with float zero points, which the reference computes.
With g_idx it reads the block indices as the reference does but ignores packed uint8 zero points
(it dequantizes with the default 2**(bits - 1); float zero points are used): the reference uses
the zero points the model gives.
"""
import numpy as np

from refruntime.ops._quant import scale_error
from refruntime.ops.base import OpRun
from refruntime.ops.com_microsoft._common import INT, check_node

#: dequantize at most this many weights (float64) at a time
CHUNK_ELEMENTS = 1 << 21


class MatMulNBits(OpRun):
    def prepare(self):
        check_node(self, inputs=(3, 6), required_inputs=(0, 1, 2),
                   attributes={"K": INT, "N": INT, "accuracy_level": INT, "bits": INT, "block_size": INT,
                               "weight_prepacked": INT},
                   required_attributes=("K", "N", "block_size"))
        a = self.attributes
        k, n, bits, block = a["K"], a["N"], a.get("bits", 4), a["block_size"]
        if k < 1 or n < 1:
            self.refuse(f"K and N must be positive, got K={k}, N={n}")
        if bits not in (2, 4, 8):
            self.refuse(f"bits must be 2, 4 or 8 (the packings the doc defines), got {bits}")
        if block < 16 or block & (block - 1):
            self.refuse(f"block_size must be a power of two >= 16, got {block}")
        if not 0 <= a.get("accuracy_level", 0) <= 4:
            self.refuse(f"accuracy_level must be 0 to 4, got {a['accuracy_level']}")
        if a.get("weight_prepacked", 0):
            self.refuse(f"weight_prepacked={a['weight_prepacked']}: B is in a CUDA-specific prepacked layout, "
                        "which the reference does not read")
        self.k_blocks = -(-k // block)
        self.blob_size = block * bits // 8
        self.zp_bytes = -(-self.k_blocks * bits // 8)

    def check_constants(self, constants):
        self._check(constants.get(1), constants.get(2), constants.get(3), constants.get(4), constants.get(5),
                    constants.get(0), self.refuse)

    def _check(self, b, scales, zero_points, g_idx, bias, a, report):
        n, k, blocks = self.attributes["N"], self.attributes["K"], self.k_blocks
        if b is not None:
            want = (n, blocks, self.blob_size)
            if b.dtype != np.uint8 or b.size != n * blocks * self.blob_size or (b.ndim == 3 and b.shape != want):
                report(f"must be uint8 of shape {list(want)} (N, k_blocks, blob_size), got {b.dtype} "
                       f"{list(b.shape)}", 1)
        if scales is not None:
            if scales.size != n * blocks or scales.ndim > 2 or (scales.ndim == 2 and scales.shape != (n, blocks)):
                report(f"must have shape [{n}, {blocks}] (N, k_blocks), got {list(scales.shape)}", 2)
            problem = scale_error(scales)
            if problem:
                report(problem, 2)
        if zero_points is not None:
            if zero_points.dtype == np.uint8:
                if zero_points.size != n * self.zp_bytes:
                    report(f"packed uint8 zero points must have shape [{n}, {self.zp_bytes}] (N, ceil(k_blocks * "
                           f"bits / 8)), got {list(zero_points.shape)}", 3)
            elif zero_points.dtype.kind == "f" or zero_points.dtype.name == "bfloat16":
                if zero_points.size != n * blocks:
                    report(f"float zero points must have shape [{n}, {blocks}] (N, k_blocks), got "
                           f"{list(zero_points.shape)}", 3)
                if not np.isfinite(zero_points.astype(np.float64)).all():
                    report("zero points must be finite", 3)
            else:
                report(f"must be uint8 (packed) or of A's float type, got {zero_points.dtype}", 3)
        if g_idx is not None:
            if g_idx.dtype != np.int32 or g_idx.shape != (k,):
                report(f"must be int32 of shape [{k}] (one block index per row of K), got {g_idx.dtype} "
                       f"{list(g_idx.shape)}", 4)
            if g_idx.size and (g_idx.min() < 0 or g_idx.max() >= blocks):
                report(f"block indices must lie in [0, {blocks}), got [{g_idx.min()}, {g_idx.max()}]", 4)
        if bias is not None and bias.shape != (n,):
            report(f"must have shape [{n}] (N), got {list(bias.shape)}", 5)
        if a is not None:
            if a.dtype.kind != "f" and a.dtype.name != "bfloat16":
                report(f"must be float32, float16 or bfloat16, got {a.dtype}", 0)
            for index, other in ((2, scales), (5, bias)):
                if other is not None and other.dtype != a.dtype:
                    report(f"is {other.dtype} but A is {a.dtype}: they have the one type T1", index)

    def _run(self, a, b, scales, zero_points=None, g_idx=None, bias=None, K=None, N=None, accuracy_level=0,
             bits=4, block_size=None, weight_prepacked=0):
        self._check(b, scales, zero_points, g_idx, bias, a, self._fail_at)
        if a.ndim == 0 or a.shape[-1] != K:
            self.fail(f"A has shape {a.shape}: its last axis must be K = {K}")
        q = unpack(b.reshape(N, -1), bits)[:, :K]                                     # (N, K)
        if zero_points is None:
            zp = np.full((N, self.k_blocks), 2.0 ** (bits - 1))
        elif zero_points.dtype == np.uint8:
            zp = unpack(zero_points.reshape(N, -1), bits)[:, :self.k_blocks].astype(np.float64)
        else:
            zp = zero_points.astype(np.float64).reshape(N, self.k_blocks)
        sc = scales.astype(np.float64).reshape(N, self.k_blocks)
        group = g_idx.astype(np.intp) if g_idx is not None else np.arange(K) // block_size
        x = a.astype(np.float64).reshape(-1, K)
        y = np.empty((x.shape[0], N))
        step = max(1, CHUNK_ELEMENTS // K)
        for start in range(0, N, step):
            rows = slice(start, min(N, start + step))
            w = (q[rows] - zp[rows][:, group]) * sc[rows][:, group]                   # (chunk, K), exact
            y[:, rows] = x @ w.T
        if bias is not None:
            y += bias.astype(np.float64)
        return (y.reshape(a.shape[:-1] + (N,)).astype(a.dtype),)

    def _fail_at(self, message, index=None):
        self.fail(message if index is None else f"input {index} {self.node.input[index]!r}: {message}")


def unpack(packed: np.ndarray, bits: int) -> np.ndarray:
    """uint8 (rows, bytes) -> int64 (rows, bytes * 8 // bits): each byte's values, lowest bits first."""
    per_byte = 8 // bits
    shifts = np.arange(per_byte, dtype=np.uint8) * bits
    values = (packed[..., None] >> shifts) & np.uint8((1 << bits) - 1)
    return values.reshape(packed.shape[0], -1).astype(np.int64)
