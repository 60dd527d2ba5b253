"""Peak memory of graphkit's load/save with large external-data weights (a benchmark, not a test).

Run through tools/bench_graphkit.py (`--memory`, `--big-save`); usable alone too:

    python tools/bench_graphkit_memory.py               # ~1 GiB load table, then the ~2.1 GiB save
    python tools/bench_graphkit_memory.py --weights-gib 0.25 --no-big-save

Every measurement runs in a fresh Python subprocess and reports its peak RSS (VmHWM) next to its
RSS right after the imports. Not `getrusage(RUSAGE_SELF).ru_maxrss`: on Linux that keeps the peak
of the image before exec, i.e. of this (parent) process -- subprocess forks/vforks then execs -- so a
child would report at least the parent's RSS. W is the total size of the weights.
Memory-mapped pages that were read count in RSS (they are resident), so "load + read every weight"
can never be below ~W; what matters is that nothing is copied on top of that.
Generated files live in a temporary folder that is removed afterwards.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIB = 2**30
CHUNK = 1 << 26  # 64 MiB of random data at a time while generating

# Each mode is the body of a fresh process; `base` is taken after the imports.
_PRELUDE = """
import json, os, sys, time
import numpy as np
import onnx
import graphkit as gk
def _status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key)) / 1024
def rss_mb():  # peak so far of this process image
    return _status("VmHWM")
def now_mb():
    return _status("VmRSS")
base = now_mb()
path, out = sys.argv[1], sys.argv[2]
start = time.perf_counter()
"""
_MODES = {
    "gk.load": "m = gk.load(path)\n",
    "gk.load + read all weights": (
        "m = gk.load(path)\n"
        "total = sum(float(v.const_value.numpy().sum(dtype=np.float64)) for v in m.graph.initializers.values())\n"),
    "gk.load + gk.save (new folder)": "m = gk.load(path)\ngk.save(m, out)\n",
    "onnx.load": "m = onnx.load(path)\n",
    "onnx.load + to_array all weights": (
        "from onnx import numpy_helper\n"
        "m = onnx.load(path)\n"
        "arrays = [numpy_helper.to_array(t) for t in m.graph.initializer]\n"),
    "build in memory + gk.save (auto external)": (
        "n_tensors, elems = int(sys.argv[3]), int(sys.argv[4])\n"
        "rng = np.random.default_rng(0)\n"
        "x = gk.Value('x', np.float32, [elems])\n"
        "g = gk.Graph([x], [], name='big')\n"
        "prev = x\n"
        "for i in range(n_tensors):\n"
        "    w = g.add_initializer(f'w{i}', rng.random(elems, dtype=np.float32))\n"
        "    prev = g.make_node('Add', [prev, w], name=f'add{i}').output\n"
        "prev.name = 'y'; prev.set_type(np.float32, [elems]); g.outputs.append(prev)\n"
        "m = gk.Model(g, opset_imports={'': 17})\n"
        "built = now_mb()\n"
        "gk.save(m, path)\n"),
}
_EPILOGUE = """
print(json.dumps({"base_mb": base, "peak_mb": rss_mb(), "seconds": time.perf_counter() - start,
                  "built_mb": globals().get("built")}))
"""


def measure(mode: str, path: str, out: str = "", *extra: str) -> dict:
    """Run one mode in a fresh interpreter; its base and peak RSS (MiB) and wall time."""
    code = _PRELUDE + _MODES[mode] + _EPILOGUE
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", code, path, out, *extra], capture_output=True, text=True,
                          env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_external_model(folder: str, total_bytes: int, n_tensors: int = 4) -> tuple[str, int]:
    """A model whose `n_tensors` float32 weights (about `total_bytes` in all) live in model.onnx.data,
    written in chunks so the generator never holds them in memory. Returns (path, exact bytes)."""
    elems = total_bytes // n_tensors // 4
    path = os.path.join(folder, "model.onnx")
    rng = np.random.default_rng(0)
    inits, nodes, prev, offset = [], [], "x", 0
    with open(path + ".data", "wb") as f:
        for i in range(n_tensors):
            left = elems
            while left:
                n = min(left, CHUNK // 4)
                f.write(rng.random(n, dtype=np.float32).tobytes())
                left -= n
            t = TensorProto(name=f"w{i}", data_type=TensorProto.FLOAT, dims=[elems],
                            data_location=TensorProto.EXTERNAL)
            for key, value in (("location", "model.onnx.data"), ("offset", str(offset)), ("length", str(elems * 4))):
                entry = t.external_data.add()
                entry.key, entry.value = key, value
            offset += elems * 4
            inits.append(t)
            nodes.append(helper.make_node("Add", [prev, f"w{i}"], [f"a{i}"], name=f"add{i}"))
            prev = f"a{i}"
    graph = helper.make_graph(nodes, "weights", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [elems])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [elems])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path, offset


def bench_load_memory(weights_gib: float = 1.0) -> list[dict]:
    """Peak RSS of loading (and re-saving) a model with ~weights_gib GiB of external weights."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="gk_mem_") as folder:
        path, w = write_external_model(folder, int(weights_gib * GIB))
        os.makedirs(os.path.join(folder, "out"))
        out = os.path.join(folder, "out", "model.onnx")
        print(f"\n(3) peak memory, fresh process per row: a model with W = {w / GIB:.2f} GiB of external "
              f"weights (4 float32 initializers)")
        head = f"{'what':<40} {'after imports':>13} {'peak RSS':>9} {'peak / W':>8} {'(peak-imports)/W':>16} {'s':>6}"
        print(head)
        print("-" * len(head))
        for mode in ("gk.load", "gk.load + read all weights", "gk.load + gk.save (new folder)", "onnx.load",
                     "onnx.load + to_array all weights"):
            r = measure(mode, path, out)
            row = {"what": mode, "weights_bytes": w, **r, "ratio": r["peak_mb"] * 2**20 / w,
                   "ratio_net": (r["peak_mb"] - r["base_mb"]) * 2**20 / w}
            rows.append(row)
            print(f"{mode:<40} {r['base_mb']:>10.0f} MB {r['peak_mb']:>6.0f} MB {row['ratio']:>8.2f} "
                  f"{row['ratio_net']:>16.2f} {r['seconds']:>6.2f}")
    worst = max(r["ratio"] for r in rows if r["what"].startswith("gk."))
    print(f"graphkit peak <= 1.3 x W in every row: {worst <= 1.3} (worst {worst:.2f} x W; reading every "
          f"weight maps it in, so ~1.0 x W plus the interpreter is the floor)")
    return rows


def bench_big_save(weights_gib: float = 2.1, n_tensors: int = 8) -> dict:
    """gk.save of a model built in memory with more weights than protobuf's 2 GiB limit."""
    elems = int(weights_gib * GIB) // n_tensors // 4
    w = elems * 4 * n_tensors
    with tempfile.TemporaryDirectory(prefix="gk_big_") as folder:
        path = os.path.join(folder, "big.onnx")
        print(f"\n(4) save above protobuf's 2 GiB limit: W = {w / GIB:.2f} GiB ({n_tensors} float32 tensors built "
              f"in memory), gk.save with the default external_data=None (fresh process)")
        r = measure("build in memory + gk.save (auto external)", path, "", str(n_tensors), str(elems))
        data = path + ".data"
        ok = os.path.exists(data) and os.path.getsize(data) >= w
        start = time.perf_counter()
        import graphkit as gk

        back = gk.load(path)
        arrays = [v.const_value for v in back.graph.initializers.values()]
        external = sum(t.is_external for t in arrays)
        expected = np.random.default_rng(0).random(elems, dtype=np.float32)[:1000]
        same = np.array_equal(arrays[0].numpy()[:1000], expected)
        reload_s = time.perf_counter() - start
        del back, arrays
        row = {"weights_bytes": w, **r, "external_file": ok, "model_bytes": os.path.getsize(path),
               "data_bytes": os.path.getsize(data) if ok else 0, "reloaded_external": external,
               "reloaded_same": bool(same), "ratio_net": (r["peak_mb"] - r["built_mb"]) * 2**20 / w}
    print(f"  saved: {row['model_bytes'] / 1024:.1f} KiB model + {row['data_bytes'] / GIB:.2f} GiB data file "
          f"(automatic external data: {ok}); reloaded lazily: {external}/{n_tensors} tensors mapped, "
          f"first values match: {same} ({reload_s:.2f}s)")
    print(f"  peak RSS {r['peak_mb']:.0f} MB = imports {r['base_mb']:.0f} MB + weights in memory "
          f"{r['built_mb'] - r['base_mb']:.0f} MB + save overhead {r['peak_mb'] - r['built_mb']:.0f} MB "
          f"({row['ratio_net']:.3f} x W); save took {r['seconds']:.1f}s including building the arrays")
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights-gib", type=float, default=1.0)
    parser.add_argument("--big-save-gib", type=float, default=2.1)
    parser.add_argument("--no-big-save", action="store_true")
    args = parser.parse_args(argv)
    bench_load_memory(args.weights_gib)
    if not args.no_big_save:
        bench_big_save(args.big_save_gib)
    return 0


if __name__ == "__main__":
    sys.exit(main())
