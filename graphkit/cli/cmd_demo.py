"""graphkit demo: the tutorial CNNs, from their bugs to five runtimes that agree.

1. Run the two tutorial CNNs as published and explain how their Linear layer is mis-sized.
2. Export the corrected nets with both torch exporters (TorchScript and torch.export), dynamic batch.
3. Summarise each .onnx file.
4. Convert each file to a TensorFlow SavedModel and a TFLite model (graphkit convert), the
   tutorials' last step. Without TensorFlow installed this step says so in one line and the
   tf/tflite rows are left out; the rest still runs and decides the exit code.
5. Run every file with refruntime, onnxruntime, the torch module, TensorFlow and TFLite at each
   batch size; one table of errors and latencies. Exit 0 only if every comparison passes.

torch is imported inside run(), never when the CLI starts; TensorFlow only in step 4 and after.
"""
from __future__ import annotations

import sys
import time

HELP = ("tutorial CNNs: diagnose their bugs, export with both torch exporters, convert to TensorFlow/TFLite, "
        "compare 5 runtimes")


def add_arguments(parser) -> None:
    parser.add_argument("--out", default="demo-out", metavar="DIR",
                        help="folder for the .onnx files (default: ./demo-out)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64], metavar="N",
                        help="batch sizes to run (default: 1 64)")
    parser.add_argument("--atol", type=float, default=1e-5, help="absolute tolerance (default 1e-5)")
    parser.add_argument("--rtol", type=float, default=1e-4, help="relative tolerance (default 1e-4)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per runtime (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and inputs")
    parser.add_argument("--json", action="store_true", help="print the diagnoses, exports and comparisons as JSON")


def run(args) -> int:
    import json

    from graphkit.errors import UsageError

    if min(args.batch) < 1 or args.repeats < 1:
        raise UsageError("--batch and --repeats must be >= 1")
    started = time.perf_counter()
    import onnx

    from graphkit.demo import compare, export, nets, report
    from graphkit.verification.runtimes.ort import quiet_logging

    quiet_logging()
    say = (lambda *a, **k: None) if args.json else print  # text only without --json
    result: dict = {"diagnoses": [], "exports": [], "comparisons": [], "errors": [], "fallback": []}

    say("== 1. The tutorials as written (input: a batch of 1 image, 1x28x28)")
    for name in nets.NETS:
        sentence = nets.diagnose(name).sentence()
        result["diagnoses"].append({"net": name, "diagnosis": sentence})
        say("   " + sentence)

    say(f"\n== 2. Corrected nets (x.flatten(1), Linear sized for the true features), exported to "
        f"{args.out}/ (opset {export.OPSET}, dynamic batch)")
    models, failed = [], False
    for name in nets.NETS:
        net = nets.corrected_net(name, seed=args.seed)
        linear = getattr(net, nets.FIRST_LINEAR[name])
        say(f"   {name}.{nets.FIRST_LINEAR[name]} = nn.Linear({linear.in_features}, {linear.out_features})")
        for exporter in export.EXPORTERS:
            try:
                models.append((name, exporter, net, export.export(net, name, exporter, args.out)))
            except export.ExportError as exc:
                print(f"   {exc}", file=sys.stderr)
                result["errors"].append(str(exc))
                failed = True

    say("\n== 3. The exported models")
    for name, exporter, _, path in models:
        line = report.one_line(f"{name}.{exporter}", onnx.load(path))
        result["exports"].append({"net": name, "exporter": exporter, "path": path, "summary": line})
        say("   " + line)

    say("\n== 4. Converted to a TensorFlow SavedModel and a TFLite model (graphkit convert)")
    converted, conversion_errors = _convert(models, args.out, say, result)
    failed = failed or conversion_errors

    say("\n== 5. refruntime (ref) vs onnxruntime (ort) vs the torch module vs TensorFlow (tf) vs TFLite (tflite), "
        "same seeded inputs")
    rows, errors, fallbacks = [], [], []
    for name, exporter, net, path in models:
        runners = compare.runtimes(path, net, converted.get(path))
        if getattr(runners["ref"], "fallback_ops", None):
            fallbacks.append(f"{name}.{exporter}: {', '.join(runners['ref'].fallback_ops)}")
        for batch in args.batch:
            x = compare.make_input(batch, seed=args.seed)
            measured = compare.run_interleaved(runners, x, repeats=args.repeats)
            rows += compare.compare_pairs(name, exporter, batch, measured, args.atol, args.rtol)
            errors += [f"{name}.{exporter} batch {batch}: {rt} failed: {msg}"
                       for rt, msg in measured.errors.items()]
    say(report.format_table(rows, args.atol, args.rtol, args.repeats))
    for line in errors:
        print("   " + line, file=sys.stderr)
    if fallbacks:
        say("   refruntime ran these ops through onnx.reference (no native kernel yet): " + "; ".join(fallbacks))
    passed = sum(r.result.ok for r in rows)
    ok = not failed and passed == len(rows) and bool(rows)
    seconds = time.perf_counter() - started
    if args.json:
        result["comparisons"] = [{"net": r.model, "exporter": r.exporter, "batch": r.batch, "pair": list(r.pair),
                                  "max_abs": _finite(r.result.max_abs), "max_rel": _finite(r.result.max_rel),
                                  "ok": r.result.ok, "note": r.result.note,
                                  "latency_ms": {k: v * 1e3 for k, v in r.latency.items()}} for r in rows]
        result.update(errors=result["errors"] + errors, fallback=fallbacks, passed=passed, total=len(rows),
                      ok=ok, seconds=seconds, atol=args.atol, rtol=args.rtol)
        print(json.dumps(result, indent=2))
        return 0 if ok else 1
    print(f"\n{'PASS' if ok else 'FAIL'}: {passed}/{len(rows)} comparisons within tolerance, "
          f"{len(models)}/{2 * len(nets.NETS)} exports; {seconds:.1f} s")
    return 0 if ok else 1


def _convert(models, out: str, say, result: dict) -> tuple[dict, bool]:
    """({onnx path: {"tf": ConversionResult, "tflite": ...}}, whether a conversion failed).
    Without TensorFlow: one line, nothing converted, nothing failed."""
    import os

    from graphkit.convert import tfenv

    result["conversions"] = []
    try:
        tfenv.tensorflow()
    except Exception as exc:  # noqa: BLE001 - not installed, or an install that cannot be imported
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        if not isinstance(exc, tfenv.TensorFlowMissing):
            reason = f"TensorFlow cannot be imported: {type(exc).__name__}: {reason}"
        say(f"   {reason.split(';')[0]}, so the tf and tflite rows are left out ({tfenv.INSTALL_HINT})")
        result["conversions"] = None
        return {}, False
    from graphkit.convert.api import to_saved_model, to_tflite

    converted, failed = {}, False
    for name, exporter, _, path in models:
        stem = os.path.join(out, f"{name}.{exporter}")
        for fmt, write, target in (("tf", to_saved_model, f"{stem}_savedmodel"), ("tflite", to_tflite, f"{stem}.tflite")):
            try:
                done = write(path, target)
            except Exception as exc:  # noqa: BLE001 - a failed conversion is a result to show
                message = f"{name}.{exporter} -> {fmt}: {type(exc).__name__}: {exc}"
                print(f"   {message}", file=sys.stderr)
                result["errors"].append(message)
                failed = True
                continue
            converted.setdefault(path, {})[fmt] = done
            result["conversions"].append({"net": name, "exporter": exporter, **done.to_json()})
            say(f"   {name}.{exporter}: {done.summary()}")
    return converted, failed


def _finite(x: float):
    import math

    return x if math.isfinite(x) else str(x)
