"""`graphkit simplify MODEL -o OUT`: fold -> prune -> fuse until nothing changes."""
from __future__ import annotations

from graphkit.cli._transform import add_common, run_transform

HELP = "fold constants, prune and fuse until nothing changes"


def add_arguments(parser) -> None:
    add_common(parser, size_limit=True)


def run(args) -> int:
    from graphkit.passes.api import simplify

    return run_transform(args, lambda m, **kw: simplify(m, size_limit=args.size_limit,
                                                        fold_dequantize=args.fold_dequantize, **kw))
