"""`graphkit prune MODEL -o OUT`: remove dead nodes, identities, inference Dropout, duplicates."""
from __future__ import annotations

from graphkit.cli._transform import add_common, run_transform

HELP = "remove dead nodes, Identity/inference Dropout, unused and duplicate initializers"


def add_arguments(parser) -> None:
    add_common(parser)


def run(args) -> int:
    from graphkit.passes.api import prune

    return run_transform(args, prune)
