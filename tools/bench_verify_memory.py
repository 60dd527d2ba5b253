"""Peak memory of `graphkit verify --per-node` next to a plain onnxruntime run (a benchmark, not a test).

Each measurement runs in a fresh subprocess and reports its own peak RSS (ru_maxrss), so ORT's
native allocations count too. Polygraphy's "mark every layer as an output" is shown for contrast.

    .venv/bin/python tools/bench_verify_memory.py [--model light_vgg19]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

import onnx

LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")

_PRELUDE = """
import resource, sys, numpy as np, onnx, onnxruntime as ort
path = sys.argv[1]
def feeds(model):
    inits = {t.name for t in model.graph.initializer}
    vi = [i for i in model.graph.input if i.name not in inits][0]
    shape = [d.dim_value or 1 for d in vi.type.tensor_type.shape.dim]
    return {vi.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
def ort_session(model):
    opts = ort.SessionOptions(); opts.intra_op_num_threads = 2
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
"""

SCRIPTS = {
    "plain ORT run": _PRELUDE + """
m = onnx.load(path); ort_session(m).run(None, feeds(m))
""",
    "ORT, every value marked as an output (Polygraphy's 'mark all')": _PRELUDE + """
m = onnx.load(path)
known = {o.name for o in m.graph.output}
for n in m.graph.node:
    for o in n.output:
        if o and o not in known:
            m.graph.output.append(onnx.ValueInfoProto(name=o)); known.add(o)
ort_session(m).run(None, feeds(m))
""",
    "graphkit verify --runtimes ort,ort-noopt --per-node": """
import sys
from graphkit.cli.main import main
main(["verify", sys.argv[1], "--runtimes", "ort,ort-noopt", "--per-node"])
""",
    "graphkit verify --runtimes ref,ort --per-node": """
import sys
from graphkit.cli.main import main
main(["verify", sys.argv[1], "--runtimes", "ref,ort", "--per-node"])
""",
}

_REPORT = "\nimport resource\nprint('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"


def peak_mib(script: str, model: str) -> float:
    done = subprocess.run([sys.executable, "-c", script + _REPORT, model], capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("PEAK_KB"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"measurement failed:\n{done.stderr[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="light_vgg19", help="a light-zoo model name (default light_vgg19)")
    args = parser.parse_args()
    model = os.path.join(LIGHT, f"{args.model}.onnx")
    rows = [(label, peak_mib(script, model)) for label, script in SCRIPTS.items()]
    base = rows[0][1]
    print(f"peak RSS on {args.model}, batch 1 (fresh subprocess each)")
    for label, mib in rows:
        print(f"  {label:<66}{mib:>8.0f} MiB  {mib / base:>5.2f}x plain ORT")
    return 0


if __name__ == "__main__":
    sys.exit(main())
