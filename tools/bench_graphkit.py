"""Benchmark graphkit's passes (a benchmark, not a test).

    python tools/bench_graphkit.py                 # (a) light zoo vs onnxsim and onnx-graphsurgeon, (b) chains
    python tools/bench_graphkit.py --zoo-only      # or --chain-only; --nodes 10000 --nodes 100000

(a) The onnx package's light zoo: node count after `gk.simplify` next to onnxsim's
    (`onnxsim.simplify`) and onnx-graphsurgeon's (`fold_constants().cleanup()`), with the time of
    each (load-to-result in memory, best of --repeat). graphkit runs with --size-limit (default
    1.5e9, onnxsim's own tensor_size_threshold) so all three materialize the same tensors; the
    count at graphkit's library default (1e8) is shown too.
(b) Synthetic chains from tools/bench_graphkit_io.py (Add/Relu with small initializers and a
    dead branch every 10 nodes): load + prune + toposort + save at each size; wall and CPU time.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
import warnings

import onnx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_graphkit_io import build_chain

import graphkit as gk

LIGHT_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


def _best(fn, repeat: int):
    best, result = None, None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return result, best


def _graphkit(path: str, size_limit: float) -> int:
    model = gk.load(path)
    gk.simplify(model, size_limit=size_limit)
    return len(model.graph)


def _onnxsim(path: str) -> int:
    import onnxsim

    simplified, ok = onnxsim.simplify(onnx.load(path))
    return len(simplified.graph.node) if ok else -1


def _graphsurgeon(path: str) -> int:
    import onnx_graphsurgeon as gs
    from onnx_graphsurgeon.logger import G_LOGGER

    G_LOGGER.severity = G_LOGGER.ERROR
    graph = gs.import_onnx(onnx.load(path))
    graph.fold_constants().cleanup()
    return len(graph.nodes)


def bench_zoo(repeat: int, size_limit: float) -> list[dict]:
    rows = []
    names = sorted(f[:-5] for f in os.listdir(LIGHT_DIR) if f.endswith(".onnx"))
    print(f"(a) light zoo: node count and time (best of {repeat}); graphkit --size-limit {size_limit:g}")
    head = (f"{'model':<20} {'orig':>5} {'gk':>5} {'gk@1e8':>6} {'onnxsim':>7} {'gs':>5}   "
            f"{'gk s':>6} {'onnxsim s':>9} {'gs s':>6}")
    print(head)
    print("-" * len(head))
    for name in names:
        path = os.path.join(LIGHT_DIR, name + ".onnx")
        orig = len(onnx.load(path).graph.node)
        gk_n, gk_t = _best(lambda path=path: _graphkit(path, size_limit), repeat)
        gk_default = _graphkit(path, 1e8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sim_n, sim_t = _best(lambda path=path: _onnxsim(path), repeat)
            gs_n, gs_t = _best(lambda path=path: _graphsurgeon(path), repeat)
        rows.append({"model": name, "orig": orig, "gk": gk_n, "gk_default": gk_default, "onnxsim": sim_n, "gs": gs_n,
                         "gk_s": gk_t, "onnxsim_s": sim_t, "gs_s": gs_t})
        print(f"{name:<20} {orig:>5} {gk_n:>5} {gk_default:>6} {sim_n:>7} {gs_n:>5}   "
              f"{gk_t:>6.3f} {sim_t:>9.3f} {gs_t:>6.3f}")
    total = {k: sum(r[k] for r in rows) for k in ("gk_s", "onnxsim_s", "gs_s")}
    print(f"{'total time':<20} {'':>5} {'':>5} {'':>6} {'':>7} {'':>5}   "
          f"{total['gk_s']:>6.2f} {total['onnxsim_s']:>9.2f} {total['gs_s']:>6.2f}")
    worse = [r["model"] for r in rows if r["gk"] > r["onnxsim"]]
    slower = [r["model"] for r in rows if r["gk_s"] > r["gs_s"]]
    print(f"node count <= onnxsim on every model: {not worse}{'' if not worse else ' (not: ' + ', '.join(worse) + ')'}")
    print(f"faster than graphsurgeon on every model: {not slower}"
          f"{'' if not slower else ' (not: ' + ', '.join(slower) + ')'}")
    return rows


def bench_chain(sizes: list[int], repeat: int) -> list[dict]:
    from graphkit.passes.api import prune, toposort

    print(f"\n(b) synthetic chain: load + prune + toposort + save (best of {repeat}; wall / CPU seconds)")
    head = f"{'nodes':>8} {'after':>8} {'load':>6} {'prune':>6} {'topo':>6} {'save':>6} {'total':>7} {'cpu':>7}"
    print(head)
    print("-" * len(head))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for n in sizes:
            src, out = os.path.join(folder, f"chain{n}.onnx"), os.path.join(folder, f"out{n}.onnx")
            onnx.save(build_chain(n), src)
            nodes_in = len(onnx.load(src).graph.node)
            best = None
            for _ in range(repeat):
                gc.collect()
                cpu0, t0 = time.process_time(), time.perf_counter()
                model = gk.load(src)
                t1 = time.perf_counter()
                prune(model)
                t2 = time.perf_counter()
                toposort(model)
                t3 = time.perf_counter()
                gk.save(model, out)
                t4 = time.perf_counter()
                row = {"nodes": nodes_in, "after": len(model.graph), "load": t1 - t0, "prune": t2 - t1, "topo": t3 - t2,
                           "save": t4 - t3, "total": t4 - t0, "cpu": time.process_time() - cpu0}
                del model
                best = row if best is None or row["total"] < best["total"] else best
            rows.append(best)
            print(f"{best['nodes']:>8} {best['after']:>8} {best['load']:>6.3f} {best['prune']:>6.3f} "
                  f"{best['topo']:>6.3f} {best['save']:>6.3f} {best['total']:>7.3f} {best['cpu']:>7.3f}")
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        ratio = (b["total"] / a["total"]) / (b["nodes"] / a["nodes"])
        print(f"time per node at {b['nodes']} vs {a['nodes']}: x{ratio:.2f} (1.0 = linear)")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size-limit", type=float, default=1.5e9)
    parser.add_argument("--nodes", type=int, action="append", help="chain sizes (default 10000 and 100000)")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--zoo-only", action="store_true")
    only.add_argument("--chain-only", action="store_true")
    args = parser.parse_args(argv)
    if not args.chain_only:
        bench_zoo(args.repeat, args.size_limit)
    if not args.zoo_only:
        bench_chain(args.nodes or [10_000, 100_000], args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
