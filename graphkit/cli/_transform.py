"""Shared plumbing of the transforming commands (fold, prune, fuse, simplify, toposort, extract):
arguments, the never-overwrite-the-input rule, --verify (exit 1 on a mismatch) and the report."""
from __future__ import annotations

import json
import os
import sys

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def add_common(parser, *, size_limit: bool = False) -> None:
    parser.add_argument("model", help="the .onnx model to transform")
    parser.add_argument("-o", "--output", metavar="OUT.onnx", help="where to write the result")
    parser.add_argument("--in-place", action="store_true", help="overwrite MODEL (needed when -o is MODEL)")
    parser.add_argument("--verify", action="store_true",
                        help="run the model before and after on seeded random inputs; exit 1 if outputs differ")
    parser.add_argument("--atol", type=float, default=None, help="absolute tolerance of --verify (default 1e-4)")
    parser.add_argument("--rtol", type=float, default=None, help="relative tolerance of --verify (default 1e-3)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    if size_limit:
        parser.add_argument("--size-limit", type=float, default=1e8, metavar="BYTES",
                            help="do not materialize folded tensors larger than this (default 1e8)")
        parser.add_argument("--fold-dequantize", action="store_true",
                            help="also fold QuantizeLinear/DequantizeLinear of constants: quantized weights "
                                 "become float (by default a quantized model stays quantized)")


def output_path(args) -> str | None:
    """The destination, or None after printing why there is none (exit 2)."""
    src = os.path.abspath(args.model)
    if args.output is None:
        if args.in_place:
            return src
        sys.stderr.write(f"graphkit {args.command}: give -o OUT.onnx (or --in-place to overwrite {args.model})\n")
        return None
    out = os.path.abspath(args.output)
    same = out == src or (os.path.exists(out) and os.path.exists(src) and os.path.samefile(out, src))
    if same and not args.in_place:
        sys.stderr.write(f"graphkit {args.command}: refusing to overwrite the input {args.model}; "
                         f"pass --in-place to do that\n")
        return None
    return out


def run_transform(args, apply) -> int:
    """Load, `apply(model, verify=..., atol=..., rtol=...) -> Report`, save, print the report."""
    import graphkit as gk
    from graphkit.errors import VerificationError

    out = output_path(args)
    if out is None:
        return EXIT_BAD_INPUT
    model = gk.load(args.model)
    before = _count(model)
    try:
        report = apply(model, verify=args.verify, atol=args.atol, rtol=args.rtol)
    except VerificationError as exc:
        sys.stderr.write(f"graphkit {args.command}: verification failed: {exc}; nothing written\n")
        return EXIT_CHECK_FAILED
    gk.save(model, out)
    print_report(args, report, before, _count(model), out)
    return EXIT_OK


def print_report(args, report, before: int, after: int, out: str) -> None:
    if args.json:
        data = report.to_dict()
        data.update({"output": out, "nodes_before": before, "nodes_after": after})
        print(json.dumps(data, indent=2, default=str))
        return
    print(report.table())
    if report.verification:
        errs = ", ".join(f"{k}: {v:.3g}" for k, v in report.verification["max_error"].items())
        print(f"verified on {report.verification['runtime']}: max error {errs}")
    print(f"nodes: {before} -> {after}; wrote {out}")


def _count(model) -> int:
    return sum(1 for _ in model.graph.walk())
