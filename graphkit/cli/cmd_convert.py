"""`graphkit convert`: an ONNX model as a TensorFlow SavedModel or a TFLite flatbuffer.

    graphkit convert model.onnx --to tf -o model_tf/              # SavedModel, signature serving_default
    graphkit convert model.onnx --to tflite -o model.tflite       # builtin ops only, float32
    graphkit convert model.onnx --to tflite -o m.tflite --shape input=1,3,224,224 --verify

Inputs and outputs keep the ONNX model's names (as signature keys: other characters than letters,
digits and _ become _) and its layout (NCHW at the boundary, NHWC inside). `--verify` runs the
written model against refruntime on seeded inputs, node by node, and exits 1 naming the first node
where they depart. TensorFlow is imported by this command only (docs/convert.md). Exit codes: 0
converted (and verified), 1 converted but the verification failed, 2 bad input (a node without a
TensorFlow mapping is named), TensorFlow missing.
"""
from __future__ import annotations

HELP = "convert an ONNX model to a TensorFlow SavedModel (--to tf) or a TFLite model (--to tflite)"


def add_arguments(parser) -> None:
    parser.add_argument("model", help="the .onnx model to convert")
    parser.add_argument("--to", required=True, choices=("tf", "tflite"),
                        help="tf: a SavedModel folder; tflite: a .tflite file")
    parser.add_argument("-o", "--output", required=True, metavar="DIR|FILE.tflite",
                        help="where to write it (a SavedModel folder is replaced as a whole)")
    parser.add_argument("--shape", action="append", default=[], metavar="NAME=D1,D2,...",
                        help="fix an input's shape (repeatable); open dims stay open otherwise")
    parser.add_argument("--verify", action="store_true",
                        help="run the written model against refruntime node by node (seeded inputs; open dims 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --verify inputs")
    parser.add_argument("--json", action="store_true", help="print the result (and the verify report) as JSON")


def run(args) -> int:
    import json
    import os

    from graphkit.errors import UsageError
    from graphkit.verification.graph import parse_shape

    shapes = dict(parse_shape(s) for s in args.shape)
    if args.to == "tflite" and os.path.isdir(args.output):
        raise UsageError(f"-o {args.output} is a folder; --to tflite writes a .tflite file")
    if args.to == "tf" and os.path.isfile(args.output):
        raise UsageError(f"-o {args.output} is a file; --to tf writes a SavedModel folder")
    from graphkit.convert.api import convert, load_proto
    from graphkit.verification.graph import with_input_shapes

    proto = load_proto(args.model)
    if shapes:
        unknown = sorted(set(shapes) - {vi.name for vi in proto.graph.input})
        if unknown:
            raise UsageError(f"--shape names no input of the model: {unknown}")
        proto = with_input_shapes(proto, shapes)
    result = convert(proto, args.to, args.output)
    report = None
    if args.verify:
        report = _verify(proto, args.to, result.path, args.seed)
    if args.json:
        out = result.to_json()
        out["model"] = args.model
        if report is not None:
            out["verify"] = report.to_dict()
        print(json.dumps(out, indent=2, default=str))
    else:
        print(f"{args.model} -> {result.summary()}")
        for note in result.notes:
            print(f"note: {note}")
        if report is not None:
            print(report.table())
    return 0 if report is None or report.passed else 1


def _verify(proto, to: str, path: str, seed: int):
    """refruntime vs the written file (outputs), intermediates from the same conversion."""
    from graphkit.verification import verify
    from graphkit.verification.runtimes.tf import TfRuntime
    from graphkit.verification.runtimes.tflite import TfliteRuntime

    runtime = TfRuntime("tf", proto, saved_model=path) if to == "tf" else TfliteRuntime("tflite", proto, path=path)
    return verify(proto, runtimes=["ref", runtime], seed=seed, per_node=True)
