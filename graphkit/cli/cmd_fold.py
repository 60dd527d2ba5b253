"""`graphkit fold MODEL -o OUT`: evaluate constant subexpressions (Shape of static inputs too)."""
from __future__ import annotations

from graphkit.cli._transform import add_common, run_transform

HELP = "fold constant subexpressions into initializers (never random ops; --size-limit caps tensors)"


def add_arguments(parser) -> None:
    add_common(parser, size_limit=True)


def run(args) -> int:
    from graphkit.passes.api import fold_constants

    return run_transform(args, lambda m, **kw: fold_constants(m, size_limit=args.size_limit,
                                                              fold_dequantize=args.fold_dequantize, **kw))
