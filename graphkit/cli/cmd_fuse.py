"""`graphkit fuse MODEL -o OUT`: Conv+BN, Conv+Mul/Add, BN+Mul/Add, MatMul+Add -> Gemm."""
from __future__ import annotations

from graphkit.cli._transform import add_common, run_transform

HELP = "fuse Conv+BatchNormalization, per-channel Mul/Add into Conv/BN, MatMul+Add into Gemm"


def add_arguments(parser) -> None:
    add_common(parser)


def run(args) -> int:
    from graphkit.passes.api import fuse

    return run_transform(args, fuse)
