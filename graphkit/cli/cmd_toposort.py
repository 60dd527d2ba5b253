"""`graphkit toposort MODEL -o OUT`: stable topological order (a cycle is named, exit 2)."""
from __future__ import annotations

from graphkit.cli._transform import add_common, run_transform

HELP = "sort nodes topologically (stable; subgraphs too); a cycle is an error naming its nodes"


def add_arguments(parser) -> None:
    add_common(parser)


def run(args) -> int:
    from graphkit.passes.api import toposort

    return run_transform(args, toposort)
