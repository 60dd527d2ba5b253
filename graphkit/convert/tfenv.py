"""TensorFlow, imported on demand and kept quiet.

Only `graphkit convert` and the `tf`/`tflite` runtimes of verify import TensorFlow, and only here:
`graphkit --help`, `graphkit run` and every other command never load it (1.3 GB on disk, ~3 s).
TensorFlow's C++ side logs straight to the process's stderr (oneDNN notices, the TFLite
converter's MLIR warnings); `quiet_native()` points file descriptors 1 and 2 at a temporary file
for the duration of a conversion, so a command keeps its one-line promise on errors. With
GRAPHKIT_VERBOSE set (the CLI's `--verbose`) nothing is hidden.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile

from graphkit.errors import GraphkitError

INSTALL_HINT = ("pip install tensorflow-cpu (`make test` / `make demo` install it into the project's .venv; "
                "docs/convert.md)")


class ConversionError(GraphkitError):
    """An ONNX model cannot be converted to TensorFlow / TFLite (the node is named)."""


class TensorFlowMissing(ConversionError):
    """TensorFlow is not installed in this environment."""


def _verbose() -> bool:
    return bool(os.environ.get("GRAPHKIT_VERBOSE"))


def tensorflow():
    """The `tensorflow` module, imported quietly once; TensorFlowMissing when it is not installed."""
    if sys.modules.get("tensorflow") is not None:
        return sys.modules["tensorflow"]
    if not _verbose():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ INFO/WARNING lines
        os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    try:
        with quiet_native():
            import tensorflow as tf
    except ImportError as exc:
        raise TensorFlowMissing(f"TensorFlow is not installed ({exc}); {INSTALL_HINT}") from None
    if not _verbose():
        tf.get_logger().setLevel("ERROR")
        tf.autograph.set_verbosity(0)
    return tf


def available() -> bool:
    """True when TensorFlow can be imported (without importing it)."""
    import importlib.util

    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"] is not None
    return importlib.util.find_spec("tensorflow") is not None


@contextlib.contextmanager
def quiet_native():
    """Hide what native code writes to stdout/stderr (file descriptors 1 and 2) inside the block,
    unless GRAPHKIT_VERBOSE is set (Python's own writes in the block are hidden too: print nothing there)."""
    if _verbose():
        yield
        return
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:  # no real file descriptors (an embedding host): nothing to hide
        yield
        return
    with tempfile.TemporaryFile() as sink:
        try:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
