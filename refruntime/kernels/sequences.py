"""Helpers shared by the sequence ops (plain Python, no numba: op files import it at top).

A sequence is a Python list of numpy arrays. Kernels never change an input list: those that
change a sequence (SequenceInsert, SequenceErase) return a new list.
"""
from __future__ import annotations

import numpy as np


def check_sequence(kernel, value, what: str = "input_sequence") -> list:
    """`value` as a sequence (a list), or fail naming the node."""
    if not isinstance(value, list):
        kernel.fail(f"{what} must be a sequence (list), got {type(value).__name__}")
    return value


def position(kernel, value, length: int, allow_end: bool) -> int:
    """A 0-D (or one-element 1-D) int32/int64 `position` tensor as an index in [0, length)
    (or [0, length] with `allow_end`, an insertion point); negative values count from the back."""
    value = np.asarray(value)
    if value.size != 1 or value.ndim > 1 or value.dtype.kind not in "iu":
        kernel.fail(f"position must be a 0-D integer tensor, got {value.dtype} of shape {value.shape}")
    pos = int(value.reshape(()))
    high = length if allow_end else length - 1
    if not -length <= pos <= high:
        kernel.fail(f"position {pos} is out of range [{-length}, {high}] for a sequence of length {length}")
    return pos + length if pos < 0 else pos
