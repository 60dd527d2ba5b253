"""refruntime: a readable reference interpreter for ONNX, with numba kernels for the hot ops.

`import refruntime` is light: numba is imported only when a kernel that needs it first runs.
"""
from refruntime.errors import (
    FeedError,
    KernelError,
    LimitError,
    ModelError,
    NonFiniteError,
    RefRuntimeError,
    StopRun,
    UnsupportedOpError,
)
from refruntime.session import Session

__all__ = [
    "FeedError",
    "KernelError",
    "LimitError",
    "ModelError",
    "NonFiniteError",
    "RefRuntimeError",
    "Session",
    "StopRun",
    "UnsupportedOpError",
]
