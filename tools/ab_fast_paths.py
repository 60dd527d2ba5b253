"""A/B of refruntime's fast paths, each switched off (A) and on (B) in one process (a tool, not a test).

    .venv/bin/python tools/ab_fast_paths.py                     # all of them
    .venv/bin/python tools/ab_fast_paths.py shape-memo quantize

- shape-memo: refruntime/plan_shape_memo.py, on BERT-tiny (sequence 16) exported three ways: the
  benchmark's static TorchScript export, TorchScript with dynamic batch/sequence axes, torch.export
  with dynamic shapes.
- layernorm: the one-pass float32 LayerNormalization rows (kernels/layer_norm_rows.py) against the
  numpy route, on BERT-tiny and GPT-2-tiny at sequence 16 and 128.
- quantize: the float32 per-tensor Quantize/DequantizeLinear route (ops/_quant.py) on the
  benchmark's ResCNN-q8, batch 1 and 64.
- fusion: elementwise chains (refruntime/fused_elementwise.py), on the benchmark's Glue200 and on
  BERT-tiny and GPT-2-tiny at sequence 16 and 128.
- guards: size guards skipped for a feed signature that passed them (refruntime/plan_stable_shapes.py),
  on Glue200, BERT-tiny and GPT-2-tiny.
- blas-threads: kernels/blas.py's thread count timed per product shape against one thread for every
  product below SMALL_FLOPS, on BERT-tiny and GPT-2-tiny (also worth running with
  OPENBLAS_THREAD_TIMEOUT=4, as tools/bench_runtime.py sets it).
- softmax: the float32 rows kernel (kernels/softmax_rows.py) against the numpy route, same models.
- blas-blocks: kernels/blas.py's column blocks under OpenBLAS's small-kernel limit against one call
  (outputs may differ in the last bits: the small kernel sums K in one sequence), same models; on a
  core without the small kernels (not SkylakeX-family) both sides are one call.
- reshape-gemm: Reshape -> Gemm -> Reshape as one step (fused_ops.reshaped_gemm), same models
  (BERT's projections are MatMuls: A and B are the same program there).
- tanh-chains: elementwise chains with the links that feed them and a Tanh between two loops
  against linear chains that a Tanh ends (GPT-2's GELU), same models.
- erf: the float32 erf loop against commit 5ae6a5a's (needs the git history), per element.
Timing as tools/bench_runtime.py: rounds of alternating ~0.1 s blocks of calls, medians; outputs of
A and B must be bitwise equal (the tool stops otherwise), but for layernorm, whose float64 row
sums differ from numpy's float32 ones in the last bits (the largest difference is printed). Models are built from configs with random
weights into a temporary folder (torch and transformers needed).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _time(sessions: dict, feeds: dict, rounds: int) -> dict:
    times = {v: [] for v in sessions}
    for _ in range(rounds):
        for version, (session, switch) in sessions.items():
            switch()
            session.run(feeds)
            start = time.perf_counter()
            while time.perf_counter() - start < 0.1:
                t = time.perf_counter()
                session.run(feeds)
                times[version].append(time.perf_counter() - t)
    return {v: float(np.median(t)) * 1e3 for v, t in times.items()}


def _ab(label: str, path: str, feeds: dict, off, on, rounds: int, note=lambda session: "", exact: bool = True) -> None:
    from refruntime import Session

    off()
    a = Session(path)
    a_out = a.run(feeds)
    on()
    b = Session(path)
    b_out = b.run(feeds)
    if any(not np.array_equal(a_out[k], b_out[k]) for k in a_out):
        if exact:
            raise SystemExit(f"{label}: A and B outputs differ")
        worst = max(float(np.abs(a_out[k].astype(np.float64) - b_out[k]).max()) for k in a_out)
        note_before = note
        note = lambda session: f"{note_before(session)}(outputs within {worst:.1e})"
    ms = _time({"A": (a, off), "B": (b, on)}, feeds, rounds)
    print(f"{label:44s} A {ms['A']:8.3f} ms   B {ms['B']:8.3f} ms   A/B {ms['A'] / ms['B']:.2f}x {note(b)}")


def _bert_exports(folder: str) -> dict:
    import bench_runtime
    import torch

    paths = {"BERT-tiny s16, TorchScript static": bench_runtime._transformer("bert", 16)(folder)}
    module = bench_runtime.transformer_module("bert")
    ids, mask = (torch.from_numpy(v) for v in bench_runtime._token_feeds(16)(1).values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = os.path.join(folder, "bert_dynamic_axes.onnx")
        axes = {0: "batch", 1: "sequence"}
        torch.onnx.export(module, (ids, mask), path, input_names=["ids", "mask"], output_names=["hidden"],
                          opset_version=17, dynamo=False, dynamic_axes={"ids": axes, "mask": axes})
        paths["BERT-tiny s16, TorchScript dynamic axes"] = path
        path = os.path.join(folder, "bert_dynamo.onnx")
        dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence")}
        torch.onnx.export(module, (ids, mask), path, input_names=["ids", "mask"], output_names=["hidden"],
                          opset_version=18, dynamo=True, dynamic_shapes=(dims, dims), verbose=False)
        paths["BERT-tiny s16, torch.export dynamic"] = path
    return paths


def _switch(target, name: str, replacement, reset=lambda: None):
    """(off, on): `target.name` replaced by `replacement`, or restored; `reset` runs after each."""
    original = getattr(target, name)

    def off():
        setattr(target, name, replacement)
        reset()

    def on():
        setattr(target, name, original)
        reset()

    return off, on


def shape_memo(folder: str, rounds: int) -> None:
    import bench_runtime

    import refruntime.plan_fusion as fusion

    off, on = _switch(fusion, "memoize_shape_steps", lambda units, *args: (units, 0))

    def note(session):
        program = next(v for v in vars(session.plan).values() if type(v).__name__ == "Program")
        memo = sum(getattr(run, "__name__", "") in ("shape_memo", "identity_memo") for _, run, *_ in program.steps)
        return f"({memo} of {len(program.steps)} steps memoized)"

    for label, path in _bert_exports(folder).items():
        _ab(f"shape memo: {label}", path, bench_runtime._token_feeds(16)(1), off, on, rounds, note)
    on()


def layernorm(folder: str, rounds: int) -> None:
    import bench_runtime

    import refruntime.ops.op_layer_normalization as ln

    off, on = _switch(ln, "_per_column", lambda *args: False)

    for kind, label in (("bert", "BERT-tiny"), ("gpt2", "GPT-2-tiny")):
        for seq in (16, 128):
            path = bench_runtime._transformer(kind, seq)(folder)
            _ab(f"LayerNorm rows: {label} s{seq}", path, bench_runtime._token_feeds(seq)(1), off, on, rounds,
                exact=False)  # row sums in float64 vs numpy's float32 pairwise sums: last-bit differences
    on()


def quantize(folder: str, rounds: int) -> None:
    import bench_runtime
    import onnx

    from refruntime.ops import _quant

    off, on = _switch(_quant, "_float32_per_tensor", lambda *args: False)

    path = bench_runtime._quantized_residual_cnn(folder)
    name = onnx.load(path).graph.input[0].name
    for batch in (1, 64):
        x = np.random.default_rng(0).standard_normal((batch, 3, 32, 32)).astype(np.float32)
        _ab(f"float32 quantize route: ResCNN-q8 b{batch}", path, {name: x}, off, on, rounds)
    on()


def _transformers(folder: str):
    """(label, path, feeds) of BERT-tiny and GPT-2-tiny at sequence 16 and 128 (the benchmark's)."""
    import bench_runtime

    for kind, label in (("bert", "BERT-tiny"), ("gpt2", "GPT-2-tiny")):
        for seq in (16, 128):
            yield f"{label} s{seq}", bench_runtime._transformer(kind, seq)(folder), bench_runtime._token_feeds(seq)(1)


def _glue_and_transformers(folder: str):
    """The benchmark's Glue200, then _transformers."""
    import bench_runtime

    x = np.random.default_rng(0).standard_normal((1, 8, 4, 4)).astype(np.float32)
    yield "Glue200", bench_runtime._glue_chain(folder), {"X": x}
    yield from _transformers(folder)


def _step_count(session) -> str:
    return f"({len(session.plan.program.steps)} steps)"


def _ab_each(title: str, models, off, on, rounds: int, **options) -> None:
    """_ab on every (label, path, feeds) of `models`, then the fast path back on."""
    for label, path, feeds in models:
        _ab(f"{title}: {label}", path, feeds, off, on, rounds, **options)
    on()


def fusion(folder: str, rounds: int) -> None:
    from refruntime import plan_fusion

    off, on = _switch(plan_fusion, "elementwise_chain", lambda *args: None)
    _ab_each("elementwise chains", _glue_and_transformers(folder), off, on, rounds, note=_step_count)


def guards(folder: str, rounds: int) -> None:
    from refruntime import plan_fusion

    off, on = _switch(plan_fusion, "shapes_follow_feeds", lambda *args: False)
    for label, path, feeds in _glue_and_transformers(folder):
        _ab(f"size guards once per feed signature: {label}", path, feeds, off, on, rounds)
    on()


def blas_threads(folder: str, rounds: int) -> None:
    from refruntime.kernels import blas

    # off: the former policy, every product below SMALL_FLOPS on one thread
    off, on = _switch(blas, "TRIALS", 0, reset=blas._CHOICES.clear)
    for label, path, feeds in _transformers(folder):
        _ab(f"BLAS threads timed per shape: {label}", path, feeds, off, on, rounds)
    on()


def softmax(folder: str, rounds: int) -> None:
    import refruntime.ops.op_softmax as op

    def numpy_route(x, nan_to=None):  # the former kernel: float32 max, exp, sum and division in numpy
        y = x - x.max(axis=-1, keepdims=True)
        np.exp(y, out=y)
        y /= y.sum(axis=-1, keepdims=True)
        if nan_to is not None:
            y[np.isnan(y)] = nan_to
        return y

    off, on = _switch(op, "float32_rows", numpy_route)
    for label, path, feeds in _transformers(folder):
        _ab(f"Softmax rows: {label}", path, feeds, off, on, rounds, exact=False)  # float64 sums: last bits
    on()


def erf(folder: str, rounds: int) -> None:
    """The float32 erf loop of commit 5ae6a5a (32 polynomial pieces, one table lookup per element,
    scalar) against the current one (one polynomial, vectorized), on 8,192 and 65,536 values; needs
    the git history."""
    import importlib.util
    import subprocess

    from refruntime.kernels import erf as current

    source = subprocess.run(["git", "show", "5ae6a5a:refruntime/kernels/erf.py"], capture_output=True, text=True,
                            check=True, cwd=os.path.dirname(os.path.abspath(__file__))).stdout
    path = os.path.join(folder, "erf_5ae6a5a.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(source.replace("cache=True", "cache=False"))
    spec = importlib.util.spec_from_file_location("erf_5ae6a5a", path)
    former = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(former)
    x_all = (np.random.default_rng(0).standard_normal(65536) * 2).astype(np.float32)
    for n in (8192, 65536):
        x, out = x_all[:n], np.empty(n, np.float32)
        loops = {"A": lambda x=x, out=out: former._erf_loop(x, out, former._BY_PIECE),
                 "B": lambda x=x, out=out: current._erf_loop(x, out, current.COEFFICIENTS)}
        times = {k: [] for k in loops}
        for _ in range(rounds):
            for k, loop in loops.items():
                loop()
                start = time.perf_counter()
                while time.perf_counter() - start < 0.05:
                    t = time.perf_counter()
                    loop()
                    times[k].append(time.perf_counter() - t)
        ns = {k: float(np.median(v)) / n * 1e9 for k, v in times.items()}
        print(f"{'float32 erf loop: ' + str(n) + ' values':44s} A {ns['A']:8.2f} ns   B {ns['B']:8.2f} ns   "
              f"A/B {ns['A'] / ns['B']:.2f}x (per element)")


def blas_blocks(folder: str, rounds: int) -> None:
    from refruntime.kernels import blas

    blas._api()  # reads the core's name, which `off` then hides
    off, on = _switch(blas, "_CORE", "")
    _ab_each(f"BLAS column blocks ({blas._CORE or 'no OpenBLAS core'})", _transformers(folder), off, on, rounds,
             exact=False)


def reshape_gemm(folder: str, rounds: int) -> None:
    from refruntime import plan_fusion

    off, on = _switch(plan_fusion, "_reshaped_gemm", lambda *args: None)
    _ab_each("Reshape -> Gemm -> Reshape as one step", _transformers(folder), off, on, rounds, note=_step_count)


def tanh_chains(folder: str, rounds: int) -> None:
    from refruntime import fused_elementwise, plan_fusion

    chain = plan_fusion.elementwise_chain
    linear = _switch(plan_fusion, "elementwise_chain",
                     lambda step, constant, only_reader, feeder=None: chain(step, constant, only_reader))
    no_tanh = _switch(fused_elementwise, "_NUMPY", {})

    def off():
        linear[0]()
        no_tanh[0]()

    def on():
        linear[1]()
        no_tanh[1]()

    _ab_each("chains with feeders and Tanh", _transformers(folder), off, on, rounds, note=_step_count)


EXPERIMENTS = {"shape-memo": shape_memo, "layernorm": layernorm, "quantize": quantize, "fusion": fusion,
               "guards": guards, "blas-threads": blas_threads, "softmax": softmax, "erf": erf,
               "blas-blocks": blas_blocks, "reshape-gemm": reshape_gemm, "tanh-chains": tanh_chains}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", help=f"experiments to run (default: all of {', '.join(EXPERIMENTS)})")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    unknown = [w for w in args.which if w not in EXPERIMENTS]
    if unknown:
        parser.error(f"unknown experiment(s) {unknown}; choose from {', '.join(EXPERIMENTS)}")
    with tempfile.TemporaryDirectory(prefix="gk-ab-") as folder:
        for name in args.which or EXPERIMENTS:
            EXPERIMENTS[name](folder, args.rounds)


if __name__ == "__main__":
    main()
