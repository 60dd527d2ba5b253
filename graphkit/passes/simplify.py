"""simplify: fold_constants -> prune -> fuse, repeated until nothing changes."""
from __future__ import annotations

from graphkit.passes.base import FixedPoint, Sequential
from graphkit.passes.fold_constants import DEFAULT_SIZE_LIMIT, FoldConstants
from graphkit.passes.fuse import Fuse
from graphkit.passes.prune import Prune


def Simplify(size_limit: int = DEFAULT_SIZE_LIMIT, max_iterations: int = 10,
             fold_dequantize: bool = False) -> FixedPoint:
    """The simplify pass (a FixedPoint over fold -> prune -> fuse). Quantization is kept: see
    fold_constants (`fold_dequantize`), prune and fuse."""
    inner = Sequential(FoldConstants(size_limit=size_limit, fold_dequantize=fold_dequantize), Prune(), Fuse(),
                       name="simplify_round")
    return FixedPoint(inner, max_iterations=max_iterations, name="simplify")
