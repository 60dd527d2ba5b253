"""Peak memory of refruntime against onnxruntime (a benchmark, not a test).

    .venv/bin/python tools/bench_memory.py                     # light VGG19, batch 1
    .venv/bin/python tools/bench_memory.py --model light_resnet50 --batch 2

The light zoo model's ConstantOfShape weights are folded first (`graphkit.fold_constants`) and the
weights taken out of the graph inputs (these IR-3 models list them as inputs too, which would make
ORT treat them as overridable feeds); the result is saved once to a temporary file that every
runtime loads (weights inline, or with --external-data in a file next to it). Each row is a fresh subprocess that loads that file, builds one random input, runs
once and reports its own peak RSS (ru_maxrss: native allocations and memory maps count, as the
operating system sees them):

- python + imports: the interpreter with numpy, onnx and refruntime/onnxruntime imported (the floor);
- refruntime: `Session(path).run(feeds)`: each intermediate freed after its last consumer;
- refruntime capture="all": every intermediate kept (what "mark all layers" costs);
- refruntime --dump: every intermediate written to .npy as it is produced (refruntime/dump.py);
- onnxruntime: CPU provider, 2 intra-op threads, default graph optimizations.

"1st run s" is the one timed call (refruntime's includes numba's JIT or cache load; see
tools/bench_runtime.py for latency).
"model MB" is the weights; "values MB" the sum of all intermediates the run produced.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import onnx.backend.test

LIGHT = os.path.join(os.path.dirname(onnx.backend.test.__file__), "data", "light")

_PRELUDE = r"""
import json, resource, sys, time
import numpy as np
path, batch, mode, out_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

def feeds(model):
    inits = {t.name for t in model.graph.initializer}
    vi = [i for i in model.graph.input if i.name not in inits][0]
    shape = [d.dim_value or 1 for d in vi.type.tensor_type.shape.dim]
    shape[0] = batch
    return {vi.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}

def report(seconds, **extra):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({"peak_bytes": peak, "seconds": seconds, **extra}))
"""

SCRIPTS = {
    "floor-ref": _PRELUDE + r"""
import onnx, refruntime
report(0.0)
""",
    "floor-ort": _PRELUDE + r"""
import onnx, onnxruntime
report(0.0)
""",
    "ref": _PRELUDE + r"""
from refruntime import Session
s = Session(path); f = feeds(s.model)
t = time.perf_counter(); s.run(f); report(time.perf_counter() - t)
""",
    "ref-capture": _PRELUDE + r"""
from refruntime import Session
s = Session(path); f = feeds(s.model)
t = time.perf_counter(); out = s.run(f, capture="all"); seconds = time.perf_counter() - t
report(seconds, values_bytes=sum(v.nbytes for v in out.values() if isinstance(v, np.ndarray)))
""",
    "ref-dump": _PRELUDE + r"""
from refruntime import Session
from refruntime.dump import dump_intermediates
s = Session(path); f = feeds(s.model)
t = time.perf_counter(); m = dump_intermediates(s, f, out_dir); seconds = time.perf_counter() - t
report(seconds, values_bytes=m["bytes"], values=m["count"])
""",
    "ort": _PRELUDE + r"""
import onnx, onnxruntime as ort
s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])  # default options, as users run it
f = feeds(onnx.load(path, load_external_data=False))
t = time.perf_counter(); s.run(None, f); report(time.perf_counter() - t)
""",
}

ROWS = [("python + numpy/onnx/refruntime imports", "floor-ref"),
        ("python + numpy/onnx/onnxruntime imports", "floor-ort"),
        ("refruntime Session.run", "ref"),
        ("onnxruntime (default options)", "ort"),
        ('refruntime Session.run(capture="all")', "ref-capture"),
        ("refruntime --dump (streamed .npy)", "ref-dump")]


_PREPARE = r"""
import sys
import graphkit as gk
from graphkit.passes import Prune
from graphkit.passes.api import run_pass
source, path, external = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
model = gk.load(source)
gk.fold_constants(model, size_limit=2e9)  # VGG19's fc6 weight is 411 MB
run_pass(Prune(identities=False, dropout=False, dedupe=False), model)  # weights: not inputs
gk.save(model, path, external_data=external)
"""


def prepare(name: str, out_dir: str, external_data: bool = False) -> str:
    """Fold the light model's constants, drop its weights from the graph inputs, save it once.

    In a subprocess: Linux keeps a process's peak RSS across fork and exec, so this process must
    stay small for its children's ru_maxrss to be theirs."""
    path = os.path.join(out_dir, f"{name}.folded.onnx")
    out = subprocess.run([sys.executable, "-c", _PREPARE, os.path.join(LIGHT, f"{name}.onnx"), path,
                          "1" if external_data else "0"],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"folding {name} failed:\n{out.stderr}")
    return path


def measure(mode: str, path: str, batch: int, work_dir: str) -> dict:
    dump_dir = os.path.join(work_dir, f"dump-{mode}")
    out = subprocess.run([sys.executable, "-c", SCRIPTS[mode], path, str(batch), mode, dump_dir],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="light_vgg19", help="a light zoo model name (default light_vgg19)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--external-data", action="store_true",
                        help="save the weights next to the model (refruntime memory-maps them) instead of inline")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as work:
        path = prepare(args.model, work, args.external_data)
        model_bytes = sum(os.path.getsize(os.path.join(work, f)) for f in os.listdir(work))
        results = {mode: measure(mode, path, args.batch, work) for _, mode in ROWS}
    values = results["ref-capture"]["values_bytes"]
    mb = 1 << 20
    layout = "external data" if args.external_data else "inline weights"
    print(f"{args.model}, batch {args.batch}: model {model_bytes / mb:.0f} MB ({layout}), all intermediates "
          f"{values / mb:.0f} MB ({results['ref-dump']['values']} values)")
    print(f"{'':<44}{'peak RSS MB':>12}{'1st run s':>10}")
    for label, mode in ROWS:
        r = results[mode]
        run = f"{r['seconds']:.2f}" if r["seconds"] else ""
        print(f"{label:<44}{r['peak_bytes'] / mb:>12.0f}{run:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
