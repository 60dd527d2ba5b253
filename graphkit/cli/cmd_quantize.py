"""`graphkit quantize`: quantize a float model with onnxruntime.quantization; measure what it cost.

    graphkit quantize model.onnx -o model.q.onnx --calibrate calib.npz --verify
    graphkit quantize model.onnx -o model.q.onnx --random 64 --format qoperator --per-channel
    graphkit quantize model.onnx -o model.q.onnx --random 32 --shape input=1,3,224,224 --activation-type s8
    graphkit quantize mlp.onnx -o mlp.q.onnx --dynamic --op-types MatMul,Gemm --verify --json

Static quantization (the default) needs calibration samples: --calibrate FILE.npz (one array per
model input with a leading sample axis; docs/quantization.md) or --random N seeded random samples
(a smoke test: random inputs do not have your data's ranges). --dynamic quantizes weights ahead and
activations at run time (no calibration). The model is pre-processed first as onnxruntime
recommends (--preprocess full: shape inference + basic optimizations, which fold BatchNormalization
into Conv). --verify runs the float and the quantized model on onnxruntime and refruntime and
reports per output the max abs error, SQNR (dB) and, for classifier-like outputs, top-1 agreement;
the last line is the `graphkit verify --against-model --per-node` command for the per-layer error.

Exit codes: 0 written; 1 written, but onnxruntime could not run it for --verify; 2 bad input
(unknown format, calibration data that does not fit the model, a model the quantizer rejects),
with one line on stderr and nothing written.
"""
from __future__ import annotations

HELP = "quantize a model (onnxruntime.quantization: static QDQ/QOperator or dynamic) and measure the accuracy cost"


def add_arguments(parser) -> None:
    parser.add_argument("model", help="the float .onnx model")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.onnx", help="where to write the quantized "
                        "model (never the input)")
    parser.add_argument("--format", choices=("qdq", "qoperator"), default=None,
                        help="qdq: QuantizeLinear/DequantizeLinear around float ops (default; ORT's recommended "
                             "format); qoperator: QLinearConv, QGemm, ... (static only)")
    parser.add_argument("--per-channel", action="store_true", help="one weight scale per output channel")
    parser.add_argument("--activation-type", choices=("u8", "s8"), default=None,
                        help="activation integer type (default u8)")
    parser.add_argument("--weight-type", choices=("u8", "s8"), default="s8", help="weight integer type (default s8)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--calibrate", metavar="FILE.npz",
                        help="calibration samples: one array per model input, leading axis = samples")
    source.add_argument("--random", type=int, metavar="N", help="calibrate on N seeded random samples (smoke test)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first random sample (default 0)")
    parser.add_argument("--shape", action="append", default=[], metavar="NAME=D1,D2,...",
                        help="shape of a random input (repeatable); fills symbolic dims")
    parser.add_argument("--dynamic", action="store_true",
                        help="quantize_dynamic: weights now, activations at run time; no calibration")
    parser.add_argument("--op-types", metavar="Conv,MatMul,...",
                        help="quantize only these op types (default: every type onnxruntime can quantize)")
    parser.add_argument("--preprocess", choices=("full", "shapes", "none"), default="full",
                        help="quant_pre_process first: full (shape inference + ORT basic optimizations; "
                             "default, ORT's recommendation), shapes (inference only), none")
    parser.add_argument("--save-preprocessed", metavar="PRE.onnx",
                        help="also write the pre-processed float model (compare the quantized model with it "
                             "per layer: its names match)")
    parser.add_argument("--verify", action="store_true",
                        help="measure the accuracy cost on onnxruntime and refruntime")
    parser.add_argument("--verify-samples", type=int, default=64, metavar="N",
                        help="random samples --verify runs when there is no calibration file (default 64)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args) -> int:
    import json

    from graphkit.errors import UsageError
    from graphkit.quantization import quantize

    if args.dynamic and args.format is not None:
        raise UsageError("--format applies to static quantization; --dynamic writes DynamicQuantizeLinear + "
                         "MatMulInteger/ConvInteger")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise UsageError("graphkit quantize needs onnxruntime (pip install onnxruntime)") from None
    from graphkit.verification.runtimes.ort import quiet_logging

    quiet_logging()  # the calibrator's sessions: its errors raise (one line), they are not logged too
    calibration = args.calibrate if args.calibrate is not None else args.random
    op_types = args.op_types.split(",") if args.op_types else None
    report = quantize(args.model, args.output, calibration=calibration, format=args.format or "qdq",
                      per_channel=args.per_channel, activation_type=args.activation_type or "u8",
                      weight_type=args.weight_type, dynamic=args.dynamic, op_types=op_types,
                      preprocess=args.preprocess, seed=args.seed, shapes=args.shape, verify=args.verify,
                      verify_samples=args.verify_samples, save_preprocessed=args.save_preprocessed)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.table())
    failed = report.accuracy is not None and report.accuracy.get("error")
    return 1 if failed else 0
