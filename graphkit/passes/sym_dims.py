"""Symbolic dimensions for the shape passes: a dim is an int or a `Sym`, a polynomial with integer
coefficients over named dimensions ("batch", "sequence", or a fresh name for a dim nobody named).

    b, s = atom("batch"), atom("sequence")
    mul(b, s) == parse("batch*sequence")          # True: canonical form
    exact_div(mul(b, s), s) == b                  # a Reshape's -1 with symbolic dims
    floordiv(atom("width"), 2)                    # the atom "(width)//2": equal to itself wherever made

Every atom stands for a dimension, so it is >= 0; `nonneg` uses that (Equal(dim, -1) is False).
Equality is structural: two dims are known equal only when their canonical forms are the same.
"""
from __future__ import annotations

import re

_PRODUCT = re.compile(r"^\s*(?:[A-Za-z_][A-Za-z0-9_]*|\d+)(?:\s*\*\s*(?:[A-Za-z_][A-Za-z0-9_]*|\d+))*\s*$")


class Sym:
    """A polynomial over atoms: `terms` is a sorted tuple of (monomial, coefficient), a monomial a
    sorted tuple of atom names (repeated for powers), () the constant term. Never a plain int."""

    __slots__ = ("_hash", "terms")

    def __init__(self, terms: tuple):
        self.terms = terms
        self._hash = hash(terms)

    def __eq__(self, other) -> bool:
        return isinstance(other, Sym) and self.terms == other.terms

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        parts = []
        for mono, coef in self.terms:
            body = "*".join(mono)
            if not mono:
                parts.append(str(coef))
            elif coef == 1:
                parts.append(body)
            else:
                parts.append(f"{coef}*{body}")
        return " + ".join(parts).replace("+ -", "- ")


Dim = int | Sym


def atom(name: str) -> Sym:
    return Sym((((name,), 1),))


def _terms(d) -> dict:
    if isinstance(d, Sym):
        return dict(d.terms)
    return {(): int(d)} if d else {}


def _make(terms: dict) -> Dim:
    items = tuple(sorted((m, c) for m, c in terms.items() if c))
    if not items:
        return 0
    if len(items) == 1 and items[0][0] == ():
        return items[0][1]
    return Sym(items)


def add(a: Dim, b: Dim) -> Dim:
    if type(a) is int and type(b) is int:
        return a + b
    t = _terms(a)
    for m, c in _terms(b).items():
        t[m] = t.get(m, 0) + c
    return _make(t)


def neg(a: Dim) -> Dim:
    if type(a) is int:
        return -a
    return _make({m: -c for m, c in a.terms})


def sub(a: Dim, b: Dim) -> Dim:
    return add(a, neg(b))


def mul(a: Dim, b: Dim) -> Dim:
    if type(a) is int and type(b) is int:
        return a * b
    t: dict = {}
    for ma, ca in _terms(a).items():
        for mb, cb in _terms(b).items():
            m = tuple(sorted(ma + mb))
            t[m] = t.get(m, 0) + ca * cb
    return _make(t)


def product(dims) -> Dim:
    out: Dim = 1
    for d in dims:
        out = mul(out, d)
    return out


def exact_div(a: Dim, b: Dim) -> Dim | None:
    """a / b when the quotient is exact as a polynomial (b an int or a single term), else None."""
    if type(a) is int and type(b) is int:
        return a // b if b and a % b == 0 else None
    if type(b) is int:
        if b == 0:
            return None
        t = _terms(a)
        if any(c % b for c in t.values()):
            return None
        return _make({m: c // b for m, c in t.items()})
    if len(b.terms) != 1:
        return _div_poly(a, b)
    mb, cb = b.terms[0]
    out = {}
    for m, c in _terms(a).items():
        rest = list(m)
        for name in mb:
            if name not in rest:
                return None
            rest.remove(name)
        if c % cb:
            return None
        out[tuple(rest)] = c // cb
    return _make(out)


def _div_poly(a: Dim, b: Sym) -> Dim | None:
    """a / b for a multi-term b: only the trivial case a == k * b."""
    ta, tb = _terms(a), dict(b.terms)
    if set(ta) != set(tb):
        return None
    m0 = next(iter(tb))
    k, rem = divmod(ta[m0], tb[m0])
    if rem or any(ta[m] != k * tb[m] for m in tb):
        return None
    return k


_FLOORS: dict = {}  # name of a floor-division atom -> (numerator, divisor), to nest them


def floordiv(a: Dim, k: int) -> Dim:
    """floor(a / k) for an int k > 0. Terms whose coefficients k divides come out exactly
    (floor((k*A + B) / k) = A + floor(B / k)), the constant by its quotient; what is left is the atom
    "(B)//k", and floor(floor(X / j) / k) is floor(X / (j*k)): MaxPool(2) twice and a Div by 4 of the
    same width give the same dim."""
    if type(a) is int:
        return a // k
    out, rest = {}, {}
    for m, c in a.terms:
        if m == ():
            q, r = divmod(c, k)
            if q:
                out[()] = q
            if r:
                rest[()] = r
        elif c % k == 0:
            out[m] = c // k
        else:
            rest[m] = c
    exact = _make(out)
    b = _make(rest)
    if type(b) is int:  # 0 <= b < k
        return exact
    if len(b.terms) == 1 and b.terms[0][1] == 1 and len(b.terms[0][0]) == 1 and b.terms[0][0][0] in _FLOORS:
        inner, j = _FLOORS[b.terms[0][0][0]]
        return add(exact, floordiv(inner, j * k))
    name = f"({b!r})//{k}"
    if len(_FLOORS) > 100_000:
        _FLOORS.clear()  # names are canonical: an evicted one only stops nesting, never lies
    _FLOORS[name] = (b, k)
    return add(exact, atom(name))


def ceildiv(a: Dim, k: int) -> Dim:
    """ceil(a / k) = floor((a + k - 1) / k) for integers."""
    return floordiv(add(a, k - 1), k)


def nonneg(a: Dim) -> bool:
    """Known to be >= 0 (atoms are dimensions; a sum of them with coefficients >= 0 is)."""
    if type(a) is int:
        return a >= 0
    return all(c >= 0 for _, c in a.terms)


def positive(a: Dim) -> bool:
    """Known to be >= 1: a positive int, or a nonnegative polynomial with a positive constant term."""
    if type(a) is int:
        return a >= 1
    return nonneg(a) and dict(a.terms).get((), 0) >= 1


def parse(dim_param: str) -> Sym:
    """A dim_param as a Sym: products of names and ints ("batch*sequence", "2*batch") are
    multiplied out (so they meet computed products); anything else is one atom named by the text."""
    if dim_param.startswith("\0"):
        dim_param = "\1" + dim_param  # names starting with NUL are ShapeInfo's fresh dims
    if _PRODUCT.match(dim_param):
        out: Dim = 1
        for part in dim_param.split("*"):
            part = part.strip()
            out = mul(out, int(part) if part.isdigit() else atom(part))
        if isinstance(out, Sym):
            return out
    return atom(dim_param)


def is_dim(d) -> bool:
    return type(d) is int or isinstance(d, Sym)
