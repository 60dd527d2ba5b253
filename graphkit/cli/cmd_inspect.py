"""`graphkit inspect`: a model at a glance, and its parts by name.

    graphkit inspect model.onnx
    graphkit inspect model.onnx --show nodes            # every node: op, inputs -> outputs with types
    graphkit inspect model.onnx --show io,tensors,weights --json

The summary: op histogram, inputs/outputs, parameters ("N (M after folding)" when constant
subexpressions such as ConstantOfShape make the weights), opsets. `--show` (repeatable or comma
separated) adds `io` (inputs with their readers and default random ranges, outputs with their
producers), `nodes` (Polygraphy's `--show layers`), `tensors` (every value: type, producer,
consumers: the names `extract` cuts at) and `weights` (initializers and Constant nodes). Types of
intermediates come from onnx shape inference when the model does not declare them.

Reads only the model file and tensor headers: external data is never read, and neither torch nor
numba is imported.
"""
from __future__ import annotations

HELP = "summarize a model (ops, inputs/outputs, parameters, opsets); --show its nodes, tensors, weights"


def add_arguments(parser) -> None:
    parser.add_argument("model", help="the .onnx model")
    parser.add_argument("--show", action="append", default=[], metavar="io|nodes|tensors|weights",
                        help="also list these by name (repeatable, or comma separated; `layers` = nodes)")
    parser.add_argument("--json", action="store_true", help="print the summary (and --show sections) as JSON")


def run(args) -> int:
    import json

    from graphkit.errors import UsageError
    from graphkit.summary import SHOW

    show = [s.strip() for text in args.show for s in text.split(",") if s.strip()]
    show = ["nodes" if s == "layers" else s for s in show]  # Polygraphy's word for them
    unknown = [s for s in show if s not in SHOW]
    if unknown:
        raise UsageError(f"--show {','.join(unknown)}: choose from {', '.join(SHOW)}")

    from graphkit.io import load
    from graphkit.summary import details, format_details, format_summary, summarize

    model = load(args.model)
    summary = summarize(model)
    sections = details(model, show) if show else {}
    if args.json:
        print(json.dumps({**summary, **sections}, indent=2))
    else:
        print(format_summary(summary) + ("\n" + format_details(sections) if sections else ""))
    return 0
