"""`graphkit run`: run a model on refruntime and describe its outputs.

    graphkit run model.onnx                                        # random inputs, seed 0
    graphkit run model.onnx --shape x=1,3,224,224 --val-range x:[0,1] --save-inputs in.npz
    graphkit run model.onnx --inputs in.npz --load-outputs golden.npz --atol 1e-4
    graphkit run model.onnx --check-finite                         # exit 1 at the node where NaN/Inf starts
    graphkit run model.onnx --profile --warmup 3 --iterations 20   # warm medians per op
    graphkit run model.onnx --dump dump/                           # every intermediate as .npy + manifest.json

Inputs (graphkit/verification/feeds.py, shared with `verify`): random values follow each input's
dtype and shape (floats N(0,1), integers 0..9, or 0..rows-1 for indices into a table, booleans
fair coins; `--val-range` changes them); `--shape` fills symbolic dims or overrides the declared
shape (and given `--inputs` must have it). Prints each output's name, type and min/max/mean, and
the nodes that ran on the onnx.reference fallback. `--load-outputs` compares with saved outputs
using verify's tolerances (exit 1 on a mismatch). `--dump` writes each intermediate as it is
produced (refruntime/dump.py), so memory stays that of a plain run; a non-empty folder is refused
unless --force. `--timeout` bounds each run (default 600 s, never unbounded): past it the run stops
with a LimitError naming the node it was running (refruntime/deadline.py), and a node stuck in C
code that does not return within HARD_EXIT_GRACE more seconds ends the process with that one line.
"""
from __future__ import annotations

HELP = "run a model on refruntime (random or saved inputs) and summarize or check its outputs"
EXIT_OK, EXIT_CHECK_FAILED = 0, 1
DEFAULT_TIMEOUT = 600.0  # seconds per run: generous for any model this tool runs, never unbounded
HARD_EXIT_GRACE = 10.0   # then a node that still has not returned (stuck in C code) ends the process


def add_timeout_argument(parser) -> None:
    """`--timeout SECONDS` of the commands that run refruntime (run, verify)."""
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"stop a refruntime run that takes longer, naming the node it was running (exit 2; "
                             f"default {DEFAULT_TIMEOUT:g}); a node stuck in C code ends the process "
                             f"{HARD_EXIT_GRACE:g} s later")


def check_timeout(args) -> None:
    import math

    from graphkit.errors import UsageError

    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise UsageError(f"--timeout must be a positive number of seconds, got {args.timeout:g}")


def add_arguments(parser) -> None:
    from graphkit.cli._inputs import add_input_arguments, add_tolerance_arguments

    parser.add_argument("model", help="the .onnx model")
    add_input_arguments(parser)
    parser.add_argument("--random", action="store_true", help="random inputs (the default without --inputs)")
    add_tolerance_arguments(parser, atol_help="absolute tolerance of --load-outputs (default per dtype: "
                                              "float32 1e-5, float16 1e-3)",
                            rtol_help="relative tolerance of --load-outputs (default per dtype: float32 1e-4, "
                                      "float16 1e-2)")
    parser.add_argument("--save-outputs", metavar="FILE.npz", help="write the outputs to an .npz file")
    parser.add_argument("--check-finite", action="store_true",
                        help="stop at the first node that turns finite inputs into NaN/Inf; name it and exit 1")
    parser.add_argument("--profile", action="store_true",
                        help="per-op timings: warm medians, the first (cold) call reported apart")
    parser.add_argument("--warmup", type=int, default=2, metavar="N",
                        help="with --profile: untimed runs after the first call (default 2)")
    parser.add_argument("--iterations", type=int, default=10, metavar="N",
                        help="with --profile: timed runs whose medians are reported (default 10)")
    parser.add_argument("--dump", metavar="DIR", help="write every intermediate to DIR as .npy, with manifest.json "
                        "(node, op, shape, dtype, min/max/mean, NaN/Inf counts); streamed, not kept in memory")
    parser.add_argument("--force", action="store_true", help="with --dump: write into DIR even if it is not empty")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--no-strict", dest="strict", action="store_false",
                        help="run a model whose declared types disagree with its ops (the spec rejects it)")
    add_timeout_argument(parser)


def parse_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """'x=1,3,224,224' -> ('x', (1, 3, 224, 224)) (graphkit.verification.feeds.parse_shape)."""
    from graphkit.verification.feeds import parse_shape as parse

    return parse(text)


def random_feeds(specs, shapes: dict, seed: int) -> dict:
    """Random arrays for the required inputs of `specs` (refruntime InputSpecs), as `run` makes them
    (kept for scripts; `graphkit.verification.feeds.prepare_feeds` is the implementation)."""
    from onnx import TensorProto, helper

    from graphkit.verification.feeds import make_feeds
    from refruntime.dtypes import to_onnx_elem_type

    inputs = []
    for s in specs:
        if s.optional:
            continue
        elem = to_onnx_elem_type(s.dtype) if s.dtype is not None else TensorProto.UNDEFINED
        inputs.append(helper.make_tensor_value_info(s.name, elem, None if s.shape is None else list(s.shape)))
    model = helper.make_model(helper.make_graph([], "inputs", inputs, []))
    return make_feeds(model, None, seed, shapes)


def describe(name: str, value) -> dict:
    import numpy as np

    if not isinstance(value, np.ndarray):
        from graphkit.values import describe as describe_value

        return {"name": name, "type": type(value).__name__, "value": describe_value(value)}
    out = {"name": name, "shape": list(value.shape), "dtype": str(value.dtype)}
    if value.size and (value.dtype.kind in "fiub"):
        v = value.astype(np.float64) if value.dtype.kind == "b" else value
        finite = v if v.dtype.kind not in "f" else v[np.isfinite(v)]
        if finite.size:
            out.update(min=float(np.min(finite)), max=float(np.max(finite)),
                       mean=float(np.mean(finite, dtype=np.float64)))
        if v.dtype.kind == "f":
            nan = int(np.count_nonzero(np.isnan(v)))
            inf = int(v.size - finite.size - nan)
            if nan or inf:
                out.update(nan=nan, inf=inf)
    return out


def _check_arguments(args) -> None:
    from graphkit.errors import UsageError

    if args.force and not args.dump:
        raise UsageError("--force only applies to --dump DIR")
    if args.random and args.inputs:
        raise UsageError("--random and --inputs exclude each other")
    if args.warmup < 0 or args.iterations < 1:
        raise UsageError("--warmup must be >= 0 and --iterations >= 1")
    check_timeout(args)


def run(args) -> int:
    import json
    import os

    from graphkit.cli import _inputs
    from graphkit.summary import type_text

    _check_arguments(args)
    request = _inputs.check_inputs(args, writes=("save_outputs",))
    writer = None
    if args.dump:  # its folder is checked (and made) before any work
        from refruntime.dump import DumpWriter

        writer = DumpWriter(args.dump, overwrite=args.force)
    proto = _inputs.load_model_proto(args.model)
    shaped, prepared = _inputs.prepare(args, proto, request)
    feeds = prepared.feeds
    notes = list(prepared.notes)
    if request.golden is not None:
        notes += _inputs.check_golden_names(request.golden, [o.name for o in shaped.graph.output], args.load_outputs)

    from refruntime import Session
    from refruntime.errors import NonFiniteError

    session = Session(_inputs.ModelFile(shaped, args.model), strict=args.strict, max_seconds=args.timeout)
    session.hard_exit_after = HARD_EXIT_GRACE
    result: dict = {"model": args.model}
    nonfinite = None
    try:
        if writer is not None:
            try:
                outputs = writer.run(session, feeds, profile=args.profile, check_finite=args.check_finite)
            finally:
                if writer.manifest is not None:
                    result["dump"] = {"dir": args.dump, "values": writer.manifest["count"],
                                      "bytes": writer.manifest["bytes"],
                                      "manifest": os.path.join(args.dump, "manifest.json")}
        else:
            outputs = session.run(feeds, profile=args.profile, check_finite=args.check_finite)
    except NonFiniteError as exc:
        nonfinite = {"node": exc.node_name, "op": exc.op_type, "message": str(exc)}
        outputs = {}
    if args.profile and nonfinite is None:
        result["profile"] = _profile(session, feeds, args.warmup, args.iterations)
    described = [describe(k, v) for k, v in outputs.items()]
    if args.save_outputs and nonfinite is None:

        from graphkit.values import to_npz
        from graphkit.verification.feeds import save_feeds

        save_feeds(args.save_outputs, to_npz(outputs))  # sequences and maps under derived names
    report = None
    if request.golden is not None and nonfinite is None:
        report = _inputs.golden_report(args.model, args.load_outputs, request.golden, outputs,
                                       _inputs.tolerances(args, shaped.graph))
        report.notes.extend(notes)
    failed = nonfinite is not None or (report is not None and not report.passed)
    result.update({"inputs": [{**describe(k, v), "source": prepared.sources.get(k)} for k, v in feeds.items()],
                   "outputs": described, "fallback_nodes": session.fallback_nodes(),
                   "check_finite": None if not args.check_finite else
                   ({"ok": True, "node": None, "op": None, "message": None} if nonfinite is None
                    else {"ok": False, **nonfinite}),
                   "golden": None if report is None else report.to_dict(),
                   "notes": notes, "exit_code": EXIT_CHECK_FAILED if failed else EXIT_OK})
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return result["exit_code"]
    for d in result["inputs"]:
        print(f"input   {d['name']}: {type_text(d.get('dtype', d.get('type')), d.get('shape'))}  ({d['source']})")
    for d in described:
        line = (f"output  {d['name']}: {d['value']}" if "value" in d else
                f"output  {d['name']}: {type_text(d.get('dtype', d.get('type')), d.get('shape'))}")
        if "min" in d:
            line += f"  min {d['min']:.6g}  max {d['max']:.6g}  mean {d['mean']:.6g}"
        if d.get("nan") or d.get("inf"):
            line += f"  NaN {d.get('nan', 0)}  Inf {d.get('inf', 0)}"
        print(line)
    fallback = result["fallback_nodes"]
    print(f"fallback (onnx.reference): {', '.join(fallback) if fallback else 'none'}")
    if "profile" in result:
        print(_profile_text(result["profile"]))
    if args.save_outputs and nonfinite is None:
        print(f"saved outputs to {args.save_outputs}")
    if args.save_inputs:
        print(f"saved inputs to {args.save_inputs}")
    if "dump" in result:
        dump = result["dump"]
        print(f"dumped {dump['values']} values ({dump['bytes'] / 1e6:.1f} MB) to {dump['dir']} "
              f"(index: {dump['manifest']})")
    if report is not None:
        print(_inputs.golden_table(report))
    else:
        for note in notes:
            print(f"note: {note}")
    if nonfinite is not None:
        print(f"check-finite: FAILED: {nonfinite['message']}")
    elif args.check_finite:
        print("check-finite: ok (no NaN or Inf produced)")
    elif any(d.get("nan") or d.get("inf") for d in described):
        print("note: outputs hold NaN/Inf; --check-finite names the node where they start")
    return result["exit_code"]


def _profile(session, feeds: dict, warmup: int, iterations: int) -> dict:
    """The first (cold) call's profile, then warm medians: per node over `iterations` profiled
    runs (the unfused steps, so every node is timed), and the wall time of plain runs (the fused
    fast path a user's session takes)."""
    import statistics
    import time

    from refruntime.executor import ProfileRecord
    from refruntime.profile import Profile

    first = session.last_profile
    for _ in range(warmup):
        session.run(feeds)
    wall = []
    for _ in range(iterations):
        start = time.perf_counter()
        session.run(feeds)
        wall.append(time.perf_counter() - start)
    runs = []
    for _ in range(iterations):
        session.run(feeds, profile=True)
        runs.append(session.last_profile.records)
    medians = [ProfileRecord(r.node, r.op_type, r.kernel, statistics.median(x[i].seconds for x in runs),
                             r.output_bytes) for i, r in enumerate(runs[0])]
    warm = Profile(medians).to_json()
    return {"warmup": warmup, "iterations": iterations,
            "first_call_ms": first.total_seconds * 1e3 if first is not None else None,
            "first_call": first.to_json() if first is not None else None,
            "run_ms": {"median": statistics.median(wall) * 1e3, "min": min(wall) * 1e3, "max": max(wall) * 1e3},
            **warm}


def _profile_text(p: dict) -> str:
    lines = [(f"profile: first call {p['first_call_ms']:.3f} ms (cold: imports, JIT caches, first allocations); "
             f"warm: median {p['run_ms']['median']:.3f} ms per run (min {p['run_ms']['min']:.3f}) over "
             f"{p['iterations']} runs after {p['warmup']} warm-up"),
             f"per op: medians of {p['iterations']} profiled runs (each node timed alone, unfused)",
             f"{'op':<24}{'kernel':<10}{'count':>6}{'ms':>10}{'%':>7}{'first ms':>10}"]
    total = p["total_ms"] or 1e-12
    first = {(o["op"], o["kernel"]): o["ms"] for o in (p["first_call"] or {}).get("ops", [])}
    for o in p["ops"][:15]:
        lines.append(f"{o['op']:<24}{o['kernel']:<10}{o['count']:>6}{o['ms']:>10.3f}{100 * o['ms'] / total:>7.1f}"
                     f"{first.get((o['op'], o['kernel']), float('nan')):>10.3f}")
    lines.append(f"{'total':<40}{p['total_ms']:>10.3f}{'':>7}{p['first_call_ms'] or float('nan'):>10.3f}")
    return "\n".join(lines)
