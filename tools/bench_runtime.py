"""Benchmark (not a test): refruntime vs onnxruntime vs torch eager vs onnx.reference.

    python tools/bench_runtime.py                 # every model of MODELS at its batches
    python tools/bench_runtime.py --rounds 30 --warm-cache

All runtimes of one (model, batch) are timed in the same run, in interleaved rounds (one call of
each per round) after a warm-up call, and the medians are compared; slow runtimes stop after
`--budget` seconds of timed calls (onnx.reference gets a few runs, not `--rounds`). Throughput is
the model's Conv/Gemm/MatMul FLOPs over the median latency, against numpy's sgemm on this machine
(the practical roofline of a float32 kernel here).

The first refruntime call includes numba's JIT compile; by default numba's on-disk cache is pointed
at an empty folder so that this cost is measured cold (`--warm-cache` keeps the usual cache).

To add a model, add a `Model` to MODELS: a builder returning the torch module, the input shape
without batch, and the batches to run.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from graphkit.demo.compare import ORT_THREADS


@dataclass
class Model:
    name: str
    build: Callable[[], object]  # -> torch.nn.Module in eval mode, seeded weights
    input_shape: tuple[int, ...]  # without the batch dimension
    batches: tuple[int, ...] = (1, 64)


def _simple_cnn():
    from graphkit.demo.nets import corrected_net

    return corrected_net("SimpleCNN")


MODELS = [
    Model("SimpleCNN", _simple_cnn, (1, 28, 28)),
    # later: light VGG19 / ResNet50 / SqueezeNet, e.g. Model("SqueezeNet", _squeezenet, (3, 224, 224))
]
RUNTIMES = ("ref", "ort", "torch", "onnx.reference")


# --- FLOPs and the roofline ----------------------------------------------------------------
def count_flops(model, batch: int) -> int:
    """Multiply-add FLOPs (2 per MAC) of Conv, Gemm and MatMul nodes, for a given batch size."""
    import onnx
    from onnx import shape_inference

    model = onnx.ModelProto.FromString(model.SerializeToString())
    for vi in model.graph.input:
        dims = vi.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = batch
    graph = shape_inference.infer_shapes(model).graph
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
              for vi in [*graph.input, *graph.value_info, *graph.output]}
    shapes.update({t.name: list(t.dims) for t in graph.initializer})
    flops = 0
    for node in graph.node:
        if node.op_type == "Conv":
            w, y = shapes[node.input[1]], shapes[node.output[0]]
            flops += 2 * int(np.prod(y)) * int(np.prod(w[1:]))  # every output: Cin/group*kh*kw MACs
        elif node.op_type in ("Gemm", "MatMul"):
            a, y = shapes[node.input[0]], shapes[node.output[0]]
            trans_a = any(at.name == "transA" and at.i for at in node.attribute)
            k = a[-2] if trans_a else a[-1]
            flops += 2 * int(np.prod(y)) * k
    return flops


def sgemm_gflops(n: int = 1024, repeats: int = 7) -> float:
    """numpy's float32 matmul throughput (GFLOP/s), median of a few n x n x n products."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = a.T.copy()
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


# --- runtimes --------------------------------------------------------------------------------
def onnx_reference_runner(path: str):
    from onnx.reference import ReferenceEvaluator

    from graphkit.demo.export import INPUT

    evaluator = ReferenceEvaluator(path)
    return lambda x: evaluator.run(None, {INPUT: x})[0]


def runners_for(path: str, net) -> tuple[dict, float]:
    """The runtimes of RUNTIMES for one model, and the seconds refruntime took to plan it."""
    from graphkit.demo import compare

    start = time.perf_counter()
    ref = compare.ref_runner(path)
    plan_s = time.perf_counter() - start
    runners = {"ref": ref, "ort": compare.ort_runner(path), "torch": compare.torch_runner(net),
               "onnx.reference": onnx_reference_runner(path)}
    return runners, plan_s


# --- one model -------------------------------------------------------------------------------
def bench_model(spec: Model, out_dir: str, args, roofline: float) -> list[str]:
    import onnx

    from graphkit.demo import compare
    from graphkit.demo.export import export

    net = spec.build()
    path = export(net, spec.name, args.exporter, out_dir)
    runners, plan_s = runners_for(path, net)
    model = onnx.load(path)
    ops = ", ".join(sorted({n.op_type for n in model.graph.node}))
    lines = [f"{spec.name} ({args.exporter} export, ops {ops}; refruntime plan {plan_s * 1e3:.0f} ms)"]
    for batch in spec.batches:
        x = np.random.default_rng(batch).standard_normal((batch, *spec.input_shape), dtype=np.float32)
        m = compare.run_interleaved(runners, x, repeats=args.rounds, budget_s=args.budget)
        gflop = count_flops(model, batch) / 1e9
        ort = m.latency.get("ort")
        first = m.first_call.get("ref")
        if batch == spec.batches[0] and first is not None and "ref" in m.latency:
            lines.append(f"  first refruntime call (batch {batch}): {first:.2f} s = median + "
                         f"{first - m.latency['ref']:.2f} s of numba compile/warm-up")
        for name in RUNTIMES:
            if name in m.errors:
                lines.append(f"  {spec.name:<10} {batch:>5} {name:<15} failed: {m.errors[name]}")
                continue
            t = m.latency[name]
            err = float(np.abs(m.outputs[name] - m.outputs["ort"]).max()) if "ort" in m.outputs else float("nan")
            ratio = f"{t / ort:8.2f}" if ort else "       -"
            lines.append(f"  {spec.name:<10} {batch:>5} {name:<15} {t * 1e3:10.2f} {ratio} "
                         f"{gflop / t:8.2f} {100 * gflop / t / roofline:6.1f}% {err:9.1e}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved timed rounds (default 15)")
    parser.add_argument("--budget", type=float, default=4.0,
                        help="seconds of timed calls after which a slow runtime stops (default 4)")
    parser.add_argument("--exporter", choices=("dynamo", "torchscript"), default="dynamo")
    parser.add_argument("--warm-cache", action="store_true", help="use numba's usual on-disk cache")
    parser.add_argument("--models", nargs="+", default=[m.name for m in MODELS])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_runtime_") as tmp:
        if not args.warm_cache:
            os.environ["NUMBA_CACHE_DIR"] = os.path.join(tmp, "numba")  # read when numba is imported
        import torch

        roofline = sgemm_gflops()
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; numpy sgemm 1024^3: "
              f"{roofline:.1f} GFLOP/s (roofline); onnxruntime CPU {ORT_THREADS} threads; torch "
              f"{torch.get_num_threads()} threads; numba cache {'usual' if args.warm_cache else 'cold'}")
        print(f"  {'model':<10} {'batch':>5} {'runtime':<15} {'median ms':>10} {'x ORT':>8} "
              f"{'GFLOP/s':>8} {'%roof':>7} {'|err| ORT':>9}")
        for spec in MODELS:
            if spec.name in args.models:
                print("\n".join(bench_model(spec, tmp, args, roofline)), flush=True)
        again = sgemm_gflops()
        if again > 1.25 * roofline:
            print(f"note: sgemm measured {again:.1f} GFLOP/s after the runs: the machine was busier at "
                  f"the start, so %roof above is overstated by up to {again / roofline:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
