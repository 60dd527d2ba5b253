"""Output-size guards for the ops whose kernels do not check `max_tensor_bytes` themselves.

Broadcasting ops (Add of [N,1] and [1,N] is N*N) and Einsum (outer products) are guarded here too.

Ops that can build a huge tensor from small inputs call `ops._common.check_alloc` in their own
kernel (ConstantOfShape, Expand, Tile, Range, OneHot, Pad, Resize, Upsample). The convolution,
pooling and matrix-product kernels (Conv, ConvTranspose, MaxPool, AveragePool, LpPool, MatMul,
Gemm) are guarded here instead: before the kernel runs, the executor computes their output shape
from the input shapes and the node's attributes (an upper bound, by the spec's formulas) and
raises LimitError if it is above the limit. A guard that cannot compute a shape stays silent and
lets the kernel report the problem.

Any other allocation failure inside a kernel (MemoryError) is turned into a LimitError by the
executor, so no op can take the process down with an impossible allocation.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from onnx import NodeProto, helper

Guard = Callable[[Sequence], None]


def make_guard(node: NodeProto, options, label: str) -> Guard | None:
    """A function `guard(inputs)` raising LimitError for this node, or None if it needs none."""
    limit = getattr(options, "max_tensor_bytes", None)
    shape_of = _SHAPES.get(node.op_type) if node.domain in ("", "ai.onnx") else None
    if limit is None or shape_of is None:
        return None
    attrs = {}
    for a in node.attribute:
        try:
            attrs[a.name] = helper.get_attribute_value(a)
        except Exception:  # noqa: BLE001 - the schema check reports malformed attributes
            return None

    def guard(inputs: Sequence) -> None:
        shapes = [tuple(x.shape) if isinstance(x, np.ndarray) else None for x in inputs]
        try:
            shape = shape_of(shapes, attrs)
        except Exception:  # noqa: BLE001 - let the kernel report shapes it cannot handle
            return
        if shape is None:
            return
        if node.op_type in _BOOL_RESULT:
            itemsize = 1
        else:
            itemsize = max((x.dtype.itemsize for x in inputs if isinstance(x, np.ndarray)), default=4)
        if node.op_type == "MaxPool" and len(node.output) > 1 and node.output[1]:
            itemsize += 8  # the int64 indices output
        nbytes = math.prod(max(int(d), 0) for d in shape) * itemsize
        if nbytes > limit:
            from refruntime.errors import LimitError

            raise LimitError(f"node {label!r} ({node.op_type}): output of shape {tuple(shape)} needs "
                             f"{nbytes} bytes, above max_tensor_bytes={limit}")

    return guard


def _spatial(shapes, attrs, kernel: Sequence[int], transpose: bool = False) -> list[int] | None:
    x = shapes[0]
    n = len(x) - 2
    if n < 1 or len(kernel) != n:
        return None
    strides = list(attrs.get("strides") or [1] * n)
    dilations = list(attrs.get("dilations") or [1] * n)
    pads = list(attrs.get("pads") or [0] * (2 * n))
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
    out = []
    for i in range(n):
        d, k, s, dil = x[2 + i], kernel[i], max(int(strides[i]), 1), int(dilations[i])
        if transpose:
            if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
                out.append(d * s)
            else:
                opad = list(attrs.get("output_padding") or [0] * n)
                out.append(s * (d - 1) + int(opad[i]) + (k - 1) * dil + 1 - pads[i] - pads[i + n])
        elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out.append(-(-d // s))
        elif auto_pad == "VALID":
            out.append((d - (k - 1) * dil - 1) // s + 1)
        else:  # ceil: an upper bound for ceil_mode pools too
            out.append(-(-(d + pads[i] + pads[i + n] - (k - 1) * dil - 1) // s) + 1)
    return out


def _conv(shapes, attrs):
    x, w = shapes[0], shapes[1]
    kernel = list(attrs.get("kernel_shape") or w[2:])
    spatial = _spatial(shapes, attrs, kernel)
    return None if spatial is None else [x[0], w[0], *spatial]


def _conv_transpose(shapes, attrs):
    x, w = shapes[0], shapes[1]
    channels = w[1] * int(attrs.get("group", 1))
    if attrs.get("output_shape"):
        return [x[0], channels, *attrs["output_shape"][-(len(x) - 2):]]
    kernel = list(attrs.get("kernel_shape") or w[2:])
    spatial = _spatial(shapes, attrs, kernel, transpose=True)
    return None if spatial is None else [x[0], channels, *spatial]


def _pool(shapes, attrs):
    x = shapes[0]
    kernel = attrs.get("kernel_shape")
    if not kernel:
        return None
    spatial = _spatial(shapes, attrs, list(kernel))
    return None if spatial is None else [x[0], x[1], *spatial]


def _matmul(shapes, attrs):
    a, b = shapes[0], shapes[1]
    if not a or not b:
        return None
    rows = [a[-2]] if len(a) >= 2 else []
    cols = [b[-1]] if len(b) >= 2 else []
    batch = np.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2]))
    return [*batch, *rows, *cols]


def _gemm(shapes, attrs):
    a, b = shapes[0], shapes[1]
    if len(a) != 2 or len(b) != 2:
        return None
    rows = a[1] if attrs.get("transA", 0) else a[0]
    cols = b[0] if attrs.get("transB", 0) else b[1]
    return [rows, cols]


def _broadcast(shapes, attrs):
    shapes = [s for s in shapes if s is not None]
    if len(shapes) < 2 or all(s == shapes[0] for s in shapes):
        return None  # nothing grows
    return list(np.broadcast_shapes(*shapes))


def _einsum(shapes, attrs):
    equation = attrs.get("equation", b"")
    equation = (equation.decode() if isinstance(equation, bytes) else str(equation)).replace(" ", "")
    if "->" not in equation or "." in equation:
        return None
    lhs, rhs = equation.split("->")
    sizes: dict[str, int] = {}
    for term, shape in zip(lhs.split(","), shapes):
        if shape is None or len(term) != len(shape):
            return None
        for letter, d in zip(term, shape):
            sizes[letter] = max(sizes.get(letter, 1), d)
    return [sizes.get(letter, 1) for letter in rhs]


_BROADCASTING = ("Add", "Sub", "Mul", "Div", "Pow", "Mod", "Equal", "Less", "LessOrEqual", "Greater",
                 "GreaterOrEqual", "And", "Or", "Xor", "BitShift", "BitwiseAnd", "BitwiseOr",
                 "BitwiseXor", "Where", "Sum", "Mean", "Max", "Min")
_BOOL_RESULT = frozenset({"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor"})

_SHAPES = {
    **dict.fromkeys(_BROADCASTING, _broadcast),
    "Einsum": _einsum,
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "LpPool": _pool,
    "MatMul": _matmul,
    "Gemm": _gemm,
}
