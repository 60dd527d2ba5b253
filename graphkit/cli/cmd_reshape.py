"""`graphkit reshape`: override input shapes or make the batch dimension symbolic.

    graphkit reshape model.onnx --batch dynamic -o model.dyn.onnx --verify    # dim 0 -> "batch"
    graphkit reshape model.onnx --batch 8 -o model.b8.onnx
    graphkit reshape model.onnx --shape input_ids=1,128 --shape attention_mask=1,128 -o fixed.onnx
    graphkit reshape model.onnx --shape x=N,3,H,W -o sym.onnx                  # names are symbolic dims

A new batch size rewrites the batch baked into Reshape/Expand targets where that is sound (a
Reshape to [1, 2048] after a batch-1 pooling becomes [0, 2048]: dim 0 copied from its input) and
refuses, naming the node, where the batch cannot follow (graphkit/surgery/shapes.py). Every shape
after the inputs is re-inferred (stale value_info is dropped), and onnx's strict shape inference
must accept the result. --verify runs the new model on refruntime and onnxruntime at two batch sizes
(the new batch when it is fixed) and compares each with the original model run sample by sample
(or, when --shape changed more than the batch, refruntime with onnxruntime).

Exit codes: 0 written; 1 --verify found a difference (nothing written); 2 bad input, or a model
whose shapes cannot be changed soundly (the node named).
"""
from __future__ import annotations

import json
import re
import sys

from graphkit.cli._transform import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK, output_path

HELP = "override input shapes or make the batch dynamic (rewrites baked batch sizes; --verify at two batches)"


def add_arguments(parser) -> None:
    parser.add_argument("model", help="the .onnx model")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--shape", action="append", metavar="NAME=D1,D2,...",
                      help="new shape of an input (repeatable); a name instead of a number is a symbolic dim")
    what.add_argument("--batch", metavar="N|dynamic", help="dim 0 of every data input: a number or 'dynamic'")
    parser.add_argument("--symbol", default="batch", help="name of the symbolic batch dim (default: batch)")
    parser.add_argument("-o", "--output", metavar="OUT.onnx", help="where to write the result")
    parser.add_argument("--in-place", action="store_true", help="overwrite MODEL (needed when -o is MODEL)")
    parser.add_argument("--verify", action="store_true",
                        help="run the result on refruntime and onnxruntime at two batch sizes against the original")
    parser.add_argument("--atol", type=float, default=None, help="absolute tolerance of --verify (default 1e-4)")
    parser.add_argument("--rtol", type=float, default=None, help="relative tolerance of --verify (default 1e-3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --verify's random inputs (default 0)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_shape(text: str) -> tuple[str, tuple]:
    """'x=1,3,H,W' -> ('x', (1, 3, 'H', 'W')): ints or symbol names."""
    from graphkit.errors import UsageError

    name, sep, dims = text.rpartition("=")
    parts = [d.strip() for d in dims.split(",")] if dims.strip() else []
    shape = []
    for d in parts:
        if d.isdigit():
            shape.append(int(d))
        elif _SYMBOL.fullmatch(d):
            shape.append(d)
        else:
            shape = None
            break
    if not sep or not name or shape is None:
        raise UsageError(f"--shape {text!r}: expected NAME=D1,D2,... with non-negative integers or symbol names")
    return name, tuple(shape)


def run(args) -> int:
    import graphkit as gk
    from graphkit.errors import UsageError, VerificationError
    from graphkit.summary import type_text

    out = output_path(args)
    if out is None:
        return EXIT_BAD_INPUT
    shapes = dict(parse_shape(s) for s in args.shape or [])
    batch = None
    if args.batch is not None:
        if args.batch != "dynamic" and not (args.batch.isdigit() and int(args.batch) > 0):
            raise UsageError(f"--batch {args.batch!r}: give a positive number or 'dynamic'")
        batch = args.batch if args.batch == "dynamic" else int(args.batch)
    if not _SYMBOL.fullmatch(args.symbol):
        raise UsageError(f"--symbol {args.symbol!r}: a name such as batch or N")

    model = gk.load(args.model)
    g = model.graph
    data = [v for v in g.inputs if g.initializers.get(v.name) is not v]
    unknown = sorted(set(shapes) - {v.name for v in data})
    if unknown:
        raise UsageError(f"--shape for unknown input(s) {', '.join(unknown)}; the model's inputs are "
                         f"{', '.join(v.name for v in data)}")
    for v in data:
        if v.name in shapes and v.shape is not None and len(v.shape) != len(shapes[v.name]):
            raise UsageError(f"--shape {v.name}={','.join(map(str, shapes[v.name]))} has rank {len(shapes[v.name])}, "
                             f"but the model declares {v.name}: {type_text(v.dtype, v.shape)}")
    original = model.to_proto()
    before = {v.name: v.shape for v in [*data, *g.outputs]}
    if batch is not None:
        shapes = {v.name: (batch if batch != "dynamic" else args.symbol, *v.shape[1:]) for v in data if v.shape}
    rewrites = _apply(model, data, shapes, args.symbol)
    _check_strict(model)

    verification = None
    if args.verify:
        try:
            verification = verify_reshape(args, original, model.to_proto(), [v.name for v in data])
        except VerificationError as exc:
            sys.stderr.write(f"graphkit reshape: verification failed: {exc}; nothing written\n")
            return EXIT_CHECK_FAILED
    gk.save(model, out)
    changed = [{"name": v.name, "before": _dims(before[v.name]), "after": _dims(v.shape)}
               for v in [*data, *g.outputs]]
    if args.json:
        print(json.dumps({"model": args.model, "output": out, "inputs": changed[:len(data)],
                          "outputs": changed[len(data):], "rewrites": rewrites, "verification": verification},
                         indent=2, default=str))
        return EXIT_OK
    for kind, rows in (("input ", changed[:len(data)]), ("output", changed[len(data):])):
        for row in rows:
            v = g.value(row["name"]) if kind == "input " else next(o for o in g.outputs if o.name == row["name"])
            print(f"{kind}  {row['name']}: {type_text(v.dtype, before[row['name']])} -> {type_text(v.dtype, v.shape)}")
    for r in rewrites:
        print(f"rewrote {r['op']} {r['node']!r}: target {r['from']} -> {r['to']}")
    if verification:
        errs = ", ".join(f"{k}: {e:.3g}" for k, e in verification["max_error"].items())
        print(f"verified on {', '.join(verification['runtimes'])} at batch {', '.join(map(str, verification['batches']))} "
              f"against {verification['reference']}: max error {errs}")
        for note in verification["notes"]:
            print(f"note: {note}")
    print(f"wrote {out}")
    return EXIT_OK


def _apply(model, data, shapes: dict, symbol: str) -> list[dict]:
    """Rewrite baked batch sizes when dim 0 changes, then declare the shapes."""
    import graphkit as gk

    moved = [v.name for v in data if v.name in shapes and v.shape and shapes[v.name][0] != v.shape[0]]
    rewrites = gk.make_batch_symbolic(model, symbol, inputs=moved) if moved else []
    for name, shape in shapes.items():
        gk.set_input_shape(model, name, shape)
    return rewrites


def _check_strict(model) -> None:
    """onnx's strict shape inference must accept the result; its complaint names the node."""
    import onnx

    from graphkit.errors import GraphError
    from graphkit.shape_inference import infer_shapes

    try:
        infer_shapes(model.to_proto(), strict_mode=True, data_prop=True)
    except onnx.shape_inference.InferenceError as exc:
        text = " ".join(str(exc).split())
        raise GraphError(f"the new shapes do not fit the graph: {text[:400]}") from None
    import math

    import numpy as np

    from graphkit.surgery._util import inferred_types, label, static_shape

    types = inferred_types(model)
    for node in model.graph:  # onnx's inference does not count a Reshape's elements
        if node.op_type != "Reshape" or len(node.inputs) < 2 or node.inputs[1] is None:
            continue
        target = node.inputs[1].const_value
        shape = static_shape(node.inputs[0], types) if node.inputs[0] is not None else None
        if target is None or shape is None:
            continue
        dims = [int(d) for d in np.asarray(target.numpy()).reshape(-1)]
        if any(d <= 0 for d in dims):
            continue
        if math.prod(dims) != math.prod(shape):
            raise GraphError(f"the new shapes do not fit the graph: node {label(node)!r} (Reshape) cannot make "
                             f"{math.prod(shape)} values of shape {list(shape)} into {dims}")


def _dims(shape) -> list | None:
    return None if shape is None else [("?" if d is None else d) for d in shape]


def verify_reshape(args, original, reshaped, inputs: list[str]) -> dict:
    """The reshaped model against the original, on refruntime and onnxruntime (VerificationError on
    a difference). A symbolic batch is tried at 2 and 3 times the original batch; a fixed one at its
    size. The expected outputs are the original model's, run on each slice of its own batch size
    and concatenated, when only the batch changed; otherwise the two runtimes are compared."""
    import numpy as np

    from graphkit.cli._transform import _first_line, _run
    from graphkit.errors import VerificationError
    from graphkit.passes.check import ATOL, RTOL, verify_equivalent_outputs
    from graphkit.verification.feeds import prepare_feeds
    from graphkit.verification.graph import with_input_shapes

    atol = ATOL if args.atol is None else args.atol
    rtol = RTOL if args.rtol is None else args.rtol
    old = {vi.name: _proto_dims(vi) for vi in original.graph.input if vi.name in inputs}
    new = {vi.name: _proto_dims(vi) for vi in reshaped.graph.input if vi.name in inputs}
    old_batch = {d[0] for d in old.values() if d and isinstance(d[0], int)}
    step = old_batch.pop() if len(old_batch) == 1 else 1
    fixed = {d[0] for d in new.values() if d and isinstance(d[0], int)}
    batches = sorted(fixed) if fixed else [2 * step, 3 * step]
    same_rest = all(_fill(old[n])[1:] == _fill(new[n])[1:] for n in inputs if old[n] and new[n])
    result = {"runtimes": [], "batches": batches, "max_error": {}, "notes": [],
              "reference": "the original model, batch by batch" if same_rest else "refruntime vs onnxruntime"}
    for runtime in ("ref", "ort"):
        try:
            for k in batches:
                shapes = {n: (k, *_fill(new[n])[1:]) for n in inputs if new[n]}
                feeds = prepare_feeds(with_input_shapes(reshaped, shapes), None, args.seed, shapes).feeds
                got = _run(args.model, with_input_shapes(reshaped, shapes), feeds, runtime)
                if same_rest and k % step == 0:
                    parts = [_run(args.model, original, {n: v[i:i + step] for n, v in feeds.items()}, runtime)
                             for i in range(0, k, step)]
                    expected = {n: np.concatenate([p[n] for p in parts]) for n in parts[0]}
                elif runtime == "ort" and "ref" in result["runtimes"]:
                    expected = _run(args.model, with_input_shapes(reshaped, shapes), feeds, "ref")
                else:
                    continue
                checked = verify_equivalent_outputs(expected, got, runtime, list(expected), atol, rtol,
                                                    f"the new shapes (batch {k})")
                for n, e in checked["max_error"].items():
                    result["max_error"][n] = max(e, result["max_error"].get(n, 0.0))
            result["runtimes"].append(runtime)
        except VerificationError:
            raise
        except Exception as exc:  # noqa: BLE001 - a runtime that cannot run it is noted
            result["notes"].append(f"{runtime} could not run it: {type(exc).__name__}: {_first_line(exc)}")
    if not result["runtimes"]:
        raise VerificationError("no runtime could run the models (" + "; ".join(result["notes"]) + ")")
    return result


def _proto_dims(vi) -> list | None:
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]


def _fill(dims) -> tuple:
    return tuple(d if isinstance(d, int) and d > 0 else 1 for d in (dims or ()))
