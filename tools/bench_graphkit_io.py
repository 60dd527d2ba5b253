"""Benchmark gk.load / gk.save on synthetic chains (a benchmark, not a test).

    python tools/bench_graphkit_io.py                # 10k and 100k nodes, best of 3
    python tools/bench_graphkit_io.py --nodes 100000 --repeat 5

The chain alternates Add (with a small 4-float initializer) and Relu, with a dead Relu branch every
10 nodes. "bare onnx" is onnx.load + a walk over every node's inputs/outputs + onnx.save: the floor
any Python-level IR is measured against. Wall and CPU (process) times are both shown: on a busy
machine, CPU time is the steadier number.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import graphkit as gk


def build_chain(n: int) -> onnx.ModelProto:
    nodes, inits, prev = [], [], "x"
    for i in range(n):
        out = f"v{i}"
        if i % 2 == 0:
            inits.append(numpy_helper.from_array(np.full(4, i % 7, np.float32), f"c{i}"))
            nodes.append(helper.make_node("Add", [prev, f"c{i}"], [out], name=f"add{i}"))
        else:
            nodes.append(helper.make_node("Relu", [prev], [out], name=f"relu{i}"))
        if i % 10 == 5:
            nodes.append(helper.make_node("Relu", [out], [f"dead{i}"], name=f"dead{i}"))
        prev = out
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 4])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _timed(fn):
    gc.collect()
    w, c = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - w, time.process_time() - c


def bench(n: int, repeat: int, folder: str) -> dict:
    src = os.path.join(folder, f"chain{n}.onnx")
    onnx.save(build_chain(n), src)
    out = os.path.join(folder, f"out{n}.onnx")
    rows = {"load": [], "save": [], "bare": []}
    for _ in range(repeat):
        model, w, c = _timed(lambda: gk.load(src))
        rows["load"].append((w, c))
        _, w, c = _timed(lambda m=model: gk.save(m, out))
        rows["save"].append((w, c))
        del model

        def bare():
            m = onnx.load(src)
            k = 0
            for node in m.graph.node:
                k += len(node.input) + len(node.output)
            onnx.save(m, out)
        _, w, c = _timed(bare)
        rows["bare"].append((w, c))
    best = {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in rows.items()}
    best["nodes"] = len(build_chain(n).graph.node) if n <= 10_000 else int(n * 1.1)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, action="append", help="chain length (repeatable; default 10k and 100k)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = args.nodes or [10_000, 100_000]
    print(f"{'chain':>8} {'nodes':>8} | {'gk.load':>15} {'gk.save':>15} {'load+save':>15} | {'bare onnx':>15}")
    print(f"{'':>8} {'':>8} | {'wall / cpu s':>15} {'wall / cpu s':>15} {'wall / cpu s':>15} | {'wall / cpu s':>15}")
    with tempfile.TemporaryDirectory() as folder:
        for n in sizes:
            r = bench(n, args.repeat, folder)
            both = (r["load"][0] + r["save"][0], r["load"][1] + r["save"][1])

            def cell(pair):
                return f"{pair[0]:.3f} / {pair[1]:.3f}"
            print(f"{n:>8} {r['nodes']:>8} | {cell(r['load']):>15} {cell(r['save']):>15} {cell(both):>15} | "
                  f"{cell(r['bare']):>15}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
