"""Elementwise arithmetic on the known elements of small integer tensors (shape_rules.py): a
dimension (an int or a symbolic sym_dims expression), a bool, or None when unknown. Each function
answers None where it cannot be sure (a symbolic divisor, a comparison of unrelated symbols).
"""
from __future__ import annotations

from graphkit.passes import sym_dims as sd


def _known(*xs) -> bool:
    return all(x is not None for x in xs)


def _d_add(a, b):
    return sd.add(a, b) if _known(a, b) else None


def _d_sub(a, b):
    return sd.sub(a, b) if _known(a, b) else None


def _d_mul(a, b):
    return sd.mul(a, b) if _known(a, b) else None


def _d_div(a, b):
    """Integer Div truncates toward zero; for a dimension (>= 0) over k > 0 that is floor."""
    if not _known(a, b) or isinstance(b, sd.Sym) or isinstance(a, bool) or b == 0:
        return None
    if type(a) is int:
        q = abs(a) // abs(b)
        return q if (a >= 0) == (b > 0) else -q
    return sd.floordiv(a, b) if b > 0 and sd.nonneg(a) else None


def _d_equal(a, b):
    if not _known(a, b):
        return None
    if a == b:
        return True
    if type(a) is int and type(b) is int or isinstance(a, bool) or isinstance(b, bool):
        return a == b
    for x, y in ((a, b), (b, a)):  # a dimension is never negative
        if type(y) is int and y < 0 and sd.nonneg(x):
            return False
    return None


def _d_minmax(pick):
    def fn(a, b):
        if not _known(a, b):
            return None
        if a == b:
            return a
        if type(a) is int and type(b) is int:
            return pick(a, b)
        return None
    return fn


def _d_where(c, a, b):
    if c is None or not isinstance(c, bool):
        return None
    return a if c else b


def _d_bool(fn):
    def op(a, b):
        if isinstance(a, bool) and isinstance(b, bool):
            return fn(a, b)
        return None
    return op


DATA_OPS = {"Add": _d_add, "Sub": _d_sub, "Mul": _d_mul, "Div": _d_div, "Equal": _d_equal,
             "Max": _d_minmax(max), "Min": _d_minmax(min), "Where": _d_where,
             "And": _d_bool(lambda a, b: a and b), "Or": _d_bool(lambda a, b: a or b),
             "Xor": _d_bool(lambda a, b: a != b)}
