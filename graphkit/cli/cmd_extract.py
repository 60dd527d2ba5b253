"""`graphkit extract MODEL --inputs a,b --outputs c -o OUT`: the subgraph between those values.

    graphkit extract model.onnx --inputs /conv1/Relu_output_0 --outputs logits -o tail.onnx --verify

Value names come from `graphkit inspect MODEL --show tensors`. --verify feeds the original model
seeded random inputs (--shape/--val-range as `run`), and the extracted one the original's values
of its inputs: its outputs must match the original's values (Polygraphy's `surgeon extract`).
"""
from __future__ import annotations

import sys

from graphkit.cli._transform import (
    EXIT_BAD_INPUT,
    EXIT_CHECK_FAILED,
    EXIT_OK,
    add_common,
    output_path,
    print_report,
)

HELP = "save the part of a model between given input and output values as a new model"


def add_arguments(parser) -> None:
    add_common(parser)
    parser.add_argument("--inputs", required=True, metavar="A,B", help="comma-separated input value names")
    parser.add_argument("--outputs", required=True, metavar="C", help="comma-separated output value names")


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def run(args) -> int:
    import graphkit as gk
    from graphkit.cli._inputs import check_inputs
    from graphkit.cli._transform import verify_extract
    from graphkit.errors import VerificationError
    from graphkit.passes.base import Report

    out = output_path(args)
    if out is None:
        return EXIT_BAD_INPUT
    request = check_inputs(args, input_file=False)
    model = gk.load(args.model)
    sub = gk.extract(model, inputs=_names(args.inputs), outputs=_names(args.outputs))
    report = Report("extract")
    report.counts["nodes_kept"] = len(sub.graph)
    if args.verify:
        try:
            report.verification = verify_extract(args, request, model.to_proto(), sub.to_proto())
        except VerificationError as exc:
            sys.stderr.write(f"graphkit extract: verification failed: {exc}; nothing written\n")
            if args.json:
                print_report(args, report, sum(1 for _ in model.graph.walk()), sum(1 for _ in sub.graph.walk()), None,
                             {"verification_error": str(exc)})
            return EXIT_CHECK_FAILED
    gk.save(sub, out)
    print_report(args, report, sum(1 for _ in model.graph.walk()), sum(1 for _ in sub.graph.walk()), out,
                 extra={"inputs": [v.name for v in sub.graph.inputs], "outputs": [v.name for v in sub.graph.outputs]})
    return EXIT_OK
