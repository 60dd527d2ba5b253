"""Graph surgery: find, insert, remove, replace, rename, outputs, input shapes, extract.

All functions take a graphkit Model and mutate it in place (except `extract`, which returns a new
Model). Values and nodes can be given as objects or by name. See edit.py, shapes.py (input shapes,
symbolic batch) and subgraph.py (extract).
"""
from graphkit.surgery.edit import (
    add_output,
    find,
    insert_node,
    remove_node,
    remove_output,
    rename_node,
    rename_value,
    replace_nodes,
)
from graphkit.surgery.shapes import make_batch_symbolic, refresh_shapes, set_input_shape
from graphkit.surgery.subgraph import extract

__all__ = [
    "add_output",
    "extract",
    "find",
    "insert_node",
    "make_batch_symbolic",
    "refresh_shapes",
    "remove_node",
    "remove_output",
    "rename_node",
    "rename_value",
    "replace_nodes",
    "set_input_shape",
]
