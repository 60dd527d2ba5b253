"""`graphkit run`: run a model on refruntime and describe its outputs.

    graphkit run model.onnx                                  # random inputs, seed 0
    graphkit run model.onnx --shape x=1,3,224,224 --seed 3   # fill symbolic dims
    graphkit run model.onnx --inputs feeds.npz --save-outputs out.npz --profile
    graphkit run model.onnx --dump dump/                     # every intermediate as .npy + manifest.json

Random inputs follow each input's dtype and shape: floats are standard normal, integers are drawn
from [0, 10), booleans are fair coins; symbolic or unknown dims take their --shape value or 1.
Prints each output's name, shape, dtype and min/max/mean, and the nodes that ran on the
onnx.reference fallback. --dump writes each intermediate as it is produced (refruntime/dump.py),
so memory stays that of a plain run; a non-empty folder is refused unless --force.
"""
from __future__ import annotations

HELP = "run a model on refruntime (random or .npz inputs) and summarize its outputs"
MAX_RANDOM_INPUT_BYTES = 1 << 31  # a model declaring a huge input must not make us allocate it


def add_arguments(parser) -> None:
    parser.add_argument("model", help="the .onnx model")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--inputs", metavar="FILE.npz", help="input arrays by input name")
    source.add_argument("--random", action="store_true", help="random inputs (the default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    parser.add_argument("--shape", action="append", default=[], metavar="NAME=D1,D2,...",
                        help="shape of a random input (repeatable); fills symbolic dims")
    parser.add_argument("--save-outputs", metavar="FILE.npz", help="write the outputs to an .npz file")
    parser.add_argument("--profile", action="store_true", help="print per-op timings")
    parser.add_argument("--dump", metavar="DIR", help="write every intermediate to DIR as .npy, with manifest.json "
                        "(node, op, shape, dtype, min/max/mean, NaN/Inf counts); streamed, not kept in memory")
    parser.add_argument("--force", action="store_true", help="with --dump: write into DIR even if it is not empty")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--no-strict", dest="strict", action="store_false",
                        help="run a model whose declared types disagree with its ops (the spec rejects it)")


def parse_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """'x=1,3,224,224' -> ('x', (1, 3, 224, 224)); UsageError if malformed."""
    from graphkit.errors import UsageError

    name, sep, dims = text.rpartition("=")
    try:
        shape = tuple(int(d) for d in dims.replace("x", ",").split(",") if d.strip()) if dims.strip() else ()
    except ValueError:
        shape = None
    if not sep or not name or shape is None or any(d < 0 for d in shape):
        raise UsageError(f"--shape {text!r}: expected NAME=D1,D2,... with non-negative integers")
    return name, shape


def random_feeds(specs, shapes: dict, seed: int) -> dict:
    """Random arrays for the required inputs of `specs` (refruntime InputSpecs)."""
    import numpy as np

    from graphkit.errors import UsageError

    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in specs:
        if spec.optional:
            continue
        if spec.dtype is None:
            raise UsageError(f"input {spec.name!r} is not a tensor of known dtype; pass it with --inputs")
        if spec.name in shapes:
            shape = shapes[spec.name]
            if spec.shape is not None and len(shape) != len(spec.shape):
                raise UsageError(f"--shape {spec.name}: rank {len(shape)} but the model declares rank "
                                 f"{len(spec.shape)} ({spec.describe()})")
        else:
            shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in (spec.shape or ()))
        dtype = spec.dtype
        nbytes = dtype.itemsize
        for d in shape:
            nbytes *= d
        if nbytes > MAX_RANDOM_INPUT_BYTES:
            raise UsageError(f"input {spec.name!r} of shape {shape} would need {nbytes} bytes of random data "
                             f"(limit {MAX_RANDOM_INPUT_BYTES}); pass a smaller --shape or --inputs")
        if dtype.kind == "f" or dtype.name in ("bfloat16",) or dtype.name.startswith("float8"):
            value = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind in "iu":
            value = rng.integers(0, 10, size=shape).astype(dtype)
        elif dtype.kind == "b":
            value = rng.random(shape) < 0.5
        elif dtype.kind == "c":
            value = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
        else:
            raise UsageError(f"input {spec.name!r} has dtype {dtype}; pass it with --inputs")
        feeds[spec.name] = value
    return feeds


def npz_feeds(path: str, specs) -> dict:
    import numpy as np

    from graphkit.errors import UsageError

    try:
        with np.load(path, allow_pickle=False) as data:
            feeds = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise UsageError(f"--inputs {path}: file not found") from None
    except Exception as exc:  # noqa: BLE001 - zip/npy errors come in many types
        raise UsageError(f"--inputs {path}: not a readable .npz file ({exc})") from None
    known = {s.name for s in specs}
    missing = [s.describe() for s in specs if not s.optional and s.name not in feeds]
    if missing:
        raise UsageError(f"--inputs {path} lacks input(s) {', '.join(missing)}; it has {sorted(feeds)}")
    unknown = sorted(set(feeds) - known)
    if unknown:
        raise UsageError(f"--inputs {path} has arrays {unknown} that are not model inputs ({sorted(known)})")
    return feeds


def describe(name: str, value) -> dict:
    import numpy as np

    if not isinstance(value, np.ndarray):
        return {"name": name, "type": type(value).__name__}
    out = {"name": name, "shape": list(value.shape), "dtype": str(value.dtype)}
    if value.size and (value.dtype.kind in "fiub"):
        v = value.astype(np.float64) if value.dtype.kind == "b" else value
        out.update(min=float(np.min(v)), max=float(np.max(v)), mean=float(np.mean(v, dtype=np.float64)))
    return out


def run(args) -> int:
    import json
    import os

    import numpy as np

    from refruntime import Session

    if args.force and not args.dump:
        from graphkit.errors import UsageError

        raise UsageError("--force only applies to --dump DIR")
    shapes = dict(parse_shape(s) for s in args.shape)
    session = Session(args.model, strict=args.strict)
    specs = session.input_specs
    unknown = sorted(set(shapes) - {s.name for s in specs})
    if unknown:
        from graphkit.errors import UsageError

        raise UsageError(f"--shape for unknown input(s) {unknown}; inputs are {[s.name for s in specs]}")
    feeds = npz_feeds(args.inputs, specs) if args.inputs else random_feeds(specs, shapes, args.seed)
    dump = None
    if args.dump:
        from refruntime.dump import DumpWriter

        writer = DumpWriter(args.dump, overwrite=args.force)
        outputs = writer.run(session, feeds, profile=args.profile)
        dump = {"dir": args.dump, "values": writer.manifest["count"], "bytes": writer.manifest["bytes"],
                "manifest": os.path.join(args.dump, "manifest.json")}
    else:
        outputs = session.run(feeds, profile=args.profile)
    described = [describe(k, v) for k, v in outputs.items()]
    fallback = session.fallback_nodes()
    if args.save_outputs:
        arrays = {k: v for k, v in outputs.items() if isinstance(v, np.ndarray)}
        np.savez(args.save_outputs, **arrays)
    if args.json:
        result = {"model": args.model, "inputs": [describe(k, v) for k, v in feeds.items()],
                  "outputs": described, "fallback_nodes": fallback}
        if dump is not None:
            result["dump"] = dump
        if args.profile and session.last_profile is not None:
            result["profile"] = session.last_profile.to_json()
        print(json.dumps(result, indent=2))
        return 0
    source = f"from {args.inputs}" if args.inputs else f"random, seed {args.seed}"
    for d in (describe(k, v) for k, v in feeds.items()):
        print(f"input   {d['name']}: {d.get('dtype', d.get('type'))}{d.get('shape', '')}  ({source})")
    for d in described:
        line = f"output  {d['name']}: {d.get('dtype', d.get('type'))}{d.get('shape', '')}"
        if "min" in d:
            line += f"  min {d['min']:.6g}  max {d['max']:.6g}  mean {d['mean']:.6g}"
        print(line)
    print(f"fallback (onnx.reference): {', '.join(fallback) if fallback else 'none'}")
    if args.profile and session.last_profile is not None:
        print(session.last_profile.table())
    if args.save_outputs:
        print(f"saved outputs to {args.save_outputs}")
    if dump is not None:
        print(f"dumped {dump['values']} values ({dump['bytes'] / 1e6:.1f} MB) to {dump['dir']} "
              f"(index: {dump['manifest']})")
    return 0
