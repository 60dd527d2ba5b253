"""refruntime's error types. Every error a user can cause derives from RefRuntimeError."""
from __future__ import annotations


class RefRuntimeError(Exception):
    """Base class of every error refruntime raises on purpose."""


class ModelError(RefRuntimeError, ValueError):
    """The model itself is malformed or cannot be planned (cycle, dangling input, ...)."""


class FeedError(RefRuntimeError, ValueError):
    """A feed does not match the model's inputs (name, dtype, rank or static dimension)."""


class UnsupportedOpError(RefRuntimeError, NotImplementedError):
    """No native kernel and no onnx.reference implementation exists for a node."""


class KernelError(RefRuntimeError, ValueError):
    """A node failed while running: names the node, its op and the offending shapes."""

    def __init__(self, message: str, node_name: str = "", op_type: str = ""):
        super().__init__(message)
        self.node_name = node_name
        self.op_type = op_type


class NonFiniteError(KernelError):
    """check_finite=True found the first node that turned finite inputs into NaN/Inf."""


class LimitError(RefRuntimeError, MemoryError):
    """A tensor or loop would exceed a configured limit (bytes, elements, trip count)."""


class StopRun(Exception):
    """Raised by a hook (or returned as True) to stop a run early; not an error."""
