"""`graphkit verify`: run a model on several runtimes and say who disagrees, where, and who is right.

    graphkit verify model.onnx --runtimes ref,ort,torch --per-node --oracle
    graphkit verify new.onnx --against-model old.onnx --per-node       # two versions, node by node
    graphkit verify model.onnx --runtimes ort,torch --reduce out/      # save the smallest repro
    graphkit verify model.onnx --runtimes ort,ort-noopt --bisect-ort   # which ORT optimizer changed it

Exit codes: 0 everything within tolerance, 1 a mismatch (or a runtime failed), 2 bad input/usage.
`--timeout` bounds each refruntime run (ref, its oracles, the per-node replays) as in `graphkit run`.
"""
from __future__ import annotations

from graphkit.cli.cmd_run import HARD_EXIT_GRACE, add_timeout_argument, check_timeout

HELP = "compare a model across runtimes (or two model versions) and find the first diverging node"


def add_arguments(parser) -> None:
    from graphkit.cli._inputs import add_input_arguments

    parser.add_argument("model", help="the .onnx model to verify")
    parser.add_argument("--runtimes", default="ref,ort",
                        help="comma-separated, at least two, the first is the baseline: ref, ref64, ref-spec, ort, "
                             "ort-noopt, torch, onnx-reference, tf, tflite (the model converted by graphkit "
                             "convert, run by TensorFlow / TFLite) (default: ref,ort)")
    add_input_arguments(parser, exclusive_seed=True)
    parser.add_argument("--atol", type=float, default=None,
                        help="absolute tolerance for every float type (default per dtype: float32 1e-5, "
                             "float16 1e-3, bfloat16 1e-2; integers exact; quantized tensors one step)")
    parser.add_argument("--rtol", type=float, default=None,
                        help="relative tolerance for every float type (default per dtype: float32 1e-4, "
                             "float16 1e-2, bfloat16 5e-2)")
    parser.add_argument("--tol", action="append", default=[], metavar="NAME=ATOL,RTOL",
                        help="tolerance of one output or intermediate (repeatable)")
    parser.add_argument("--check-error-stat", default="max", metavar="max|mean|median|QUANTILE",
                        help="statistic of the elementwise error that must be within tolerance: max (every "
                             "element, the default), mean, median or a quantile such as 0.99")
    parser.add_argument("--per-node", action="store_true",
                        help="compare every intermediate (memory-bounded) and find the origin of divergence")
    parser.add_argument("--oracle", action="store_true",
                        help="judge the outputs with the exact oracle (float64) and the spec oracle (float64 per "
                             "op, rounded to each declared type)")
    parser.add_argument("--bisect-ort", action="store_true",
                        help="find which of onnxruntime's graph optimizers changes the outputs")
    parser.add_argument("--no-strict", action="store_true",
                        help="let refruntime run models onnx's checker and type inference reject")
    parser.add_argument("--against-model", metavar="B.onnx",
                        help="compare with another version of the model, values matched by name, "
                             "both on the first runtime")
    parser.add_argument("--reduce", metavar="OUT_DIR",
                        help="save the smallest subgraph that still shows the mismatch, with its inputs "
                             "(a new or empty folder)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--html", metavar="REPORT.html", help="also write a self-contained HTML report")
    parser.add_argument("--progress", action="store_true",
                        help="progress lines on stderr even when it is not a terminal (on a terminal: always)")
    add_timeout_argument(parser)


def _check_up_front(args) -> None:
    """Everything that can be refused before the first runtime runs."""
    import os

    from graphkit.errors import UsageError

    if args.against_model is not None:
        if os.path.isdir(args.against_model):
            raise UsageError(f"--against-model {args.against_model} is a folder, not an .onnx file")
        if not os.path.isfile(args.against_model):
            raise UsageError(f"--against-model {args.against_model}: file not found")
    if args.reduce:
        if os.path.exists(args.reduce) and not os.path.isdir(args.reduce):
            raise UsageError(f"--reduce {args.reduce} is a file; give a new or empty folder")
        if os.path.isdir(args.reduce) and os.listdir(args.reduce):
            raise UsageError(f"--reduce {args.reduce} is not empty; give a new or empty folder")
        parent = os.path.dirname(os.path.abspath(args.reduce))
        if not os.path.isdir(parent):
            raise UsageError(f"--reduce {args.reduce}: folder {parent} does not exist")
    if args.load_outputs and args.against_model:
        raise UsageError("--load-outputs compares one model with saved outputs; --against-model compares two models")
    check_timeout(args)


def run(args) -> int:
    from graphkit.cli import _inputs
    from graphkit.verification import verify
    from graphkit.verification.runtimes.ref import time_bound

    _check_up_front(args)
    request = _inputs.check_inputs(args, writes=("html",))
    proto = _inputs.load_model_proto(args.model)
    _, prepared = _inputs.prepare(args, proto, request)
    runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    notes = list(prepared.notes)
    if request.golden is not None:
        notes += _inputs.check_golden_names(request.golden, [o.name for o in proto.graph.output], args.load_outputs)
        golden = _inputs.saved_outputs_runtime(proto, args.load_outputs, request.golden)
        # the saved outputs are the baseline; with --per-node a runtime must be (golden has no intermediates)
        runtimes = [*runtimes, golden] if args.per_node or args.reduce else [golden, *runtimes]
        notes.append(f"golden: saved outputs from {args.load_outputs}")
    with time_bound(hard_exit_after=HARD_EXIT_GRACE):  # a node stuck in C code ends the command
        report = verify(args.model, runtimes=runtimes, inputs=prepared.feeds, seed=args.seed,
                        shapes=request.shapes, atol=args.atol, rtol=args.rtol, tol=args.tol,
                        error_stat=args.check_error_stat, per_node=args.per_node, oracle=args.oracle,
                        against_model=args.against_model, reduce=args.reduce, bisect_ort=args.bisect_ort,
                        strict=not args.no_strict, progress="always" if args.progress else True,
                        timeout=args.timeout)
    report.notes.extend(notes)
    if args.save_inputs:
        report.notes.append(f"inputs saved to {args.save_inputs}")
    print(report.to_json() if args.json else report.table())
    if args.html:
        from graphkit.verification import html

        html.write(report, args.html)  # the reduced repro's links relative to the page's folder
    return 0 if report.passed else 1
