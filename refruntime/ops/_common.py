"""Small helpers shared by the numpy kernels (not an op module: the registry skips `_` files)."""
from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Sequence
from contextlib import nullcontext

import numpy as np

_RUN = threading.local()
_NOTHING = nullcontext()


def fp_ignored(**kinds):
    """np.errstate(**kinds) (default: all="ignore") for a kernel's float arithmetic, or nothing
    inside `quiet_run`, which already ignores every floating-point error: entering an errstate
    costs ~3 us, three times a small ufunc call."""
    if getattr(_RUN, "quiet", False):
        return _NOTHING
    return np.errstate(**(kinds or {"all": "ignore"}))


class quiet_run:
    """Context of a whole run (refruntime/executor.py): floating-point errors ignored once, so
    that kernels' `fp_ignored` cost nothing. Re-entrant (subgraphs), per thread."""

    def __enter__(self):
        self._was = getattr(_RUN, "quiet", False)
        self._errstate = np.errstate(all="ignore")
        self._errstate.__enter__()
        _RUN.quiet = True
        return self

    def __exit__(self, *exc):
        _RUN.quiet = self._was
        return self._errstate.__exit__(*exc)


def check_alloc(kernel, shape: Sequence[int], dtype) -> None:
    """Raise LimitError (naming the node and shape) when a tensor of `shape` would exceed
    the session's `max_tensor_bytes`; negative dims are a KernelError."""
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        kernel.fail(f"requested output shape {shape} has a negative dimension")
    options = kernel.options
    limit = getattr(options, "max_tensor_bytes", None)
    if limit is None:
        return
    count = 1
    for d in shape:
        count *= d
    nbytes = count * np.dtype(dtype).itemsize
    if nbytes > limit:
        from refruntime.errors import LimitError

        name = kernel.node.name or (kernel.node.output[0] if kernel.node.output else "?")
        raise LimitError(
            f"node {name!r} ({kernel.node.op_type}): output of shape {shape} and dtype "
            f"{np.dtype(dtype)} needs {nbytes} bytes, above max_tensor_bytes={limit}"
        )


def normalize_axis(kernel, axis: int, rank: int, what: str = "axis") -> int:
    """Map a possibly negative axis into [0, rank), or fail naming the node."""
    axis = int(axis)
    if not -rank <= axis < rank:
        kernel.fail(f"{what} {axis} is out of range for a tensor of rank {rank}")
    return axis + rank if axis < 0 else axis


def normalize_axes(kernel, axes: Iterable[int], rank: int, what: str = "axes") -> tuple[int, ...]:
    out = tuple(normalize_axis(kernel, a, rank, what) for a in axes)
    if len(set(out)) != len(out):
        kernel.fail(f"{what} {list(axes)} repeat an axis")
    return out


_INTS: dict[int, tuple] = {}  # id(read-only array) -> (weak reference to it, its ints)


def ints(value) -> list[int]:
    """A 1-D int list from an attribute list or a tensor input (None stays None).

    Shape-like inputs are constants in almost every model (Reshape targets, Slice starts, axes):
    initializers and compile-time values are read-only arrays (plan.load_initializers), which no
    one can change, so their parse is remembered (keyed by identity, checked through a weak
    reference so a freed array's reused id never matches). A fresh list is returned each time."""
    if value is None:
        return None
    if type(value) is np.ndarray and not value.flags.writeable:
        hit = _INTS.get(id(value))
        if hit is not None and hit[0]() is value:
            return list(hit[1])
        parsed = _parse_ints(value)
        if len(_INTS) > 4096:
            _INTS.clear()
        _INTS[id(value)] = (weakref.ref(value), parsed)
        return list(parsed)
    return _parse_ints(np.asarray(value))


def _parse_ints(array: np.ndarray) -> list[int]:
    values = array.reshape(-1).tolist()  # Python ints at C speed (no numpy scalars)
    return values if array.dtype.kind in "iu" else [int(v) for v in values]


def same_dtype(result, like: np.ndarray) -> np.ndarray:
    """Result as an ndarray of `like`'s dtype (numpy scalars and promotions undone)."""
    result = np.asarray(result)
    if result.dtype != like.dtype:
        result = result.astype(like.dtype)
    return result
