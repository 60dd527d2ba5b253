"""Shared plumbing of the transforming commands (fold, prune, fuse, simplify, toposort, extract,
reshape): arguments, the never-overwrite-the-input rule, --verify (exit 1 on a mismatch) and the
report.

--verify runs the model before and after on the same seeded random inputs, made as `run` and
`verify` make them (graphkit/verification/feeds.py): `--shape` sizes them (a model whose symbolic
dims cannot be 1 needs it), `--val-range` bounds them. refruntime runs both models; when it cannot,
onnxruntime does.
"""
from __future__ import annotations

import json
import os
import sys

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def add_common(parser, *, size_limit: bool = False, target: bool = False) -> None:
    parser.add_argument("model", help="the .onnx model to transform")
    parser.add_argument("-o", "--output", metavar="OUT.onnx", help="where to write the result")
    parser.add_argument("--in-place", action="store_true", help="overwrite MODEL (needed when -o is MODEL)")
    add_verify_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    if size_limit:
        parser.add_argument("--size-limit", type=float, default=1e8, metavar="BYTES",
                            help="do not materialize folded tensors larger than this (default 1e8)")
        parser.add_argument("--fold-dequantize", action="store_true",
                            help="also fold QuantizeLinear/DequantizeLinear of constants: quantized weights "
                                 "become float (by default a quantized model stays quantized)")
    if target:
        parser.add_argument("--target", choices=("onnx", "ort"), default=None,
                            help="onnx: portable ONNX (the default); ort: then onnxruntime's transformer fusions "
                                 "(com.microsoft ops), --verify on onnxruntime first")
        parser.add_argument("--ort-model-type", default="bert", metavar="TYPE",
                            help="with --target ort: the model type onnxruntime's optimizer fuses for (bert, gpt2, "
                                 "vit, ...; default bert)")


def add_verify_arguments(parser) -> None:
    parser.add_argument("--verify", action="store_true",
                        help="run the model before and after on seeded random inputs; exit 1 if outputs differ")
    parser.add_argument("--atol", type=float, default=None, help="absolute tolerance of --verify (default 1e-4)")
    parser.add_argument("--rtol", type=float, default=None, help="relative tolerance of --verify (default 1e-3)")
    parser.add_argument("--shape", action="append", default=[], metavar="NAME=D1,D2,...",
                        help="with --verify: shape of a random input (repeatable; fills symbolic dims)")
    parser.add_argument("--val-range", action="append", default=[], metavar="[NAME:][LO,HI]",
                        help="with --verify: range of random values (as `graphkit run`)")
    parser.add_argument("--seed", type=int, default=0, help="with --verify: seed of the random inputs (default 0)")


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
    if os.path.isdir(out):
        sys.stderr.write(f"graphkit {args.command}: -o {args.output} is a folder; give a file name\n")
        return None
    if not os.path.isdir(os.path.dirname(out)):
        sys.stderr.write(f"graphkit {args.command}: -o {args.output}: folder {os.path.dirname(out)} does not exist\n")
        return None
    return out


def run_transform(args, apply) -> int:
    """Load, `apply(model, verify=False, atol=..., rtol=...) -> Report`, check it (--verify), save,
    print the report."""
    import graphkit as gk
    from graphkit.cli._inputs import check_inputs
    from graphkit.errors import VerificationError

    out = output_path(args)
    if out is None:
        return EXIT_BAD_INPUT
    request = check_inputs(args)
    if getattr(args, "target", None) == "ort":  # onnxruntime's optimizer runs: its log stays quiet too
        from graphkit.verification.runtimes.ort import quiet_logging

        quiet_logging()
    model = gk.load(args.model)
    before = _count(model)
    snapshot = model.to_proto() if args.verify else None
    report = apply(model, verify=False, atol=args.atol, rtol=args.rtol)
    if args.verify:
        try:
            report.verification = verify_models(args, request, snapshot, model.to_proto(), what=report.name)
        except VerificationError as exc:
            sys.stderr.write(f"graphkit {args.command}: verification failed: {exc}; nothing written\n")
            if args.json:
                print_report(args, report, before, _count(model), None, {"verification_error": str(exc)})
            return EXIT_CHECK_FAILED
    gk.save(model, out)
    print_report(args, report, before, _count(model), out)
    return EXIT_OK


def verify_models(args, request, before, after, what: str) -> dict:
    """Outputs of `after` against `before` on the same inputs (VerificationError on a difference)."""
    from graphkit.passes.check import ATOL, RTOL, verify_equivalent_outputs
    from graphkit.verification.feeds import prepare_feeds
    from graphkit.verification.graph import with_input_shapes

    feeds = prepare_feeds(before, None, args.seed, request.shapes, request.val_ranges).feeds
    before, after = with_input_shapes(before, request.shapes), with_input_shapes(after, request.shapes)
    order = ("ort", "ref") if getattr(args, "target", None) == "ort" else ("ref", "ort")
    runtime, expected, actual = _run_pair(args.model, before, after, feeds, feeds, order)
    return verify_equivalent_outputs(expected, actual, runtime, list(expected), ATOL if args.atol is None else args.atol,
                                     RTOL if args.rtol is None else args.rtol, what)


def verify_extract(args, request, original, extracted) -> dict:
    """The extracted model, fed the original's values of its inputs, must reproduce the original's
    values of its outputs."""
    import onnx

    from graphkit.passes.check import ATOL, RTOL, verify_equivalent_outputs
    from graphkit.verification.feeds import prepare_feeds
    from graphkit.verification.graph import with_input_shapes

    feeds = prepare_feeds(original, None, args.seed, request.shapes, request.val_ranges).feeds
    probe = onnx.ModelProto()
    probe.CopyFrom(with_input_shapes(original, request.shapes))
    present = {o.name for o in probe.graph.output}
    probe.graph.output.extend(vi for vi in (*extracted.graph.input, *extracted.graph.output) if vi.name not in present)
    errors = []
    for runtime in ("ref", "ort"):
        try:
            values = _run(args.model, probe, feeds, runtime)
            actual = _run(args.model, extracted, {vi.name: values[vi.name] for vi in extracted.graph.input}, runtime)
        except Exception as exc:  # noqa: BLE001 - try the next runtime, report all if none works
            errors.append(f"{runtime}: {type(exc).__name__}: {_first_line(exc)}")
            continue
        return verify_equivalent_outputs(values, actual, runtime, [vi.name for vi in extracted.graph.output],
                                         ATOL if args.atol is None else args.atol,
                                         RTOL if args.rtol is None else args.rtol, "extract")
    from graphkit.errors import VerificationError

    raise VerificationError("cannot run the models to verify them (" + "; ".join(errors) + ")")


def _run_pair(path: str, before, after, feeds_before: dict, feeds_after: dict, order=("ref", "ort")):
    """(runtime, outputs of before, outputs of after): on the first runtime of `order` that runs both."""
    from graphkit.errors import VerificationError

    errors = []
    for runtime in order:
        try:
            return runtime, _run(path, before, feeds_before, runtime), _run(path, after, feeds_after, runtime)
        except Exception as exc:  # noqa: BLE001 - try the next runtime, report all if none works
            errors.append(f"{runtime}: {type(exc).__name__}: {_first_line(exc)}")
    raise VerificationError("cannot run the models to verify them (" + "; ".join(errors) + ")")


def _run(path: str, proto, feeds: dict, runtime: str) -> dict:
    """Graph outputs by name; external weights are read next to `path` (the model's file)."""
    names = [o.name for o in proto.graph.output]
    if runtime == "ref":
        from graphkit.cli._inputs import ModelFile
        from refruntime import Session

        result = Session(ModelFile(proto, path)).run(feeds)
        return {n: result[n] for n in names}
    import onnxruntime as ort

    from graphkit.verification.runtimes.ort import check_for_ort, default_log_severity, quiet_logging

    check_for_ort(proto)
    quiet_logging()
    options = ort.SessionOptions()
    options.log_severity_level = default_log_severity()
    # weights still in their data file are found next to the model's file
    options.add_session_config_entry("session.model_external_initializers_file_folder_path",
                                     os.path.dirname(os.path.abspath(path)))
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    return dict(zip(names, session.run(names, {k: v for k, v in feeds.items() if k in wanted})))


def print_report(args, report, before: int, after: int, out: str | None, extra: dict | None = None) -> None:
    """The pass report (text, or JSON: the report's keys plus output, nodes_before, nodes_after,
    verification_error when --verify failed and nothing was written)."""
    if args.json:
        data = report.to_dict()
        data.update({"output": out, "nodes_before": before, "nodes_after": after, "verification_error": None,
                     **(extra or {})})
        print(json.dumps(data, indent=2, default=str))
        return
    print(report.table())
    if report.verification:
        errs = ", ".join(f"{k}: {v:.3g}" for k, v in report.verification["max_error"].items())
        print(f"verified on {report.verification['runtime']}: max error {errs}")
    print(f"nodes: {before} -> {after}; wrote {out}")


def _count(model) -> int:
    return sum(1 for _ in model.graph.walk())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""
