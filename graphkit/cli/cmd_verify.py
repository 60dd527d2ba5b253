"""`graphkit verify`: run a model on several runtimes and say who disagrees, where, and who is right.

    graphkit verify model.onnx --runtimes ref,ort,torch --per-node --oracle
    graphkit verify new.onnx --against-model old.onnx --per-node       # two versions, node by node
    graphkit verify model.onnx --runtimes ort,torch --reduce out/      # save the smallest repro
    graphkit verify model.onnx --runtimes ort,ort-noopt --bisect-ort   # which ORT optimizer changed it

Exit codes: 0 everything within tolerance, 1 a mismatch (or a runtime failed), 2 bad input/usage.
"""
from __future__ import annotations

HELP = "compare a model across runtimes (or two model versions) and find the first diverging node"


def add_arguments(parser) -> None:
    parser.add_argument("model", help="the .onnx model to verify")
    parser.add_argument("--runtimes", default="ref,ort",
                        help="comma-separated, at least two, the first is the baseline: ref, ref64, ref-spec, ort, "
                             "ort-noopt, torch, onnx-reference (default: ref,ort)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--inputs", metavar="FILE.npz", help="input values (default: seeded random)")
    source.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    parser.add_argument("--shape", action="append", default=[], metavar="NAME=D1,D2,...",
                        help="input shape (repeatable); fills symbolic dims or overrides the declared shape")
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
                        help="save the smallest subgraph that still shows the mismatch, with its inputs")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--html", metavar="REPORT.html", help="also write a self-contained HTML report")


def run(args) -> int:
    from graphkit.verification import verify

    report = verify(args.model, runtimes=args.runtimes, inputs=args.inputs, seed=args.seed,
                    shapes=args.shape, atol=args.atol, rtol=args.rtol, tol=args.tol,
                    error_stat=args.check_error_stat, per_node=args.per_node, oracle=args.oracle,
                    against_model=args.against_model, reduce=args.reduce, bisect_ort=args.bisect_ort,
                    strict=not args.no_strict, progress=True)
    print(report.to_json() if args.json else report.table())
    if args.html:
        with open(args.html, "w", encoding="utf-8") as f:
            f.write(report.to_html())
    return 0 if report.passed else 1
