"""simplify on transformer exports, an LSTM OCR model, and hand-built graphs for each rewrite.

Part 1: tiny BERT, GPT-2, ViT and Whisper encoder from `transformers` configs (random weights, never
a hub download) and a CRNN-style OCR model (Conv + BiLSTM + Linear + log_softmax), each exported by
both torch exporters with dynamic batch (and sequence / width) axes. simplify must reach at most
the node count measured here, and at most onnxsim's (computed here when onnxsim is importable), and
onnxruntime must give the same outputs before and after at two input sizes, which exercises the
symbolic dims the shape passes reason about. ShapeInfo's symbolic dims are also checked against
the shapes onnxruntime actually produces.

Part 2: one small graph per rewrite of fold_shapes / remove_noops / merge_layout / prune's CSE /
fuse_transformer / fuse (matmul_add), and for the cases each must refuse.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import graphkit as gk
from graphkit.passes import FoldShapes, FuseTransformer, MergeLayoutOps, RemoveNoOps, ShapeInfo
from graphkit.passes import sym_dims as sd
from graphkit.passes.api import run_pass
from tests.graphkit.passes_fixtures import check, init, ops, ort_run, vi

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # models come from configs; nothing may reach the hub
node = helper.make_node
I64, BOOL = TensorProto.INT64, TensorProto.BOOL

# ------------------------------------------------------------------ the models (also used by tools/bench_graphkit.py)


def _hf(family: str):
    """(module, ONNX input names, output keys, make_inputs(rng, batch, seq), dynamic sequence?)"""
    import transformers

    def text(rng, batch, seq):
        ids = rng.integers(0, 100, (batch, seq)).astype(np.int64)
        mask = np.ones((batch, seq), np.int64)
        mask[-1, seq - 2:] = 0  # padding: the masked attention path runs
        return {"input_ids": ids, "attention_mask": mask}

    if family == "bert":
        config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                         intermediate_size=64, max_position_embeddings=64, initializer_range=0.3)
        return transformers.BertModel(config), ["last_hidden_state", "pooler_output"], text, True
    if family == "gpt2":
        config = transformers.GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=2, n_positions=64,
                                         use_cache=False, initializer_range=0.3)
        return transformers.GPT2Model(config), ["last_hidden_state"], text, True
    if family == "vit":
        config = transformers.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                        intermediate_size=64, image_size=32, patch_size=8, num_channels=3,
                                        initializer_range=0.3)
        return (transformers.ViTModel(config), ["last_hidden_state", "pooler_output"],
                lambda rng, batch, _: {"pixel_values": rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)},
                False)
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    config = transformers.WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
                                        decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64,
                                        num_mel_bins=16, max_source_positions=20, vocab_size=100, pad_token_id=0,
                                        bos_token_id=1, eos_token_id=2, decoder_start_token_id=1, init_std=0.3)
    return (WhisperEncoder(config), ["last_hidden_state"],  # the encoder wants exactly 40 frames
            lambda rng, batch, _: {"input_features": rng.standard_normal((batch, 16, 40)).astype(np.float32)}, False)


def _ocr_module():
    import torch

    class OCR(torch.nn.Module):
        """CRNN-style: 3 conv blocks -> 2 stacked BiLSTMs over the width -> Linear -> log_softmax.
        (Two 1-layer LSTMs: torch.export cannot export LSTM(num_layers=2) with a dynamic width.)"""

        def __init__(self, classes: int = 20):
            super().__init__()
            nn = torch.nn

            def block(i, o, pool):
                return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(pool)]
            self.conv = nn.Sequential(*block(1, 8, 2), *block(8, 16, 2), *block(16, 16, (2, 1)))
            self.lstm1 = nn.LSTM(32, 32, bidirectional=True, batch_first=True)
            self.lstm2 = nn.LSTM(64, 32, bidirectional=True, batch_first=True)
            self.fc = nn.Linear(64, classes)

        def forward(self, x):
            f = self.conv(x)  # batch, 16, 2, width / 4
            b, c, h, w = f.shape
            f = f.permute(0, 3, 1, 2).reshape(b, w, c * h)
            y = self.lstm2(self.lstm1(f)[0])[0]
            return torch.nn.functional.log_softmax(self.fc(y), dim=-1)

    for m in OCR().modules():  # BatchNorm statistics that are not the identity
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return OCR()


FAMILIES = ["bert", "gpt2", "vit", "whisper_encoder", "ocr"]
EXPORTERS = ["torchscript", "dynamo"]


def feeds_for(family: str, batch: int, size: int, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    if family == "ocr":
        return {"image": rng.standard_normal((batch, 1, 16, 8 * size)).astype(np.float32)}
    return _hf(family)[2](rng, batch, size)


def export_model(family: str, exporter: str, path: str) -> str:
    """Export one model (seeded random weights) to `path`; returns the path."""
    import torch

    torch.manual_seed(0)
    if family == "ocr":
        module, names, outputs = _ocr_module().eval(), ["image"], ["log_probs"]
        axes = {"image": {0: "batch", 3: "width"}}
        dims = {0: torch.export.Dim("batch", min=1, max=16), 3: torch.export.Dim("width", min=16, max=1024)}
        dynamic = (dims,)  # forward(image)
        args = (torch.from_numpy(feeds_for("ocr", 2, 8, seed=0)["image"]),)
    else:
        model, keys, make_inputs, has_sequence = _hf(family)

        class Outputs(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, *inputs):
                out = self.model(**dict(zip(names, inputs)))
                return tuple(out[k] for k in keys)

        example = make_inputs(np.random.default_rng(0), 2, 7)
        names, outputs = list(example), [f"out_{k}" for k in keys]
        module = Outputs().eval()
        args = tuple(torch.from_numpy(v) for v in example.values())
        axes = {n: ({0: "batch", 1: "sequence"} if has_sequence else {0: "batch"}) for n in names}
        batch, sequence = torch.export.Dim("batch", min=1, max=16), torch.export.Dim("sequence", min=3, max=60)
        dynamic = (tuple({0: batch, 1: sequence} if has_sequence else {0: batch} for _ in names),)  # forward(*inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            torch.onnx.export(module, args, path, input_names=names, output_names=outputs, dynamic_axes=axes,
                              opset_version=17, dynamo=False)
        else:
            torch.onnx.export(module, args, input_names=names, output_names=outputs, dynamic_shapes=dynamic,
                              opset_version=18, dynamo=True, verbose=False).save(path)
    return path


# ------------------------------------------------------------------ part 1: exports

# nodes after gk.simplify, measured (original count in the comment; onnxsim 0.8.1 / onnxslim 0.1.98)
EXPECTED = {
    ("bert", "torchscript"): 101,            # 340; onnxsim 178, onnxslim 140
    ("bert", "dynamo"): 97,                  # 131; onnxsim 114, onnxslim 116
    ("gpt2", "torchscript"): 156,            # 541; onnxsim 240, onnxslim 244
    ("gpt2", "dynamo"): 110,                 # 137; onnxsim 127, onnxslim 128
    ("vit", "torchscript"): 71,              # 235; onnxsim 112, onnxslim 104
    ("vit", "dynamo"): 72,                   # 107; onnxsim 81, onnxslim 89
    ("whisper_encoder", "torchscript"): 69,  # 218; onnxsim 107, onnxslim 103
    ("whisper_encoder", "dynamo"): 69,       # 99; onnxsim 73, onnxslim 81
    ("ocr", "torchscript"): 22,              # 63; onnxsim 32, onnxslim 39
    ("ocr", "dynamo"): 22,                   # 47; onnxsim 37, onnxslim 39
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    folder, made = tmp_path_factory.mktemp("exports"), {}

    def get(family, exporter):
        if (family, exporter) not in made:
            made[family, exporter] = export_model(family, exporter, str(folder / f"{family}_{exporter}.onnx"))
        return made[family, exporter]
    return get


def _ort(proto: onnx.ModelProto, feeds: dict) -> list:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


SIZES = [(2, 5), (3, 9)]  # (batch, sequence or width / 8): neither is the export's size


SLOW = {("ocr", "dynamo")}  # torch.export of the two LSTMs alone takes 10-40 s here
CASES = [pytest.param(f, e, id=f"{f}-{e}", marks=pytest.mark.slow if (f, e) in SLOW else ())
         for f in FAMILIES for e in EXPORTERS]


@pytest.mark.parametrize("family,exporter", CASES)
def test_simplify_export_reaches_measured_count_and_keeps_outputs(exported, family, exporter):
    path = exported(family, exporter)
    original = onnx.load(path)
    m = gk.load(path)
    report = gk.simplify(m)
    after = check(m)
    assert len(after.graph.node) <= EXPECTED[family, exporter], report.table(50)
    try:
        import onnxsim
    except ImportError:
        onnxsim = None
    if onnxsim is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            simplified, ok = onnxsim.simplify(onnx.load(path))
        assert ok and len(after.graph.node) <= len(simplified.graph.node)
    for batch, size in SIZES:
        feeds = feeds_for(family, batch, size)
        for want, got in zip(_ort(original, feeds), _ort(after, feeds)):
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert not gk.simplify(m).modified  # a fixed point


@pytest.mark.parametrize("family,exporter", [("bert", "torchscript"), ("gpt2", "dynamo"), ("ocr", "torchscript"),
                                             pytest.param("ocr", "dynamo", marks=pytest.mark.slow)])
def test_symbolic_shapes_agree_with_onnxruntime(exported, family, exporter):
    """Every dim ShapeInfo states is the one onnxruntime produces, and one symbolic dim (a name, a
    product, a floor division, or a fresh dim) is one number within a run, at two input sizes."""
    path = exported(family, exporter)
    m = gk.load(path)
    info = ShapeInfo(m)
    values = [v for n in m.graph for v in n.outputs if v.name]
    known = {v.name: (info.shape(v), info.data(v)) for v in values}
    probe = onnx.load(path)
    del probe.graph.output[:]
    probe.graph.output.extend(onnx.ValueInfoProto(name=v.name) for v in values)
    for batch, size in SIZES:
        actual = dict(zip(known, _ort(probe, feeds_for(family, batch, size))))
        binding: dict = {}
        for name, (shape, data) in known.items():
            a = np.asarray(actual[name])
            assert shape is not None and len(shape) == a.ndim, name
            for d, n in [*zip(shape, a.shape), *((d, int(x)) for d, x in zip(data or (), a.reshape(-1))
                                                 if d is not None and not isinstance(d, bool))]:
                if type(d) is int:
                    assert d == n, (name, shape, a.shape, data)
                else:
                    assert binding.setdefault(d, n) == n, (name, d, binding[d], n)


def test_target_ort_applies_onnxruntime_fusions_checked(exported):
    path = exported("bert", "torchscript")
    m = gk.load(path)
    report = gk.simplify(m, target="ort", ort_model_type="bert")
    fusion = report.children[-1]
    assert fusion.name == "ort_fusion" and fusion.counts["ort_SkipLayerNormalization"] == 4
    assert m.opset_imports.get("com.microsoft") == 1  # onnxruntime's optimizer leaves the import out
    after = check(m)
    assert {n.op_type for n in after.graph.node} >= {"SkipLayerNormalization", "Gelu"}
    original = onnx.load(path)
    for batch, size in SIZES:
        feeds = feeds_for("bert", batch, size)
        for want, got in zip(_ort(original, feeds), _ort(after, feeds)):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_target_ort_drops_a_fusion_that_changes_outputs(monkeypatch):
    """onnxruntime's fusions are checked: a "fusion" that changes the outputs is not kept."""
    pytest.importorskip("onnxruntime")
    from onnxruntime.transformers import optimizer

    class Broken:
        def __init__(self, model):
            self.model = onnx.ModelProto.FromString(model.SerializeToString())
            self.model.graph.node[0].op_type = "Neg"

        def get_fused_operator_statistics(self):
            return {"Attention": 1}

    monkeypatch.setattr(optimizer, "optimize_model", lambda proto, **kw: Broken(proto))
    p = _proto([node("Relu", ["x"], ["y"])], [vi("x", ["n", 4])], [vi("y", ["n", 4])])
    m = gk.load(p.SerializeToString())
    report = gk.simplify(m, target="ort")
    assert ops(m) == ["Relu"]
    assert [n["kind"] for n in report.all_notes()] == ["ort_fusion_rejected"]


def test_cli_simplify_target_ort(exported, tmp_path, capsys):
    import json

    from graphkit.cli.main import main

    out = str(tmp_path / "o.onnx")
    assert main(["simplify", exported("vit", "dynamo"), "-o", out, "--target", "ort", "--ort-model-type", "vit",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["pass"] for c in data["children"]][-1] == "ort_fusion"
    assert "SkipLayerNormalization" in {n.op_type for n in onnx.load(out).graph.node}
    assert main(["simplify", exported("vit", "dynamo"), "-o", out, "--target", "tpu"]) == 2
    assert main(["simplify", exported("vit", "dynamo"), "-o", out, "--target", "ort", "--ort-model-type", "nope"]) == 2


# ------------------------------------------------------------------ part 2: hand-built graphs


def _run(m, feeds_list):
    p = m.to_proto() if not isinstance(m, onnx.ModelProto) else m
    return [ort_run(p, f) for f in feeds_list]


def _same_outputs(before: onnx.ModelProto, after, feeds_list):
    for want, got in zip(_run(before, feeds_list), _run(check(after), feeds_list)):
        for a, b in zip(want, got):
            assert a.shape == b.shape
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _proto(nodes, inputs, outputs, inits=(), opset=17):
    from tests.graphkit.passes_fixtures import proto

    return proto(nodes, inputs, outputs, inits, opset=opset)


def _simplified(p: onnx.ModelProto, pass_=None):
    m = gk.load(p.SerializeToString())
    report = gk.simplify(m) if pass_ is None else run_pass(pass_, m)
    return m, report


# -- fold_shapes


def _gather_shape_model(index: int):
    """x: [batch, 32, seq] -> y = ConstantOfShape(Concat(Unsqueeze(Gather(Shape(x), index)), [2]))."""
    return _proto([node("Shape", ["x"], ["s"]), node("Gather", ["s", "i"], ["d"]),
                   node("Unsqueeze", ["d", "zero"], ["d1"]), node("Concat", ["d1", "two"], ["t"], axis=0),
                   node("ConstantOfShape", ["t"], ["y"])],
                  [vi("x", ["batch", 32, "seq"])], [vi("y", ["batch" if index == 0 else 32, 2])],
                  [init("i", np.array(index, np.int64)), init("zero", np.array([0], np.int64)),
                   init("two", np.array([2], np.int64))])


def test_gather_of_a_static_dim_folds_while_other_dims_are_symbolic():
    m, report = _simplified(_gather_shape_model(1))
    assert report.total("folded_shape") >= 1
    assert ops(m) == ["Constant"]  # ConstantOfShape([32, 2]) folded too: the output is a constant
    np.testing.assert_array_equal(_run(m, [{"x": _x(2, 32, 3)}])[0][0], np.zeros((32, 2), np.float32))


def test_gather_of_a_symbolic_dim_is_not_folded():
    p = _gather_shape_model(0)
    m, _ = _simplified(p)
    assert ops(m) == ["Shape", "Gather", "Unsqueeze", "Concat", "ConstantOfShape"]
    _same_outputs(p, m, [{"x": _x(3, 32, 5)}, {"x": _x(1, 32, 2)}])


def test_slice_and_shape_start_end_of_static_dims_fold_size_of_symbolic_does_not():
    p = _proto([node("Shape", ["x"], ["s"]), node("Slice", ["s", "one", "three"], ["mid"]),    # [32, 4]
                node("Shape", ["x"], ["last"], start=-1),                                        # [4]
                node("Concat", ["mid", "last"], ["t"], axis=0), node("Reshape", ["k", "t"], ["y"]),
                node("Size", ["x"], ["n"])],
               [vi("x", ["batch", 32, 4])], [vi("y", [32, 4, 4]), vi("n", [], I64)],
               [init("one", np.array([1], np.int64)), init("three", np.array([3], np.int64)),
                init("k", np.arange(512, dtype=np.float32))])
    m, _ = _simplified(p)
    assert sorted(ops(m)) == ["Constant", "Size"]
    _same_outputs(p, m, [{"x": _x(2, 32, 4)}, {"x": _x(5, 32, 4)}])


def test_shape_and_size_of_a_static_tensor_fold():
    p = _proto([node("Relu", ["x"], ["r"]), node("Shape", ["r"], ["s"]), node("Size", ["r"], ["n"]),
                node("Cast", ["s"], ["sf"], to=TensorProto.FLOAT), node("Cast", ["n"], ["nf"], to=TensorProto.FLOAT),
                node("Add", ["sf", "nf"], ["y"])],
               [vi("x", [2, 3])], [vi("y", [2])])
    m, _ = _simplified(p)
    assert ops(m) == ["Constant"]
    np.testing.assert_array_equal(_run(m, [{"x": _x(2, 3)}])[0][0], np.array([8, 9], np.float32))


def _split_heads_model(view_from_mul=False):
    """x: [batch, seq, 32] -> Reshape to [batch, seq, 2, 16] (or [batch*seq, 32]) with the target computed
    from Shape(x) the way exporters write it."""
    nodes = [node("Shape", ["x"], ["s"]), node("Gather", ["s", "i0"], ["b"]), node("Gather", ["s", "i1"], ["n"])]
    if view_from_mul:
        nodes += [node("Mul", ["b", "n"], ["bn"]), node("Unsqueeze", ["bn", "zero"], ["bn1"]),
                  node("Concat", ["bn1", "c32"], ["t"], axis=0)]
    else:
        nodes += [node("Unsqueeze", ["b", "zero"], ["b1"]), node("Unsqueeze", ["n", "zero"], ["n1"]),
                  node("Concat", ["b1", "n1", "heads"], ["t"], axis=0)]
    nodes.append(node("Reshape", ["x", "t"], ["y"], allowzero=1))
    out = ["batch*seq", 32] if view_from_mul else ["batch", "seq", 2, 16]
    return _proto(nodes, [vi("x", ["batch", "seq", 32])], [vi("y", out)],
                  [init("i0", np.array(0, np.int64)), init("i1", np.array(1, np.int64)),
                   init("zero", np.array([0], np.int64)), init("heads", np.array([2, 16], np.int64)),
                   init("c32", np.array([32], np.int64))], opset=18)


@pytest.mark.parametrize("view_from_mul,target,allowzero", [(False, [0, 0, 2, 16], 0), (True, [-1, 32], 1)])
def test_reshape_target_from_shape_chain_becomes_a_constant(view_from_mul, target, allowzero):
    """[batch, seq, 2, 16]: batch and seq are x's own dims -> 0 (copy; allowzero becomes 0, there is
    no literal 0). [batch*seq, 32]: the one unknown entry next to positive constants -> -1."""
    p = _split_heads_model(view_from_mul)
    m, report = _simplified(p)
    assert ops(m) == ["Reshape"] and report.total("reshape_target") == 1
    reshape = m.graph.nodes[0]
    assert reshape.inputs[1].const_value.numpy().tolist() == target
    assert reshape.attributes.get("allowzero", 0) == allowzero
    _same_outputs(p, m, [{"x": _x(2, 3, 32)}, {"x": _x(4, 1, 32)}])


def test_reshape_target_with_two_unknown_entries_stays():
    """[batch*seq] and [seq*batch] entries: two entries not resolvable -> no constant target."""
    p = _proto([node("Shape", ["x"], ["s"]), node("Gather", ["s", "i0"], ["b"]), node("Gather", ["s", "i1"], ["n"]),
                node("Unsqueeze", ["n", "zero"], ["n1"]), node("Unsqueeze", ["b", "zero"], ["b1"]),
                node("Concat", ["n1", "b1", "c32"], ["t"], axis=0), node("Reshape", ["x", "t"], ["y"])],
               [vi("x", ["batch", "seq", 32])], [vi("y", ["seq", "batch", 32])],
               [init("i0", np.array(0, np.int64)), init("i1", np.array(1, np.int64)),
                init("zero", np.array([0], np.int64)), init("c32", np.array([32], np.int64))])
    m, report = _simplified(p, FoldShapes())
    assert not report.modified
    assert "Concat" in ops(m)


# -- remove_noops


def _noop_case(nodes, inputs, outputs, inits=(), opset=17):
    p = _proto(nodes, inputs, outputs, inits, opset=opset)
    m, report = _simplified(p)
    return p, m, report


def test_cast_to_the_same_type_goes_a_real_cast_stays():
    p, m, report = _noop_case([node("Cast", ["x"], ["a"], to=TensorProto.FLOAT), node("Relu", ["a"], ["b"]),
                               node("Cast", ["b"], ["y"], to=TensorProto.DOUBLE)],
                              [vi("x", ["n", 3])], [vi("y", ["n", 3], TensorProto.DOUBLE)])
    assert ops(m) == ["Relu", "Cast"] and report.total("removed_noop") == 1
    _same_outputs(p, m, [{"x": _x(2, 3)}])


def test_expand_to_own_shape_goes_a_broadcasting_expand_stays():
    p, m, _ = _noop_case([node("Shape", ["x"], ["s"]), node("Expand", ["x", "s"], ["a"]),
                          node("Expand", ["a", "four"], ["y"])],
                         [vi("x", ["n", 1])], [vi("y", ["n", 4])], [init("four", np.array([1, 4], np.int64))])
    assert ops(m) == ["Expand"]
    _same_outputs(p, m, [{"x": _x(2, 1)}, {"x": _x(5, 1)}])


@pytest.mark.parametrize("cond,kept", [(True, "x"), (False, "z")])
def test_where_with_a_constant_condition_picks_a_side(cond, kept):
    p, m, _ = _noop_case([node("Where", ["c", "x", "z"], ["w"]), node("Relu", ["w"], ["y"])],
                         [vi("x", ["n", 4]), vi("z", ["n", 4])], [vi("y", ["n", 4])],
                         [init("c", np.full((1, 4), cond))])
    assert ops(m) == ["Relu"] and m.graph.nodes[0].inputs[0].name == kept
    _same_outputs(p, m, [{"x": _x(2, 4), "z": _x(2, 4, seed=1)}])


def test_where_whose_condition_broadcasts_the_result_stays():
    _, m, _ = _noop_case([node("Where", ["c", "x", "z"], ["y"])], [vi("x", [4]), vi("z", [4])], [vi("y", [3, 4])],
                         [init("c", np.ones((3, 4), bool))])
    assert ops(m) == ["Where"]


def test_reshape_slice_transpose_concat_pad_identity_dropout_no_ops_go():
    p, m, report = _noop_case(
        [node("Reshape", ["x", "same"], ["a"]), node("Slice", ["a", "s0", "big"], ["b"]),
         node("Transpose", ["b"], ["c"], perm=[0, 1]), node("Concat", ["c"], ["d"], axis=0),
         node("Pad", ["d", "zeros"], ["e"]), node("Identity", ["e"], ["f"]), node("Dropout", ["f"], ["g"]),
         node("Relu", ["g"], ["y"])],
        [vi("x", [2, 3])], [vi("y", [2, 3])],
        [init("same", np.array([2, 3], np.int64)), init("s0", np.array([0], np.int64)),
         init("big", np.array([2 ** 62], np.int64)), init("zeros", np.zeros(4, np.int64))])
    assert ops(m) == ["Relu"]
    assert report.total("removed_noop") == 5
    _same_outputs(p, m, [{"x": _x(2, 3)}])


def test_reversing_slice_shifting_pad_and_real_transpose_stay():
    p, m, _ = _noop_case(
        [node("Slice", ["x", "m1", "low", "zero", "m1"], ["a"]), node("Pad", ["a", "shift"], ["b"]),
         node("Transpose", ["b"], ["y"], perm=[1, 0])],
        [vi("x", [3, 3])], [vi("y", [3, 3])],
        [init("m1", np.array([-1], np.int64)), init("low", np.array([-(2 ** 62)], np.int64)),
         init("zero", np.array([0], np.int64)), init("shift", np.array([1, 0, -1, 0], np.int64))])
    assert ops(m) == ["Slice", "Pad", "Transpose"]
    _same_outputs(p, m, [{"x": _x(3, 3)}])


def test_adding_zero_and_multiplying_by_one_go_unless_they_broadcast():
    p, m, _ = _noop_case([node("Add", ["x", "zero"], ["a"]), node("Mul", ["one", "a"], ["b"]),
                          node("Add", ["b", "zeros34"], ["y"])],
                         [vi("x", [4])], [vi("y", [3, 4])],
                         [init("zero", np.zeros(4, np.float32)), init("one", np.float32(1)),
                          init("zeros34", np.zeros((3, 4), np.float32))])
    assert ops(m) == ["Add"]  # the last one grows [4] to [3, 4]
    _same_outputs(p, m, [{"x": _x(4)}])


def test_add_of_an_expanded_zero_goes():
    """The fill is known through Expand/ConstantOfShape even though the shape is symbolic."""
    p, m, _ = _noop_case([node("Shape", ["x"], ["s"]), node("ConstantOfShape", ["s"], ["z"]),
                          node("Add", ["x", "z"], ["a"]), node("Relu", ["a"], ["y"])],
                         [vi("x", ["n", 4])], [vi("y", ["n", 4])])
    assert ops(m) == ["Relu"]
    _same_outputs(p, m, [{"x": _x(3, 4)}])


def test_unsqueeze_squeeze_cancel_and_unsqueezes_merge():
    p, m, report = _noop_case([node("Unsqueeze", ["x", "ax0"], ["a"]), node("Squeeze", ["a", "ax0"], ["b"]),
                               node("Unsqueeze", ["b", "ax0"], ["c"]), node("Unsqueeze", ["c", "ax_1"], ["y"])],
                              [vi("x", ["n", 4])], [vi("y", [1, "n", 4, 1])],
                              [init("ax0", np.array([0], np.int64)), init("ax_1", np.array([-1], np.int64))])
    assert ops(m) == ["Unsqueeze"] and report.total("cancelled") == 1 and report.total("merged_unsqueeze") == 1
    assert m.graph.nodes[0].inputs[1].const_value.numpy().tolist() == [0, 3]
    _same_outputs(p, m, [{"x": _x(2, 4)}, {"x": _x(5, 4)}])


def test_lstm_zero_initial_state_is_omitted():
    hidden = 3
    rng = np.random.default_rng(0)
    p = _proto([node("Shape", ["x"], ["s"]), node("Gather", ["s", "one"], ["b"]),
                node("Unsqueeze", ["b", "zero"], ["b1"]), node("Concat", ["d1", "b1", "h"], ["hs"], axis=0),
                node("ConstantOfShape", ["hs"], ["h0"]),
                node("LSTM", ["x", "W", "R", "", "", "h0", "h0"], ["y"], hidden_size=hidden)],
               [vi("x", ["seq", "batch", 2])], [vi("y", ["seq", 1, "batch", hidden])],
               [init("one", np.array(1, np.int64)), init("zero", np.array([0], np.int64)),
                init("d1", np.array([1], np.int64)), init("h", np.array([hidden], np.int64)),
                init("W", rng.standard_normal((1, 4 * hidden, 2)).astype(np.float32)),
                init("R", rng.standard_normal((1, 4 * hidden, hidden)).astype(np.float32))])
    m, report = _simplified(p)
    assert ops(m) == ["LSTM"] and report.total("dropped_zero_state") == 1
    assert len(m.graph.nodes[0].inputs) == 3
    _same_outputs(p, m, [{"x": _x(4, 2, 2)}, {"x": _x(2, 3, 2)}])


# -- merge_layout


def test_transposes_merge_and_reshape_transpose_reshape_is_one_transpose():
    """Attention's K^T as torch.export writes it: [b,s,h,d] -> T(0,2,1,3) -> [b*h,s,d] -> T(0,2,1) -> [b,h,d,s]."""
    p = _proto([node("Transpose", ["x"], ["t"], perm=[0, 2, 1, 3]), node("Shape", ["t"], ["s"]),
                node("Slice", ["s", "zero", "two"], ["bh"]), node("Slice", ["s", "two", "three"], ["sq"]),
                node("Slice", ["s", "three", "four"], ["d"]),
                node("Concat", ["m1", "sq", "d"], ["t1"], axis=0), node("Reshape", ["t", "t1"], ["r"]),
                node("Transpose", ["r"], ["rt"], perm=[0, 2, 1]),
                node("Concat", ["bh", "d", "sq"], ["t2"], axis=0), node("Reshape", ["rt", "t2"], ["y"])],
               [vi("x", ["batch", "seq", 2, 8])], [vi("y", ["batch", 2, 8, "seq"])],
               [init("zero", np.array([0], np.int64)), init("two", np.array([2], np.int64)),
                init("three", np.array([3], np.int64)), init("four", np.array([4], np.int64)),
                init("m1", np.array([-1], np.int64))], opset=18)
    m, report = _simplified(p)
    assert ops(m) == ["Transpose"] and m.graph.nodes[0].attributes["perm"] == [0, 2, 3, 1]
    assert report.total("transpose_via_reshape") == 1 and report.total("merged_transpose") == 1
    _same_outputs(p, m, [{"x": _x(2, 5, 2, 8)}, {"x": _x(3, 1, 2, 8)}])


def test_transposes_that_compose_to_identity_cancel_a_reshape_after_a_transpose_stays():
    p, m, _ = _noop_case([node("Transpose", ["x"], ["a"], perm=[1, 0]), node("Transpose", ["a"], ["b"], perm=[1, 0]),
                          node("Transpose", ["b"], ["c"], perm=[1, 0]), node("Reshape", ["c", "flat"], ["y"])],
                         [vi("x", [2, 3])], [vi("y", [6])], [init("flat", np.array([-1], np.int64))])
    assert ops(m) == ["Transpose", "Reshape"]
    _same_outputs(p, m, [{"x": _x(2, 3)}])


def test_reshape_of_a_reshape_reads_the_first_input_unless_a_zero_copies_another_dim():
    merged = _proto([node("Reshape", ["x", "a"], ["r"]), node("Reshape", ["r", "b"], ["y"])],
                    [vi("x", [2, 6])], [vi("y", [4, 3])],
                    [init("a", np.array([3, 4], np.int64)), init("b", np.array([4, 3], np.int64))])
    m, report = _simplified(merged)
    assert ops(m) == ["Reshape"] and report.total("merged_reshape") == 1
    _same_outputs(merged, m, [{"x": _x(2, 6)}])
    copying = _proto([node("Reshape", ["x", "a"], ["r"]), node("Reshape", ["r", "b"], ["y"])],
                     [vi("x", [2, 6])], [vi("y", [3, 2, 2])],
                     [init("a", np.array([3, 4], np.int64)), init("b", np.array([0, 2, 2], np.int64))])
    m, _ = _simplified(copying)  # the 0 copies r's 3, not x's 2
    assert ops(m) == ["Reshape", "Reshape"]
    _same_outputs(copying, m, [{"x": _x(2, 6)}])


def test_merged_unsqueeze_at_opset_11_uses_the_attribute():
    p, m, _ = _noop_case([node("Unsqueeze", ["x"], ["a"], axes=[0]), node("Unsqueeze", ["a"], ["y"], axes=[2])],
                         [vi("x", [3])], [vi("y", [1, 3, 1])], opset=11)
    assert ops(m) == ["Unsqueeze"] and m.graph.nodes[0].attributes["axes"] == [0, 2]
    _same_outputs(p, m, [{"x": _x(3)}])


# -- common subexpressions


def test_commuted_adds_and_repeated_shapes_are_one_node():
    p, m, report = _noop_case([node("Add", ["x", "z"], ["a"]), node("Add", ["z", "x"], ["b"]),
                               node("Shape", ["x"], ["s1"]), node("Shape", ["x"], ["s2"]),
                               node("Mul", ["a", "b"], ["y"]), node("Concat", ["s1", "s2"], ["s"], axis=0)],
                              [vi("x", ["n", 4]), vi("z", ["n", 4])], [vi("y", ["n", 4]), vi("s", [4], I64)])
    assert sorted(ops(m)) == ["Add", "Concat", "Mul", "Shape"] and report.total("merged_node") == 2
    _same_outputs(p, m, [{"x": _x(2, 4), "z": _x(2, 4, seed=2)}])


# -- fusions


def _layer_norm_model(opset=17, gamma_shape=(8,), square="Pow"):
    sq = node("Pow", ["d", "two"], ["q"]) if square == "Pow" else node("Mul", ["d", "d"], ["q"])
    axes_attr = {"axes": [-1]} if opset < 18 else {}
    axes_in = [] if opset < 18 else ["axes"]
    nodes = [node("ReduceMean", ["x", *axes_in], ["mu"], **axes_attr), node("Sub", ["x", "mu"], ["d"]), sq,
             node("ReduceMean", ["q", *axes_in], ["var"], **axes_attr), node("Add", ["var", "eps"], ["ve"]),
             node("Sqrt", ["ve"], ["sd"]), node("Div", ["d", "sd"], ["n"]), node("Mul", ["n", "g"], ["ng"]),
             node("Add", ["ng", "b"], ["y"])]
    rng = np.random.default_rng(3)
    inits = [init("two", np.float32(2)), init("eps", np.float32(1e-5)),
             init("g", rng.standard_normal(gamma_shape).astype(np.float32)),
             init("b", rng.standard_normal(8).astype(np.float32))]
    if opset >= 18:
        inits.append(init("axes", np.array([-1], np.int64)))
    return _proto(nodes, [vi("x", ["batch", 5, 8])], [vi("y", ["batch", 5, 8])], inits, opset=opset)


@pytest.mark.parametrize("opset,square", [(17, "Pow"), (18, "Mul")])
def test_decomposed_layer_norm_becomes_layer_normalization(opset, square):
    p = _layer_norm_model(opset, square=square)
    m, report = _simplified(p)
    assert ops(m) == ["LayerNormalization"] and report.total("layer_norm") == 1
    ln = m.graph.nodes[0]
    assert ln.attributes["axis"] == -1 and abs(ln.attributes["epsilon"] - 1e-5) < 1e-12
    _same_outputs(p, m, [{"x": _x(2, 5, 8)}, {"x": _x(3, 5, 8)}])


def test_layer_norm_below_opset_17_stays():
    m, report = _simplified(_layer_norm_model(16), FuseTransformer())
    assert not report.modified and "LayerNormalization" not in ops(m)


def test_layer_norm_gamma_varying_across_rows_stays_outside():
    """gamma [5, 1] scales rows, not the normalized dim: LayerNormalization gets a scale of ones and
    the Mul/Add stay after it."""
    p = _layer_norm_model(17, (5, 1))
    m, _ = _simplified(p)
    assert ops(m) == ["LayerNormalization", "Mul", "Add"]
    np.testing.assert_array_equal(m.graph.nodes[0].inputs[1].const_value.numpy(), np.ones(8, np.float32))
    _same_outputs(p, m, [{"x": _x(2, 5, 8)}])


def _gelu_model(opset, form="erf"):
    if form == "erf":  # torch.export's order: x * (0.5 * (1 + erf(x / sqrt2)))
        nodes = [node("Div", ["x", "sqrt2"], ["a"]), node("Erf", ["a"], ["e"]), node("Add", ["e", "one"], ["e1"]),
                 node("Mul", ["half", "e1"], ["h"]), node("Mul", ["x", "h"], ["y"])]
        inits = [init("sqrt2", np.float32(np.sqrt(2))), init("one", np.float32(1)), init("half", np.float32(0.5))]
    else:  # GPT-2's gelu_new
        nodes = [node("Mul", ["x", "half"], ["h"]), node("Pow", ["x", "three"], ["c"]), node("Mul", ["c", "k"], ["ck"]),
                 node("Add", ["x", "ck"], ["i"]), node("Mul", ["i", "s"], ["si"]), node("Tanh", ["si"], ["t"]),
                 node("Add", ["t", "one"], ["t1"]), node("Mul", ["h", "t1"], ["y"])]
        inits = [init("half", np.float32(0.5)), init("three", np.float32(3)), init("k", np.float32(0.044715)),
                 init("s", np.float32(np.sqrt(2 / np.pi))), init("one", np.float32(1))]
    return _proto(nodes, [vi("x", ["n", 6])], [vi("y", ["n", 6])], inits, opset=opset)


@pytest.mark.parametrize("form", ["erf", "tanh"])
def test_gelu_is_fused_at_opset_20(form):
    p = _gelu_model(20, form)
    m, report = _simplified(p)
    assert ops(m) == ["Gelu"] and report.total("gelu" if form == "erf" else "gelu_tanh") == 1
    assert m.graph.nodes[0].attributes.get("approximate", "none") == ("none" if form == "erf" else "tanh")
    feeds = [{"x": _x(3, 6) * 3}]
    for want, got in zip(_run(p, feeds), _run(check(m), feeds)):
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)


def test_gelu_stays_decomposed_below_opset_20():
    m, report = _simplified(_gelu_model(18), FuseTransformer())
    assert not report.modified and "Erf" in ops(m)


@pytest.mark.parametrize("rank,fused", [(2, True), (3, False)])
def test_matmul_add_becomes_gemm_only_for_a_2d_input(rank, fused):
    shape = ["n", 4] if rank == 2 else ["b", "n", 4]
    rng = np.random.default_rng(0)
    p = _proto([node("MatMul", ["x", "w"], ["m"]), node("Add", ["m", "c"], ["y"])],
               [vi("x", shape)], [vi("y", [*shape[:-1], 3])],
               [init("w", rng.standard_normal((4, 3)).astype(np.float32)),
                init("c", rng.standard_normal(3).astype(np.float32))])
    m, _ = _simplified(p)
    assert ops(m) == (["Gemm"] if fused else ["MatMul", "Add"])
    x = _x(5, 4) if rank == 2 else _x(2, 5, 4)
    _same_outputs(p, m, [{"x": x}])


# -- ShapeInfo and symbolic dims


def test_symbolic_dims_are_canonical_polynomials():
    b, s = sd.atom("batch"), sd.atom("sequence")
    assert sd.parse("batch*sequence") == sd.mul(s, b) and sd.parse("2*batch") == sd.add(b, b)
    assert sd.exact_div(sd.mul(b, s), s) == b and sd.exact_div(sd.mul(b, 6), 4) is None
    assert sd.floordiv(sd.atom("w"), 2) == sd.floordiv(sd.atom("w"), 2) != sd.atom("w")
    assert sd.nonneg(sd.add(b, 1)) and not sd.nonneg(sd.sub(b, 1))


def test_shape_info_reads_reshape_targets_and_equal_of_dims():
    p = _proto([node("Shape", ["x"], ["s"]), node("Equal", ["s", "m1"], ["e"]),
                node("Where", ["e", "ones", "s"], ["w"]), node("Expand", ["k", "w"], ["y"])],
               [vi("x", ["batch", 4])], [vi("y", ["batch", 4])],
               [init("m1", np.array([-1, -1], np.int64)), init("ones", np.array([1, 1], np.int64)),
                init("k", np.ones((1, 4), np.float32))])
    m = gk.load(p.SerializeToString())
    info = ShapeInfo(m)
    e, w = m.graph.nodes[1].outputs[0], m.graph.nodes[2].outputs[0]
    assert info.data(e) == (False, False)  # a dim is never -1: torch's expand(-1) pattern resolves
    assert info.data(w) == (sd.atom("batch"), 4)
    assert info.shape(m.graph.nodes[3].outputs[0]) == (sd.atom("batch"), 4)
    m2, _ = _simplified(p)
    assert ops(m2) == ["Shape", "Expand"]  # Equal folded to [False, False]; Where then picks Shape(x)


def test_remove_noops_and_merge_layout_alone_report_what_they_did():
    p = _proto([node("Cast", ["x"], ["a"], to=TensorProto.FLOAT), node("Transpose", ["a"], ["b"], perm=[1, 0]),
                node("Transpose", ["b"], ["c"], perm=[1, 0]), node("Relu", ["c"], ["y"])],
               [vi("x", [2, 3])], [vi("y", [2, 3])])
    m, r1 = _simplified(p, RemoveNoOps())
    assert r1.counts == {"removed_noop": 1}
    r2 = run_pass(MergeLayoutOps(), m)
    assert r2.counts == {"cancelled": 1}
    gk.prune(m)
    assert ops(m) == ["Relu"]
    _same_outputs(p, m, [{"x": _x(2, 3)}])


def test_quantized_weights_are_not_folded_by_the_shape_passes():
    """A DequantizeLinear of an int8 weight feeding MatMul stays, next to a shape chain that folds."""
    p = _proto([node("DequantizeLinear", ["wq", "ws"], ["w"]), node("MatMul", ["x", "w"], ["m"]),
                node("Shape", ["m"], ["s"]), node("Gather", ["s", "one"], ["d"]), node("Cast", ["d"], ["df"], to=1),
                node("Mul", ["m", "df"], ["y"])],
               [vi("x", ["n", 4])], [vi("y", ["n", 3])],
               [init("wq", np.arange(12, dtype=np.int8).reshape(4, 3)), init("ws", np.float32(0.1)),
                init("one", np.array(1, np.int64))])
    m, _ = _simplified(p)
    assert ops(m) == ["DequantizeLinear", "MatMul", "Mul"]
    _same_outputs(p, m, [{"x": _x(2, 4)}])


def test_a_graph_output_produced_by_a_noop_keeps_its_name():
    p, m, _ = _noop_case([node("Relu", ["x"], ["r"]), node("Cast", ["r"], ["y"], to=TensorProto.FLOAT)],
                         [vi("x", ["n", 2])], [vi("y", ["n", 2])])
    assert ops(m) == ["Relu"] and [v.name for v in m.graph.outputs] == ["y"]
    _same_outputs(p, m, [{"x": _x(2, 2)}])


def test_shape_passes_leave_bool_and_dims_of_unknown_rank_alone():
    _, m, _ = _noop_case([node("Not", ["c"], ["nc"]), node("And", ["nc", "t"], ["y"])],
                         [vi("c", None, BOOL)], [vi("y", None, BOOL)], [init("t", np.array(True))])
    assert ops(m) == ["Not", "And"]  # And(x, True) could broadcast an unknown-rank x: kept
