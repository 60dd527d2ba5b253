"""graphkit's error types. Every error a user can cause derives from GraphkitError."""
from __future__ import annotations


class GraphkitError(Exception):
    """Base class of every error graphkit raises on purpose."""


class LoadError(GraphkitError, ValueError):
    """A file or proto cannot be read as an ONNX model (or its external data is unsafe/missing)."""


class SaveError(GraphkitError, OSError):
    """A model cannot be written (the destination is left untouched)."""


class GraphError(GraphkitError, ValueError):
    """The graph is malformed, or a surgery/pass request does not fit it."""


class VerificationError(GraphkitError):
    """Outputs before and after a transformation differ beyond tolerance."""


class UsageError(GraphkitError, ValueError):
    """A command-line or API argument is invalid."""
