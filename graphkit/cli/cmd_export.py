"""`graphkit export`: export a torch module to ONNX and verify it against the module, ORT and ref.

    graphkit export nets.py:SimpleCNN --input-shape 1,1,28,28 -o cnn.onnx
    graphkit export nets.py:make_model --input-shape 1,3,32,32 --exporter dynamo --opset 18 -o m.onnx
    graphkit export bert.py:Tiny --input-shape input_ids=1,16:int64 --input-shape attention_mask=1,16:int64 -o b.onnx
    graphkit export nets.py:TwoTower --example example.npz -o two.onnx   # arrays by forward() parameter name

FILE.py:NAME names a module class (built with no arguments) or a factory function returning a
module. Several inputs are named after forward()'s parameters and given in its order; a shape may
end in :DTYPE (float32 by default; integer inputs get random 0/1 values, use --example for real
ones). The export has a dynamic batch dimension. The module's own errors on the example (a shape
mismatch in forward) and the exporter's are one line. Exit codes: 0 exported and verified, 1
exported but the runtimes disagree, 2 bad input/usage.
"""
from __future__ import annotations

HELP = "export a torch module to ONNX (dynamic batch) and verify it against the module, ORT and ref"


def add_arguments(parser) -> None:
    parser.add_argument("target", metavar="FILE.py:ClassOrFactory", help="where the module comes from")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input-shape", action="append", metavar="[NAME=]D1,D2,...[:DTYPE]",
                        help="example input shape (repeatable, one per forward() input; DTYPE float32 by default)")
    source.add_argument("--example", metavar="FILE.npz", help="example inputs: arrays named after forward()'s "
                        "parameters (their dtypes are the model's)")
    parser.add_argument("--exporter", choices=("torchscript", "dynamo"), default="torchscript")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.onnx")
    parser.add_argument("--runtimes", default="ref,ort",
                        help="runtimes compared with the module (default ref,ort; add torch)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the example input")
    parser.add_argument("--atol", type=float, default=1e-4, help="absolute tolerance (default 1e-4)")
    parser.add_argument("--rtol", type=float, default=1e-3, help="relative tolerance (default 1e-3)")
    parser.add_argument("--json", action="store_true", help="print the verification report as JSON")
    parser.add_argument("--progress", action="store_true", help="progress lines on stderr even when not a terminal")


def parse_input_shape(text: str) -> tuple[str | None, tuple[tuple[int, ...], str]]:
    """'ids=1,16:int64' -> ('ids', ((1, 16), 'int64')); '1,3,32,32' -> (None, ((1, 3, 32, 32), 'float32'))."""
    import numpy as np

    from graphkit.errors import UsageError

    name, sep, rest = text.rpartition("=")
    dims, _, dtype = rest.partition(":")
    try:
        shape = tuple(int(d) for d in dims.replace("x", ",").split(",") if d.strip())
        dtype = np.dtype(dtype.strip() or "float32").name
    except (ValueError, TypeError):
        shape = None
    if shape is None or (sep and not name) or any(d < 0 for d in shape):
        raise UsageError(f"--input-shape {text!r}: expected [NAME=]D1,D2,...[:DTYPE], e.g. 1,3,224,224 or "
                         f"input_ids=1,128:int64")
    return (name or None), (shape, dtype)


def run(args) -> int:
    import json

    from graphkit.errors import UsageError
    from graphkit.summary import type_text
    from graphkit.verification import verify
    from graphkit.verification.export import example_inputs, export_module, load_module
    from graphkit.verification.feeds import check_writable, load_arrays

    shapes = None
    if args.input_shape:
        parsed = [parse_input_shape(t) for t in args.input_shape]
        names = [n for n, _ in parsed]
        if len(parsed) > 1 and (None in names or len(set(names)) != len(names)):
            raise UsageError("several --input-shape: give each a distinct name, NAME=D1,D2,...")
        shapes = dict(parsed)
    arrays = None
    if args.example:
        arrays = load_arrays(args.example, what="--example")
        if None in arrays:
            arrays = {"input": arrays[None]}
    check_writable(args.output, "-o")
    module = load_module(args.target)
    example = example_inputs(module, shapes, arrays, seed=args.seed)
    feeds = export_module(module, example, args.output, exporter=args.exporter, opset=args.opset, seed=args.seed)
    report = verify(args.output, runtimes=args.runtimes, inputs=feeds, module=module,
                    atol=args.atol, rtol=args.rtol, progress="always" if args.progress else True)
    exported = {"target": args.target, "output": args.output, "exporter": args.exporter, "opset": args.opset,
                "inputs": {n: {"dtype": str(v.dtype), "shape": list(v.shape)} for n, v in feeds.items()}}
    if args.json:
        print(json.dumps({**report.to_dict(), "export": exported}, indent=2, default=str))
    else:
        inputs = ", ".join(f"{n}: {type_text(v.dtype, v.shape)}" for n, v in feeds.items())
        print(f"exported {args.target} -> {args.output} ({args.exporter}, opset {args.opset}; example {inputs})")
        print(report.table())
    return 0 if report.passed else 1
