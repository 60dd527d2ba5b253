"""`graphkit inspect`: a model at a glance (ops, inputs/outputs, parameters, opsets).

    graphkit inspect model.onnx
    graphkit inspect model.onnx --json

Reads only the model file and tensor headers: external data is never read, and neither torch nor
numba is imported.
"""
from __future__ import annotations

HELP = "summarize a model: op histogram, inputs/outputs, parameter count, opsets"


def add_arguments(parser) -> None:
    parser.add_argument("model", help="the .onnx model")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args) -> int:
    import json

    from graphkit.io import load
    from graphkit.summary import format_summary, summarize

    summary = summarize(load(args.model))
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0
