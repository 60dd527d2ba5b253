"""Start-up time of the `graphkit` command, measured as a user meets it: a new process each time.

    .venv/bin/python tools/bench_startup.py              # median of 7 runs per command
    .venv/bin/python tools/bench_startup.py --runs 15 --imports

Commands timed (hyperfine-like: one warm-up run, then --runs runs; median, min, max of the wall
time of the whole process):
- `graphkit --help`                  target <= 0.25 s (no numpy/onnx/refruntime import)
- `graphkit inspect SMALL.onnx`      target <= 0.6 s
- `graphkit run SimpleCNN.onnx`      target <= 1 s from a second process (numba's cache warm: the
                                     warm-up run fills it)
SimpleCNN is graphkit/demo/nets.py's net, exported once with torch into a temporary folder.
`--imports` adds `python -X importtime`'s slowest imports of each command (cumulative, top 12),
which is where start-up time goes. Numbers depend on the machine and its load: run it by hand,
never in a timed test.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = {"help": 0.25, "inspect": 0.6, "run": 1.0}


def graphkit_command() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "graphkit")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "graphkit.cli.main"]


def time_runs(argv: list[str], runs: int) -> list[float]:
    subprocess.run(argv, capture_output=True, check=False, cwd=ROOT)  # warm-up: disk cache, numba cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, check=False, cwd=ROOT)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return times


def slowest_imports(args: list[str], top: int = 12) -> list[tuple[float, str]]:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "graphkit.cli.main", *args],
                          capture_output=True, text=True, check=False, cwd=ROOT)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:"):].split("|")
        try:
            rows.append((int(parts[1]) / 1e6, parts[2].rstrip()))
        except (ValueError, IndexError):
            continue
    top_level = [(t, name.strip()) for t, name in rows if not name.startswith("   ")]  # depth <= 1
    return sorted(top_level, reverse=True)[:top]


def build_models(folder: str) -> dict[str, str]:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    small = os.path.join(folder, "small.onnx")
    w = numpy_helper.from_array(np.full((4, 3), 0.5, np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["m"], name="mm"),
                               helper.make_node("Relu", ["m"], ["y"], name="relu")], "small",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), small)
    cnn = os.path.join(folder, "simple_cnn.onnx")
    from graphkit.demo.nets import SimpleCNN
    from graphkit.verification.export import export_module

    export_module(SimpleCNN().eval(), (1, 1, 28, 28), cnn)
    return {"small": small, "cnn": cnn}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command (default 7)")
    parser.add_argument("--imports", action="store_true", help="also list the slowest imports of each command")
    args = parser.parse_args()
    gk = graphkit_command()
    with tempfile.TemporaryDirectory(prefix="graphkit-startup-") as tmp:
        models = build_models(tmp)
        cases = {"help": ["--help"], "inspect": ["inspect", models["small"]], "run": ["run", models["cnn"]]}
        print(f"{'command':<44}{'median':>9}{'min':>9}{'max':>9}{'target':>9}  (s, {args.runs} runs, {os.cpu_count()} cpus)")
        for key, extra in cases.items():
            times = time_runs([*gk, *extra], args.runs)
            median = statistics.median(times)
            verdict = "ok" if median <= TARGETS[key] else "OVER"
            label = "graphkit " + " ".join(os.path.basename(a) for a in extra)
            print(f"{label:<44}{median:>9.3f}{min(times):>9.3f}{max(times):>9.3f}{TARGETS[key]:>9.2f}  {verdict}")
        if args.imports:
            for key, extra in cases.items():
                print(f"\nslowest imports of `graphkit {' '.join(os.path.basename(a) for a in extra)}` (cumulative s):")
                for seconds, name in slowest_imports(extra):
                    print(f"  {seconds:7.3f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
