"""`graphkit export`: export a torch module to ONNX and verify it against the module, ORT and ref.

    graphkit export nets.py:SimpleCNN --input-shape 1,1,28,28 -o cnn.onnx
    graphkit export nets.py:make_model --input-shape 1,3,32,32 --exporter dynamo --opset 18 -o m.onnx

FILE.py:NAME names a module class (built with no arguments) or a factory function returning a
module. The export has a dynamic batch dimension. Exit codes: 0 exported and verified, 1 exported
but the runtimes disagree, 2 bad input/usage.
"""
from __future__ import annotations

HELP = "export a torch module to ONNX (dynamic batch) and verify it against the module, ORT and ref"


def add_arguments(parser) -> None:
    parser.add_argument("target", metavar="FILE.py:ClassOrFactory", help="where the module comes from")
    parser.add_argument("--input-shape", required=True, metavar="D1,D2,...", help="example input shape")
    parser.add_argument("--exporter", choices=("torchscript", "dynamo"), default="torchscript")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.onnx")
    parser.add_argument("--runtimes", default="ref,ort",
                        help="runtimes compared with the module (default ref,ort; add torch)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the example input")
    parser.add_argument("--atol", type=float, default=1e-4, help="absolute tolerance (default 1e-4)")
    parser.add_argument("--rtol", type=float, default=1e-3, help="relative tolerance (default 1e-3)")
    parser.add_argument("--json", action="store_true", help="print the verification report as JSON")


def run(args) -> int:
    import sys

    from graphkit.errors import UsageError
    from graphkit.verification import verify
    from graphkit.verification.export import export_module, load_module

    try:
        shape = tuple(int(d) for d in args.input_shape.replace("x", ",").split(",") if d.strip())
    except ValueError:
        raise UsageError(f"--input-shape must be integers like 1,3,224,224, got {args.input_shape!r}") from None
    module = load_module(args.target)
    example = export_module(module, shape, args.output, exporter=args.exporter, opset=args.opset, seed=args.seed)
    sys.stderr.write(f"exported {args.target} -> {args.output} ({args.exporter}, opset {args.opset})\n")
    report = verify(args.output, runtimes=args.runtimes, inputs=example, module=module,
                    atol=args.atol, rtol=args.rtol, progress=True)
    print(report.to_json() if args.json else report.table())
    return 0 if report.passed else 1
