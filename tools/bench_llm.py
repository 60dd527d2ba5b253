"""LLM-size graphs (> 2 GiB of float32 weights) through load, simplify, run and verify --per-node.

    .venv/bin/python tools/bench_llm.py             # ~2.4 GiB of weights: needs ~5 GiB free in the temp folder
    .venv/bin/python tools/bench_llm.py --d-model 512 --layers 3 --heads 8 --vocab 4096   # ~55 MB, seconds

Builds a decoder-only transformer with random weights in a temporary folder (deleted at the end),
written straight to one external data file (never whole in memory), then runs each step as a
fresh subprocess and prints its wall time and peak RSS next to the weights' size:

- load:      `gk.load(MODEL)` and `.numpy()` of every initializer (views of the mapped file:
             nothing is read until used);
- simplify:  `graphkit simplify MODEL -o SIMPLE` (fold, prune, fuse; saved with external data);
- run:       `graphkit run SIMPLE` (refruntime, random inputs, initializers memory-mapped);
- verify:    `graphkit verify SIMPLE --runtimes ref,ort --per-node`;
- ORT alone: `InferenceSession(SIMPLE).run(...)` with its default options (MatMul weights prepacked
             into memory ORT owns), and with `session.disable_prepacking` (ORT maps the data file
             and computes from the map): what ORT itself does with external data.

Peak RSS is the child's own (os.wait4's ru_maxrss). It counts the resident pages of memory-mapped
files too, so a step that reads every weight once costs ~1.0x the weights even when nothing is
copied; "anon" is the largest RssAnon sampled from /proc/<pid>/status every 20 ms: memory the
process allocated (copies, ORT's prepacked weights), as opposed to mapped file pages the kernel
can drop at any time.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import onnx
from onnx import TensorProto, helper

DATA_ALIGNMENT = 4096  # offsets of the weights in the data file (a page: what mmap needs)


class _DataFile:
    """Appends tensors to one external data file and returns their TensorProto headers."""

    def __init__(self, folder: str, location: str):
        self.location = location
        self.fh = open(os.path.join(folder, location), "wb")  # noqa: SIM115 - closed by close()
        self.offset = 0
        self.nbytes = 0

    def add(self, name: str, array: np.ndarray) -> TensorProto:
        pad = -self.offset % DATA_ALIGNMENT
        if pad:
            self.fh.write(b"\0" * pad)
            self.offset += pad
        data = np.ascontiguousarray(array)
        self.fh.write(memoryview(data).cast("B"))
        tensor = TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(data.dtype), dims=data.shape,
                             data_location=TensorProto.EXTERNAL)
        for key, value in (("location", self.location), ("offset", str(self.offset)), ("length", str(data.nbytes))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        self.offset += data.nbytes
        self.nbytes += data.nbytes
        return tensor

    def close(self) -> None:
        self.fh.close()


def build_decoder(folder: str, *, d_model: int = 2048, layers: int = 10, heads: int = 16, vocab: int = 32000,
                  ffn: int | None = None, seq: int = 16, seed: int = 0, name: str = "llm.onnx") -> tuple[str, int]:
    """A decoder-only transformer in standard ops (opset 17), random weights in `name`.data next to
    it. Returns (model path, bytes of weights). The defaults give ~2.36 GiB of float32 weights.

    input_ids int64 [1, seq] -> Gather(embedding) + positions -> `layers` x (LayerNormalization,
    causal multi-head attention written out as MatMul/Reshape/Transpose/Div/Add/Softmax, residual
    Add, LayerNormalization, MatMul-GELU(x * Sigmoid(1.702 x))-MatMul, residual Add) ->
    LayerNormalization -> MatMul to the vocabulary: logits float32 [1, seq, vocab]."""
    ffn = ffn or 4 * d_model
    head_dim = d_model // heads
    rng = np.random.default_rng(seed)
    data = _DataFile(folder, name + ".data")
    inits: list[TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def stored(wname, array):
        inits.append(data.add(wname, array))
        return wname

    def weight(wname, shape, std=0.02):
        return stored(wname, rng.standard_normal(shape, dtype=np.float32) * np.float32(std))

    def const(cname, value):
        inits.append(helper.make_tensor(cname, helper.np_dtype_to_tensor_dtype(value.dtype), value.shape,
                                        value.ravel().tolist()))
        return cname

    def node(op, inputs, out, **attrs):
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def layer_norm(x, prefix):
        scale = stored(f"{prefix}.weight", np.ones(d_model, np.float32))
        bias = stored(f"{prefix}.bias", np.zeros(d_model, np.float32))
        return node("LayerNormalization", [x, scale, bias], f"{prefix}.out", axis=-1, epsilon=1e-5)

    def linear(x, prefix, n_in, n_out):
        y = node("MatMul", [x, weight(f"{prefix}.weight", (n_in, n_out))], f"{prefix}.matmul")
        return node("Add", [y, weight(f"{prefix}.bias", (n_out,))], f"{prefix}.out")

    split_heads = const("shape.split_heads", np.array([1, seq, heads, head_dim], np.int64))
    merge_heads = const("shape.merge_heads", np.array([1, seq, d_model], np.int64))
    # sqrt(head_dim) as a Sqrt of a constant: something for `simplify` to fold
    root = node("Sqrt", [const("head_dim", np.array(float(head_dim), np.float32))], "attn.scale")
    mask = const("causal_mask", np.triu(np.full((seq, seq), -1e4, np.float32), k=1))

    x = node("Gather", [weight("embed.weight", (vocab, d_model)), "input_ids"], "embed.tokens", axis=0)
    x = node("Add", [x, weight("embed.positions", (seq, d_model))], "embed.out")
    for i in range(layers):
        p = f"block{i}"
        h = layer_norm(x, f"{p}.ln1")
        q, k, v = (node("Reshape", [linear(h, f"{p}.attn.{n}", d_model, d_model), split_heads], f"{p}.attn.{n}.heads")
                   for n in "qkv")
        q = node("Transpose", [q], f"{p}.attn.q.t", perm=[0, 2, 1, 3])
        k = node("Transpose", [k], f"{p}.attn.k.t", perm=[0, 2, 3, 1])
        v = node("Transpose", [v], f"{p}.attn.v.t", perm=[0, 2, 1, 3])
        s = node("Div", [node("MatMul", [q, k], f"{p}.attn.qk"), root], f"{p}.attn.scaled")
        s = node("Softmax", [node("Add", [s, mask], f"{p}.attn.masked")], f"{p}.attn.probs", axis=-1)
        c = node("Transpose", [node("MatMul", [s, v], f"{p}.attn.ctx")], f"{p}.attn.ctx.t", perm=[0, 2, 1, 3])
        c = node("Reshape", [c, merge_heads], f"{p}.attn.merged")
        x = node("Add", [x, linear(c, f"{p}.attn.o", d_model, d_model)], f"{p}.resid1")
        h = linear(layer_norm(x, f"{p}.ln2"), f"{p}.mlp.up", d_model, ffn)
        gate = node("Sigmoid", [node("Mul", [h, const(f"{p}.gelu.k", np.array(1.702, np.float32))],
                                     f"{p}.mlp.gelu.scaled")], f"{p}.mlp.gelu.gate")
        h = node("Mul", [h, gate], f"{p}.mlp.gelu")
        x = node("Add", [x, linear(h, f"{p}.mlp.down", ffn, d_model)], f"{p}.resid2")
    x = layer_norm(x, "final_ln")
    node("MatMul", [x, weight("lm_head.weight", (d_model, vocab))], "logits")
    data.close()
    graph = helper.make_graph(
        nodes, "decoder", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, seq])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, seq, vocab])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="bench_llm")
    model.ir_version = 8
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return path, data.nbytes


STEPS = {
    "python + imports (floor)": "import numpy, onnx, onnxruntime, graphkit.verification, refruntime",
    "load": """
import sys, graphkit as gk
model = gk.load(sys.argv[1])
print(sum(v.const_value.numpy().nbytes for v in model.graph.initializers.values()), "bytes of weights mapped")
""",
    "simplify": "from graphkit.cli.main import main; import sys; sys.exit(main(['simplify', sys.argv[1], '-o', sys.argv[2]]))",
    "run": "from graphkit.cli.main import main; import sys; sys.exit(main(['run', sys.argv[2]]))",
    "verify --per-node": ("from graphkit.cli.main import main; import sys; "
                          "sys.exit(main(['verify', sys.argv[2], '--runtimes', 'ref,ort', '--per-node']))"),
    "ORT alone (default)": """
import sys, numpy as np, onnxruntime as ort
s = ort.InferenceSession(sys.argv[2], providers=["CPUExecutionProvider"])
s.run(None, {"input_ids": np.zeros((1, int(sys.argv[3])), np.int64)})
""",
    "ORT alone (no prepacking)": """
import sys, numpy as np, onnxruntime as ort
o = ort.SessionOptions(); o.add_session_config_entry("session.disable_prepacking", "1")
s = ort.InferenceSession(sys.argv[2], o, providers=["CPUExecutionProvider"])
s.run(None, {"input_ids": np.zeros((1, int(sys.argv[3])), np.int64)})
""",
}


def measure(script: str, args: list[str]) -> dict:
    """Run `script` in a fresh interpreter; its seconds, peak RSS (wait4) and largest sampled
    RssAnon, and its stderr's last line when it failed."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    anon = [0]
    done = threading.Event()

    def sample():
        while not done.wait(0.02):
            try:
                with open(f"/proc/{proc.pid}/status") as f:
                    for line in f:
                        if line.startswith("RssAnon:"):
                            anon[0] = max(anon[0], int(line.split()[1]) * 1024)
            except OSError:
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    err = proc.stderr.read()  # verify's progress line goes here; read it so the pipe never fills
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": seconds, "peak": usage.ru_maxrss * 1024, "anon": anon[0], "code": proc.returncode,
            "error": err.strip().splitlines()[-1] if proc.returncode and err.strip() else ""}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d-model", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--seq", type=int, default=16)
    parser.add_argument("--dir", default=None, help="parent of the temporary folder (default: the system's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-llm-", dir=args.dir) as folder:
        # built in a child too: a child forked from a big parent would inherit its peak RSS
        sizes = {"d_model": args.d_model, "layers": args.layers, "heads": args.heads, "vocab": args.vocab,
                 "seq": args.seq}
        build = measure(f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
                        f"import bench_llm; bench_llm.build_decoder(sys.argv[1], **{sizes!r})", [folder])
        if build["code"]:
            sys.exit(f"building the model failed: {build['error']}")
        path = os.path.join(folder, "llm.onnx")
        weights = os.path.getsize(path + ".data")
        print(f"decoder: d_model {args.d_model}, {args.layers} layers, {args.heads} heads, vocab {args.vocab}, "
              f"seq {args.seq}: {weights / 2**30:.2f} GiB of float32 weights in {folder}")
        simple = os.path.join(folder, "llm.simple.onnx")
        print(f"{'step':<28}{'seconds':>9}{'peak RSS':>12}{'x weights':>11}{'anon':>11}{'x weights':>11}")
        _row("build (random weights)", build, weights)
        for step, script in STEPS.items():
            _row(step, measure(script, [path, simple, str(args.seq)]), weights)
    return 0


def _row(step: str, r: dict, weights: int) -> None:
    line = (f"{step:<28}{r['seconds']:>9.1f}{r['peak'] / 2**20:>9.0f} MiB{r['peak'] / weights:>10.2f}x"
            f"{r['anon'] / 2**20:>7.0f} MiB{r['anon'] / weights:>10.2f}x")
    print(line + (f"  FAILED (exit {r['code']}): {r['error']}" if r["code"] else ""), flush=True)


if __name__ == "__main__":
    sys.exit(main())
