"""Reading and writing models: `load` (lazy, memory-mapped external data) and `save` (atomic).

from_proto.py / to_proto.py convert between protos and the IR; external_data.py resolves and
writes external tensor data safely.
"""
from graphkit.io.load import load
from graphkit.io.save import save

__all__ = ["load", "save"]
