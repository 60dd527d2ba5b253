"""Col2Im (opset 18): the inverse layout of im2col, as torch.nn.functional.fold (N-D). The
input (N, C * prod(block_shape), L) holds, for every channel c and block offset k (C outer,
offsets in row-major order), one value per block position l (L positions in row-major order over
the grid of blocks). Each value is added to the image at padded position
l_i * strides[i] + k_i * dilations[i] along every spatial axis i; positions falling in the
padding are dropped. Output (N, C, *image_shape).

The number of blocks along axis i is
(image_shape[i] + pads_begin[i] + pads_end[i] - dilations[i] * (block_shape[i] - 1) - 1)
// strides[i] + 1, and L must be their product. Numeric types only: integers sum exactly
(wrapping), float16/bfloat16 sum in float32 and are rounded once.
"""
import numpy as np

from refruntime.kernels.floats import compute_dtype, is_float
from refruntime.ops._common import check_alloc, ints
from refruntime.ops.base import OpRun


class Col2Im_18(OpRun):
    def prepare(self):
        a = self.attributes
        for name in ("strides", "dilations"):
            if name in a and any(v < 1 for v in a[name]):
                self.refuse(f"{name} must be positive, got {a[name]}")
        if "pads" in a and any(v < 0 for v in a["pads"]):
            self.refuse(f"pads must be non-negative, got {a['pads']}")

    def _run(self, x, image_shape, block_shape, dilations=None, pads=None, strides=None):
        image = ints(image_shape)
        block = ints(block_shape)
        nd = len(image)
        if len(block) != nd:
            self.fail(f"block_shape {block} and image_shape {image} have different lengths")
        dilations = [1] * nd if dilations is None else list(dilations)
        strides = [1] * nd if strides is None else list(strides)
        pads = [0] * (2 * nd) if pads is None else list(pads)
        if len(dilations) != nd or len(strides) != nd or len(pads) != 2 * nd:
            self.fail(f"expected {nd} dilations and strides and {2 * nd} pads for a {nd}-D image, got "
                      f"dilations={dilations}, strides={strides}, pads={pads}")
        if any(v < 1 for v in block) or any(v < 0 for v in image):
            self.fail(f"block_shape {block} must be positive and image_shape {image} non-negative")
        if x.ndim != 3:
            self.fail(f"input must be 3-D (N, C * prod(block_shape), L), got shape {x.shape}")
        if x.dtype.kind not in "iufc" and not is_float(x):
            self.fail(f"input type {x.dtype} is not numeric")
        kprod = int(np.prod(block))
        if x.shape[1] % kprod:
            self.fail(f"input dimension 1 ({x.shape[1]}) is not a multiple of prod(block_shape) = {kprod}")
        padded = [image[i] + pads[i] + pads[nd + i] for i in range(nd)]
        counts = [(padded[i] - dilations[i] * (block[i] - 1) - 1) // strides[i] + 1 for i in range(nd)]
        if any(c < 0 for c in counts):
            self.fail(f"the dilated block {block} does not fit the padded image {padded}")
        if int(np.prod(counts)) != x.shape[2]:
            self.fail(f"input has L={x.shape[2]} blocks, expected {int(np.prod(counts))} "
                      f"(a {counts} grid of blocks)")
        n, c = x.shape[0], x.shape[1] // kprod
        check_alloc(self, [n, c, *padded], x.dtype)
        dtype = compute_dtype(x.dtype) if is_float(x) else x.dtype
        cols = x.astype(dtype, copy=False).reshape(n, c, *block, *counts)
        out = np.zeros((n, c, *padded), dtype=dtype)
        for k in np.ndindex(*block) if min(counts) > 0 else ():
            where = tuple(slice(k[i] * dilations[i], k[i] * dilations[i] + (counts[i] - 1) * strides[i] + 1,
                                strides[i]) for i in range(nd))
            out[(slice(None), slice(None), *where)] += cols[(slice(None), slice(None), *k)]
        crop = tuple(slice(pads[i], pads[i] + image[i]) for i in range(nd))
        y = np.ascontiguousarray(out[(slice(None), slice(None), *crop)])
        return (y if y.dtype == x.dtype else y.astype(x.dtype),)
