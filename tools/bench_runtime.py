"""Benchmark (not a test): refruntime vs onnxruntime vs torch eager vs onnx.reference.

    python tools/bench_runtime.py                 # every model of MODELS at its batches
    python tools/bench_runtime.py --rounds 30 --warm-cache
    python tools/bench_runtime.py --models SimpleCNN --skip onnx.reference
    python tools/bench_runtime.py --startup       # start-up of `graphkit run` (warm and cold cache)
    python tools/bench_runtime.py --zoo --skip onnx.reference torch   # + the rest of the light zoo

All runtimes of one (model, batch) are timed in the same run, in alternating blocks
(graphkit.demo.compare.run_interleaved): in each round every runtime in turn makes one untimed call,
then a block of back-to-back timed calls (~0.1 s), so one runtime's spinning threads (ORT's, with its
default options) bill that runtime, not the next. Printed: the median of all timed calls and the
lowest and highest block median. ORT runs with its default session options, as users run it; the
`ort-nospin` column turns its thread spinning off. Slow runtimes (onnx.reference) make one timed call
per round and stop after `--budget` seconds of timed calls. Throughput is the model's
Conv/Gemm/MatMul FLOPs over the median latency, against the machine's float32 peak (an FMA loop on
one core times the cores), with numpy's sgemm printed beside it; the CPU model is printed first.

The first refruntime call includes numba's JIT compile; by default numba's on-disk cache is pointed
at an empty folder so that this cost is measured cold (`--warm-cache` keeps the usual cache).

To add a model, add a `Model` to MODELS: a builder returning the torch module, the input shape
without batch, and the batches to run; or `light=` the name of one of the onnx package's light
zoo models. Their weights are ConstantOfShape nodes: the tool folds them into initializers first
(`graphkit.fold_constants`), as any deployment would, and makes the batch axis symbolic when a
model is run at more than one batch size. Or `onnx=` a writer of the file (ResCNN-q8: a residual
CNN quantized by `graphkit.quantize`, QDQ u8/s8 per channel). A runtime that cannot load a model
gets a "failed" row, as one that fails to run it does.

To add a runtime (e.g. graphkit's own), add its name to RUNTIMES and a maker to `runner_makers`.

OPENBLAS_THREAD_TIMEOUT=4 (set here before numpy loads OpenBLAS, unless the caller set it): after
a two-thread product (refruntime's above 32 MFLOP) OpenBLAS's idle worker spins for ~0.1 s by
default, the whole next block, which is ORT's; it then parks at once. ORT with default options
was billed 1.5-1.8x on BERT-tiny while refruntime's products used two threads.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # before numpy: see the module docstring

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Model:
    name: str
    build: Callable[[], object] | None  # -> torch.nn.Module in eval mode, seeded weights
    input_shape: tuple[int, ...]  # without the batch dimension
    batches: tuple[int, ...] = (1, 64)
    light: str = ""  # name of an onnx light zoo model (then `build` is None: onnx runtimes only)
    onnx: Callable[[str], str] | None = None  # or a writer of an ONNX file into a folder -> its path
    source: str = "synthetic"  # what the `onnx` writer makes (printed in the model's header line)
    feeds: Callable[[int], dict] | None = None  # batch -> {input: array} for models with several inputs


def _simple_cnn():
    from graphkit.demo.nets import corrected_net

    return corrected_net("SimpleCNN")


def _glue_chain(out_dir: str, blocks: int = 20) -> str:
    """200 small shape and elementwise ops (Add, Relu, Mul, Sigmoid, Reshape, Transpose, Neg,
    Concat, Slice) on a (1, 8, 4, 4) tensor: the per-node cost that dominates detection and OCR
    post-processing at batch 1, where the kernels themselves take about a microsecond."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    const = {"C": np.full((1, 8, 4, 4), 0.5, np.float32), "flat": np.array([1, 8, 16], np.int64),
             "square": np.array([1, 8, 4, 4], np.int64), "start": np.array([0], np.int64),
             "end": np.array([8], np.int64), "axis": np.array([1], np.int64)}
    nodes, last = [], "X"

    def add(op, *inputs, **attrs):
        nonlocal last
        out = f"t{len(nodes)}"
        nodes.append(helper.make_node(op, list(inputs), [out], **attrs))
        last = out

    for _ in range(blocks):
        add("Add", last, "C")
        add("Relu", last)
        add("Mul", last, "C")
        add("Sigmoid", last)
        add("Reshape", last, "flat")
        add("Transpose", last, perm=[0, 2, 1])
        add("Reshape", last, "square")
        add("Neg", last)
        add("Concat", last, last, axis=1)
        add("Slice", last, "start", "end", "axis")
    graph = helper.make_graph(nodes, "glue", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 8, 4, 4])],
                              [helper.make_tensor_value_info(last, TensorProto.FLOAT, [1, 8, 4, 4])],
                              [numpy_helper.from_array(v, k) for k, v in const.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path = os.path.join(out_dir, "glue200.onnx")
    onnx.save(model, path)
    return path


def _quantized_residual_cnn(out_dir: str) -> str:
    """A CIFAR-sized residual CNN (stem Conv-BN-Relu 3->32, two residual blocks at 32 channels, a
    strided block to 64 with a 1x1 projection, one block at 64, GlobalAveragePool, Linear), seeded,
    exported by TorchScript with BatchNormalization kept, then quantized the way a user would:
    `graphkit.quantize` (quant_pre_process folds BN into Conv; static QDQ, u8 activations, s8
    weights per channel, MinMax over 32 random samples). onnxruntime runs QDQ as QLinearConv etc."""
    import warnings

    import torch
    from torch import nn

    import graphkit as gk

    def conv_bn(cin, cout, stride=1, k=3):
        return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))

    class Block(nn.Module):
        def __init__(self, cin, cout, stride=1):
            super().__init__()
            self.a, self.b = conv_bn(cin, cout, stride), conv_bn(cout, cout)
            self.skip = conv_bn(cin, cout, stride, k=1) if stride != 1 or cin != cout else nn.Identity()

        def forward(self, x):
            return torch.relu(self.b(torch.relu(self.a(x))) + self.skip(x))

    torch.manual_seed(0)
    net = nn.Sequential(conv_bn(3, 32), nn.ReLU(), Block(32, 32), Block(32, 32), Block(32, 64, 2), Block(64, 64),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(64, 10)).eval()
    with torch.no_grad():  # non-trivial BN statistics, or BN would be an identity
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    float_path = os.path.join(out_dir, "rescnn.float.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.randn(2, 3, 32, 32),), float_path, dynamo=False, opset_version=18,
                          input_names=["input"], output_names=["output"], do_constant_folding=False,
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    path = os.path.join(out_dir, "rescnn.q8.onnx")
    gk.quantize(float_path, path, calibration=32, format="qdq", per_channel=True, activation_type="u8",
                weight_type="s8")
    return path


def _transformer(kind: str, seq: int):
    """A writer of BERT-tiny or GPT-2-tiny (hidden 128, 2 layers, 2 heads, vocabulary 1000) built from
    its transformers config with seeded random weights (never a hub download), exported by
    TorchScript at opset 17 for batch 1 and `seq` tokens; inputs ids and mask."""
    def write(out_dir: str) -> str:
        import warnings

        import torch

        module = transformer_module(kind)
        path = os.path.join(out_dir, f"{kind}{seq}.onnx")
        ids, mask = _token_feeds(seq)(1).values()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (torch.from_numpy(ids), torch.from_numpy(mask)), path,
                              input_names=["ids", "mask"], output_names=["hidden"], opset_version=17, dynamo=False)
        return path

    return write


def transformer_module(kind: str):
    """BERT-tiny ("bert") or GPT-2-tiny ("gpt2") from its transformers config, seeded random weights,
    wrapped to take (ids, mask) and return the last hidden state; in eval mode."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import transformers as tf

    torch.manual_seed(0)
    if kind == "bert":
        core = tf.BertModel(tf.BertConfig(vocab_size=1000, hidden_size=128, num_hidden_layers=2,
                                          num_attention_heads=2, intermediate_size=512))
    else:
        core = tf.GPT2Model(tf.GPT2Config(vocab_size=1000, n_embd=128, n_layer=2, n_head=2, bos_token_id=0,
                                          eos_token_id=0))

    class Hidden(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.core = core

        def forward(self, ids, mask):
            return self.core(input_ids=ids, attention_mask=mask).last_hidden_state

    return Hidden().eval()


def _token_feeds(seq: int) -> Callable[[int], dict]:
    def feeds(batch: int) -> dict:
        rng = np.random.default_rng(seq)
        return {"ids": rng.integers(0, 1000, (batch, seq)), "mask": np.ones((batch, seq), np.int64)}

    return feeds


MODELS = [
    Model("SimpleCNN", _simple_cnn, (1, 28, 28)),
    Model("Glue200", None, (8, 4, 4), (1,), onnx=_glue_chain),
    Model("ResCNN-q8", None, (3, 32, 32), (1, 64), onnx=_quantized_residual_cnn,
          source="torch export, graphkit.quantize: QDQ u8/s8 per-channel"),
    Model("VGG19", None, (3, 224, 224), (1,), light="light_vgg19"),
    Model("ResNet50", None, (3, 224, 224), (1,), light="light_resnet50"),
    Model("SqueezeNet", None, (3, 224, 224), (1, 8), light="light_squeezenet"),
    *(Model(f"{label}-s{seq}", None, (seq,), (1,), onnx=_transformer(kind, seq), feeds=_token_feeds(seq),
            source="transformers config, random weights, TorchScript export")
      for label, kind in (("BERT-tiny", "bert"), ("GPT2-tiny", "gpt2")) for seq in (16, 128)),
]
#: the rest of the light zoo (`--zoo`): other layer mixes than the issue's nets (grouped and
#: depthwise convolutions, concatenations, pre-activation BN/Scale chains, average pools)
ZOO = [
    Model(name, None, (3, 224, 224), (1,), light=f"light_{light}")
    for name, light in (("AlexNet", "bvlc_alexnet"), ("DenseNet121", "densenet121"),
                        ("InceptionV1", "inception_v1"), ("InceptionV2", "inception_v2"),
                        ("ShuffleNet", "shufflenet"), ("ZFNet512", "zfnet512"))
]
RUNTIMES = ("ref", "ort", "ort-nospin", "torch", "onnx.reference")
#: runtimes so slow that they get no warm-up call and at least one timed call within --budget
SLOW = frozenset({"onnx.reference"})
#: timed calls per runtime and round (fewer when a call is long), after one untimed call


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


def peak_gflops(seconds: float = 0.3) -> float:
    """The machine's float32 peak: one core's throughput on independent FMA chains (numba; LLVM
    vectorizes them for the CPU's widest SIMD) times the number of cores. This, not sgemm, is the
    roofline: onnxruntime's MLAS ran VGG19 above numpy's sgemm here."""
    import numba

    @numba.njit(fastmath=True)
    def fma_chains(n, x, y):
        acc = np.ones(256, np.float32)
        for _ in range(n):
            for j in range(256):
                acc[j] = acc[j] * x + y
        return acc.sum()

    fma_chains(10, np.float32(0.999), np.float32(1e-3))
    n, best = 20_000, 0.0
    while True:
        start = time.perf_counter()
        fma_chains(n, np.float32(0.999), np.float32(1e-3))
        elapsed = time.perf_counter() - start
        best = max(best, 2 * 256 * n / elapsed / 1e9)
        if elapsed > seconds:
            return best * (os.cpu_count() or 1)
        n *= 2


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE"
    return f"{name} ({simd}{', VNNI' if 'avx512_vnni' in flags or 'avx_vnni' in flags else ''})"


# --- models ----------------------------------------------------------------------------------
def light_model(name: str, out_dir: str, symbolic_batch: bool) -> str:
    """The light zoo model with its ConstantOfShape weights folded into initializers, saved to a
    file (batch axis symbolic if asked). Returns the path."""
    import onnx

    source = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", f"{name}.onnx")
    path = os.path.join(out_dir, f"{name}.folded.onnx")
    import graphkit as gk

    model = gk.load(source)
    gk.fold_constants(model, size_limit=1 << 31)  # VGG19's fc6 weight is 411 MB
    if symbolic_batch:
        gk.make_batch_symbolic(model)
    gk.save(model, path)
    # these models (IR 3) list every weight as a graph input too, so runtimes must treat the weights
    # as overridable feeds (ORT then skips its constant-based optimizations): make them constants
    model = onnx.load(path)
    initialized = {t.name for t in model.graph.initializer}
    inputs = [vi for vi in model.graph.input if vi.name not in initialized]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    model.ir_version = max(model.ir_version, 4)
    onnx.save(model, path)
    return path


def model_input(path: str) -> str:
    import onnx

    graph = onnx.load(path, load_external_data=False).graph
    initialized = {t.name for t in graph.initializer}
    return next(vi.name for vi in graph.input if vi.name not in initialized)


# --- runtimes --------------------------------------------------------------------------------
def runner_makers(path: str, net) -> dict[str, Callable[[], Callable]]:
    """One maker per runtime of RUNTIMES; a runtime without a maker for this model is skipped."""
    from graphkit.demo import compare

    name = model_input(path)

    def _inputs(x) -> dict:
        return x if isinstance(x, dict) else {name: x}

    def ref():
        from refruntime import Session

        session = Session(path)
        return lambda x: next(iter(session.run(_inputs(x)).values()))

    def ort(spinning: bool = True):
        import onnxruntime

        options = onnxruntime.SessionOptions()  # as users run it: ORT's defaults
        options.log_severity_level = 3
        if not spinning:  # the separate column: ORT's worker threads sleep when idle
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        return lambda x: session.run(None, _inputs(x))[0]

    def reference():
        from onnx.reference import ReferenceEvaluator

        evaluator = ReferenceEvaluator(path)
        return lambda x: evaluator.run(None, _inputs(x))[0]

    makers = {"ref": ref, "ort": ort, "ort-nospin": lambda: ort(spinning=False), "onnx.reference": reference}
    if net is not None:
        makers["torch"] = lambda: compare.torch_runner(net)
    return makers


# --- one model -------------------------------------------------------------------------------
def bench_model(spec: Model, out_dir: str, args, roofline: float) -> list[str]:
    import onnx

    from graphkit.demo import compare
    from graphkit.demo.export import export

    if spec.light:
        net, source = None, "light zoo, constants folded"
        path = light_model(spec.light, out_dir, symbolic_batch=len(spec.batches) > 1)
    elif spec.onnx is not None:
        net, source = None, spec.source
        path = spec.onnx(out_dir)
    else:
        net, source = spec.build(), f"{args.exporter} export"
        path = export(net, spec.name, args.exporter, out_dir)
    runners, plan_s, cannot_load = {}, 0.0, {}
    for name, make in runner_makers(path, net).items():
        if name in args.skip:
            continue
        start = time.perf_counter()
        try:
            runners[name] = make()
        except Exception as exc:  # noqa: BLE001 - a runtime that cannot load the model is a row of the table
            cannot_load[name] = f"cannot load: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:160]}"
            continue
        if name == "ref":
            plan_s = time.perf_counter() - start
    model = onnx.load(path)
    ops = ", ".join(sorted({n.op_type for n in model.graph.node}))
    lines = [f"{spec.name} ({source}, ops {ops}; refruntime plan {plan_s * 1e3:.0f} ms)"]
    for batch in spec.batches:
        x = (spec.feeds(batch) if spec.feeds is not None
             else np.random.default_rng(batch).standard_normal((batch, *spec.input_shape), dtype=np.float32))
        m = compare.run_interleaved(runners, x, repeats=args.rounds, budget_s=args.budget, slow=SLOW)
        gflop = count_flops(model, batch) / 1e9
        ort = m.latency.get("ort")
        first = m.first_call.get("ref")
        if batch == spec.batches[0] and first is not None and "ref" in m.latency:
            lines.append(f"  first refruntime call (batch {batch}): {first:.2f} s = median + "
                         f"{max(0.0, first - m.latency['ref']):.2f} s of numba compile/warm-up")
        for name in RUNTIMES:
            if name in cannot_load:
                lines.append(f"  {spec.name:<12} {batch:>5} {name:<15} failed: {cannot_load[name]}")
                continue
            if name not in runners:
                continue
            if name in m.errors:
                lines.append(f"  {spec.name:<12} {batch:>5} {name:<15} failed: {m.errors[name]}")
                continue
            t = m.latency[name]
            low, high = m.spread.get(name, (t, t))
            err = (float(np.abs(m.outputs[name] - m.outputs["ort"]).max()) if "ort" in m.outputs
                   else float("nan"))
            ratio = f"{t / ort:8.2f}" if ort else "       -"
            lines.append(f"  {spec.name:<12} {batch:>5} {name:<15} {t * 1e3:10.3f} "
                         f"{f'[{low * 1e3:.3g}-{high * 1e3:.3g}]':>17} {ratio} "
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
    parser.add_argument("--zoo", action="store_true",
                        help="also run the rest of the light zoo at batch 1 (AlexNet, DenseNet121, ...)")
    parser.add_argument("--skip", nargs="+", default=[], choices=RUNTIMES, help="runtimes not to run")
    parser.add_argument("--startup", action="store_true",
                        help="only measure start-up: a fresh `graphkit run` of SimpleCNN, warm and cold cache")
    parser.add_argument("--graphkit", action="store_true",
                        help="only print graphkit's issue-3 summary (tools/bench_graphkit.py; about a minute)")
    args = parser.parse_args(argv)
    if args.graphkit:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from bench_graphkit import format_summary, graphkit_summary_rows

        print(format_summary(graphkit_summary_rows()))
        return 0
    if args.startup:
        return startup(args)
    with tempfile.TemporaryDirectory(prefix="bench_runtime_") as tmp:
        if not args.warm_cache:
            os.environ["NUMBA_CACHE_DIR"] = os.path.join(tmp, "numba")  # read when numba is imported
        import torch

        from graphkit.demo import compare

        sgemm, roofline = sgemm_gflops(), peak_gflops()
        print(f"{cpu_model()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
        print(f"roofline (FMA peak, all cores): {roofline:.0f} GFLOP/s; numpy sgemm 1024^3: {sgemm:.0f} GFLOP/s")
        print(f"onnxruntime: default session options (ort), and with spinning off (ort-nospin); torch "
              f"{torch.get_num_threads()} threads; numba cache {'usual' if args.warm_cache else 'cold'}")
        print(f"timing: {args.rounds} rounds of alternating blocks (each ~{compare.BLOCK_SECONDS:g} s of back-to-back "
              "calls after one untimed call); median of all calls [lowest-highest block median]")
        print(f"  {'model':<12} {'batch':>5} {'runtime':<15} {'median ms':>10} {'[min-max]':>17} {'x ORT':>8} "
              f"{'GFLOP/s':>8} {'%peak':>7} {'|err| ORT':>9}")
        for spec in MODELS + ZOO:
            if spec.name in args.models or (args.zoo and spec in ZOO):
                print("\n".join(bench_model(spec, tmp, args, roofline)), flush=True)
        again = peak_gflops()
        if again > 1.25 * roofline:
            print(f"note: the FMA peak measured {again:.0f} GFLOP/s after the runs: the machine was busier at "
                  f"the start, so %peak above is overstated by up to {again / roofline:.1f}x")
    return 0


# --- start-up ----------------------------------------------------------------------------------
def startup(args, repeats: int = 5) -> int:
    """Wall time of a fresh process's `graphkit run SimpleCNN.onnx` (start to printed result): with
    numba's on-disk cache warm (median of `repeats`), and with NUMBA_CACHE_DIR pointed at an empty
    folder (the first process ever: every kernel it uses is compiled)."""
    import subprocess

    from graphkit.demo.export import export

    with tempfile.TemporaryDirectory(prefix="bench_startup_") as tmp:
        path = export(_simple_cnn(), "SimpleCNN", args.exporter, tmp)
        command = [os.path.join(os.path.dirname(sys.executable), "graphkit"), "run", path]

        def once(env=None) -> float:
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, env=env)
            return time.perf_counter() - start

        cold = []
        for i in range(2):
            env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(tmp, f"cold{i}"))
            cold.append(once(env))
        once()  # fill the usual cache
        warm = [once() for _ in range(repeats)]
        bare = [_seconds([sys.executable, "-c", "import numpy, onnx"]) for _ in range(3)]
    print(f"graphkit run SimpleCNN ({args.exporter} export), fresh process, start to printed result:")
    print(f"  warm numba cache: median {statistics.median(warm):.2f} s of {repeats} "
          f"(min {min(warm):.2f} s); `python -c 'import numpy, onnx'` alone: {statistics.median(bare):.2f} s")
    print(f"  cold numba cache (empty NUMBA_CACHE_DIR): {', '.join(f'{t:.2f} s' for t in cold)} "
          f"= warm + {statistics.median(cold) - statistics.median(warm):.2f} s of compile")
    return 0


def _seconds(command) -> float:
    import subprocess

    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
