"""The torch runtime on transformer exports, on 0-d tensors, and on nodes it hands to refruntime.

Tiny BERT, GPT-2, ViT, Whisper encoder and wav2vec2 are built from `transformers` configs with
random weights (never a hub download), exported by both torch exporters (TorchScript, opset 17;
torch.export, opset 18) with dynamic batch (and sequence) axes, then run at other sizes than the
export's. The truth is the HF module itself, run in torch on the same inputs. Weights are drawn
wider than HF's default (std 0.3, not 0.02) so that attention is far from uniform and a wrong mask
or softmax axis cannot hide inside the tolerance.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphkit as gk
from graphkit.verification.runtimes import make_runtime

os.environ["HF_HUB_OFFLINE"] = "1"  # models come from configs; nothing may reach the hub
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

ATOL, RTOL = 1e-4, 1e-3  # fp32: the runtimes' summation orders differ, BLAS kernels too


class Outputs(torch.nn.Module):
    """An HF model fed positional tensors (named like the ONNX inputs), returning a tuple."""

    def __init__(self, model, input_names, output_keys):
        super().__init__()
        self.model, self.input_names, self.output_keys = model, input_names, output_keys

    def forward(self, *inputs):
        out = self.model(**dict(zip(self.input_names, inputs)))
        return tuple(out[k] for k in self.output_keys)


def _text_inputs(rng, batch, seq):
    ids = rng.integers(0, 100, (batch, seq)).astype(np.int64)
    mask = np.ones((batch, seq), np.int64)
    mask[-1, seq - 2:] = 0  # padding: the masked attention path runs
    return {"input_ids": ids, "attention_mask": mask}


def _bert():
    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=64, initializer_range=0.3)
    return transformers.BertModel(config), ["last_hidden_state", "pooler_output"], _text_inputs, True


def _gpt2():
    config = transformers.GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=2, n_positions=64, use_cache=False,
                                     initializer_range=0.3)
    return transformers.GPT2Model(config), ["last_hidden_state"], _text_inputs, True


def _vit():
    config = transformers.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                    image_size=32, patch_size=8, num_channels=3, initializer_range=0.3)
    # the pooler reads token 0: a Gather with a 0-d index
    return (transformers.ViTModel(config), ["last_hidden_state", "pooler_output"],
            lambda rng, batch, _: {"pixel_values": rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)}, False)


def _whisper_encoder():
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    config = transformers.WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
                                        decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64,
                                        num_mel_bins=16, max_source_positions=20, vocab_size=100, pad_token_id=0,
                                        bos_token_id=1, eos_token_id=2, decoder_start_token_id=1, init_std=0.3)
    # the encoder wants exactly 2 * max_source_positions frames
    return (WhisperEncoder(config), ["last_hidden_state"],
            lambda rng, batch, _: {"input_features": rng.standard_normal((batch, 16, 40)).astype(np.float32)}, False)


def _wav2vec2():
    config = transformers.Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                         intermediate_size=64, conv_dim=(16, 16), conv_stride=(5, 2),
                                         conv_kernel=(10, 3), num_conv_pos_embeddings=8,
                                         num_conv_pos_embedding_groups=4, vocab_size=100, initializer_range=0.3)
    return (transformers.Wav2Vec2Model(config), ["last_hidden_state", "extract_features"],
            lambda rng, batch, _: {"input_values": rng.standard_normal((batch, 400)).astype(np.float32)}, False)


FAMILIES = {"bert": _bert, "gpt2": _gpt2, "vit": _vit, "whisper_encoder": _whisper_encoder, "wav2vec2": _wav2vec2}
EXPORTERS = ["torchscript", "dynamo"]


def _export(family: str, exporter: str, folder) -> tuple:
    """(wrapped HF module, path of the ONNX export, feeds of other sizes than the export's)."""
    torch.manual_seed(0)
    model, keys, make_inputs, has_sequence = FAMILIES[family]()
    example = make_inputs(np.random.default_rng(0), 2, 7)
    names = list(example)
    module = Outputs(model.eval(), names, keys).eval()
    args = tuple(torch.from_numpy(v) for v in example.values())
    outputs = [f"out_{k}" for k in keys]
    path = str(folder / f"{family}_{exporter}.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            axes = {n: ({0: "batch", 1: "sequence"} if has_sequence else {0: "batch"}) for n in names}
            torch.onnx.export(module, args, path, input_names=names, output_names=outputs, dynamic_axes=axes,
                              opset_version=17, dynamo=False)
        else:
            batch, sequence = torch.export.Dim("batch", min=1, max=16), torch.export.Dim("sequence", min=3, max=60)
            shapes = tuple({0: batch, 1: sequence} if has_sequence else {0: batch} for _ in names)
            torch.onnx.export(module, args, input_names=names, output_names=outputs, dynamic_shapes=(shapes,),
                              opset_version=18, dynamo=True, verbose=False).save(path)
    feeds = make_inputs(np.random.default_rng(1), 3, 5)  # another batch (and sequence) than the export's
    return module, path, feeds


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    folder, made = tmp_path_factory.mktemp("transformers"), {}

    def get(family, exporter):
        if (family, exporter) not in made:
            made[family, exporter] = _export(family, exporter, folder)
        return made[family, exporter]
    return get


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_torch_runtime_matches_the_hf_module_and_ref(exports, family, exporter):
    module, path, feeds = exports(family, exporter)
    with torch.no_grad():
        truth = [t.numpy() for t in module(*(torch.from_numpy(v) for v in feeds.values()))]
    runtime = make_runtime("torch", onnx.load(path))
    assert runtime.delegated == []  # every node of these exports has a torch mapping
    got = runtime.run(feeds)
    for name, expected in zip(runtime.output_names, truth):
        assert got[name].shape == expected.shape, name
        np.testing.assert_allclose(got[name], expected, atol=ATOL, rtol=RTOL, err_msg=name)
    report = gk.verify(path, runtimes=("ref", "torch"), module=module, inputs=feeds, atol=ATOL, rtol=RTOL)
    assert report.passed, report.table()


# ---------------------------------------------------------------- 0-d tensors


def test_scalar_index_gather_keeps_the_scalar_shape():
    x = np.arange(15, dtype=np.float32).reshape(5, 3)
    k = np.array(-1, np.int64)  # a 0-d feed
    nodes = [helper.make_node("Gather", ["x", "two"], ["row"], name="row"),          # 0-d initializer index
             helper.make_node("Gather", ["row", "k"], ["item"], name="item"),        # 1-D data: a 0-d result
             helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.array(0.5, np.float32))),
             helper.make_node("Mul", ["item", "c"], ["y"], name="scale"),
             helper.make_node("Shape", ["y"], ["y_shape"], name="shape")]
    graph = helper.make_graph(
        nodes, "scalars",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 3]), helper.make_tensor_value_info("k", TensorProto.INT64, [])],
        [helper.make_tensor_value_info(n, t, None) for n, t in
         (("row", TensorProto.FLOAT), ("y", TensorProto.FLOAT), ("y_shape", TensorProto.INT64))],
        initializer=[numpy_helper.from_array(np.array(2, np.int64), "two")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    got = make_runtime("torch", model).run({"x": x, "k": k})
    np.testing.assert_array_equal(got["row"], x[2])
    assert got["row"].shape == (3,)
    assert got["y"].shape == () and got["y"] == x[2][-1] * np.float32(0.5)
    np.testing.assert_array_equal(got["y_shape"], np.zeros(0, np.int64))  # Shape of a 0-d tensor is []
    assert gk.verify(model, runtimes=("ref", "torch"), inputs={"x": x, "k": k}, per_node=True).passed


# ---------------------------------------------------------------- nodes torch cannot map


def _delegating_model():
    """Relu -> Binarizer (ai.onnx.ml, named) -> If (unnamed, reading outer values) -> Add."""
    then_branch = helper.make_graph([helper.make_node("Mul", ["b", "two"], ["t"])], "then", [],
                                    [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
    else_branch = helper.make_graph([helper.make_node("Neg", ["r"], ["e"])], "else", [],
                                    [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)])
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Binarizer", ["r"], ["b"], name="binarize", domain="ai.onnx.ml", threshold=0.5),
             helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             helper.make_node("Greater", ["s", "zero"], ["positive"]),
             helper.make_node("If", ["positive"], ["i"], then_branch=then_branch, else_branch=else_branch),
             helper.make_node("Add", ["i", "x"], ["y"], name="add")]
    graph = helper.make_graph(nodes, "delegating", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(np.array(2, np.float32), "two"),
                                           numpy_helper.from_array(np.array(0, np.float32), "zero")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
                             ir_version=8)


@pytest.mark.parametrize("sign", [1, -1], ids=["then", "else"])
def test_unmapped_nodes_run_on_refruntime_and_are_listed(sign):
    from refruntime import Session

    model = _delegating_model()
    x = sign * np.abs(np.random.default_rng(0).standard_normal((2, 3))).astype(np.float32)
    runtime = make_runtime("torch", model)
    assert runtime.delegated == ["binarize", "If_4"]  # label: the name, else f"{op_type}_{index}"
    got = runtime.run({"x": x})["y"]
    np.testing.assert_array_equal(got, Session(model).run({"x": x})["y"])
    report = gk.verify(model, runtimes=("ref", "torch"), inputs={"x": x}, per_node=True)
    assert report.passed, report.table()


def test_a_node_neither_torch_nor_refruntime_can_run_is_named():
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Frobnicate", ["r"], ["y"], name="frob", domain="example.custom")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("example.custom", 1)],
                              ir_version=8)
    with pytest.raises(gk.UsageError, match=r"frob \(example\.custom\.Frobnicate\)"):
        make_runtime("torch", model)


# ---------------------------------------------------------------- the ops transformers need, against ORT


def _i64(*values):
    return np.array(values, np.int64)


_R = np.random.default_rng(3)
_X = _R.standard_normal((2, 3, 4)).astype(np.float32)
_TIES = np.array([[1, 3, 3, 2], [5, 5, 0, 5]], np.float32)
OP_CASES = [
    ("GatherElements", [_X, _R.integers(-3, 3, (2, 2, 4))], {"axis": 1}, 1),
    ("GatherND", [_X, _i64([0, 1], [1, -1])], {}, 1),
    ("GatherND", [_X, _R.integers(-3, 3, (2, 5, 1))], {"batch_dims": 1}, 1),
    ("ScatterND", [_X, _i64([0, 1], [1, -1]), _R.standard_normal((2, 4)).astype(np.float32)], {}, 1),
    ("ScatterND", [_X, _i64([0, 1], [0, 1], [1, 2]), _R.standard_normal((3, 4)).astype(np.float32)],
     {"reduction": "add"}, 1),
    ("ScatterND", [_X, _i64([0, 1], [0, 1]), _R.standard_normal((2, 4)).astype(np.float32)], {"reduction": "mul"}, 1),
    ("ScatterElements", [_X, _R.integers(0, 3, (2, 3, 4)), _R.standard_normal((2, 3, 4)).astype(np.float32)],
     {"axis": 1, "reduction": "max"}, 1),
    ("Range", [np.array(10, np.int32), np.array(3, np.int32), np.array(-3, np.int32)], {}, 1),
    ("Range", [np.array(0.5, np.float32), np.array(2.0, np.float32), np.array(0.25, np.float32)], {}, 1),
    ("Trilu", [_X, np.array(-1, np.int64)], {"upper": 0}, 1),
    ("Trilu", [_X, np.array(1, np.int64)], {}, 1),
    ("CumSum", [_X, np.array(-1, np.int64)], {"exclusive": 1, "reverse": 1}, 1),
    ("CumSum", [np.arange(12, dtype=np.int32).reshape(3, 4), np.array(0, np.int32)], {"exclusive": 1}, 1),
    ("Einsum", [_X, _R.standard_normal((2, 4, 5)).astype(np.float32)], {"equation": "bij,bjk->bik"}, 1),
    ("Einsum", [_X, _R.standard_normal((4, 5)).astype(np.float32)], {"equation": "...j,jk"}, 1),
    ("Einsum", [_X], {"equation": "bji"}, 1),  # implicit output: letters in ASCII order, "bij"
    ("OneHot", [_i64(0, 2, -1, 5, -4), np.array(4, np.int64), np.array([-1, 3], np.float32)], {"axis": 0}, 1),
    ("NonZero", [np.array([[1, 0, 2], [0, 0, 3]], np.float32)], {}, 1),
    ("TopK", [_TIES, _i64(3)], {}, 2),
    ("TopK", [_TIES, _i64(1)], {"largest": 0, "axis": 0}, 2),
    ("ArgMax", [_TIES], {"axis": 1, "select_last_index": 1}, 1),
    ("Mod", [_i64(5, -5, 7, -7), _i64(3, 3, -2, -2)], {}, 1),
    ("Mod", [np.array([5.5, -5.5], np.float32), np.array([2, 2], np.float32)], {"fmod": 1}, 1),
    ("IsInf", [np.array([np.inf, -np.inf, 1, np.nan], np.float32)], {"detect_negative": 0}, 1),
    ("LayerNormalization", [_X, _R.standard_normal(4).astype(np.float32), _R.standard_normal(4).astype(np.float32)],
     {}, 3),
    ("LayerNormalization", [_X, _R.standard_normal((3, 4)).astype(np.float32)], {"axis": 1}, 1),
    ("ReduceL1", [_X, _i64()], {"noop_with_empty_axes": 1}, 1),
    ("ReduceSum", [np.arange(6, dtype=np.int32).reshape(2, 3), _i64(1)], {"keepdims": 0}, 1),
    ("ReduceMax", [np.zeros((2, 0, 3), np.float32), _i64(1)], {}, 1),
    ("Expand", [np.array([[1.0], [2.0]], np.float32), _i64(3, 1, 4)], {}, 1),
    ("Where", [_X > 0, _X, np.array(0, np.float32)], {}, 1),
]


@pytest.mark.parametrize("op,inputs,attrs,n_out", OP_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(OP_CASES)])
def test_transformer_ops_match_ort(op, inputs, attrs, n_out):
    ort = pytest.importorskip("onnxruntime")
    names = [f"in{i}" for i in range(len(inputs))]
    outputs = [f"out{i}" for i in range(n_out)]
    graph = helper.make_graph(
        [helper.make_node(op, names, outputs, name=op.lower(), **attrs)], "g",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))
         for n, v in zip(names, inputs)],
        [onnx.ValueInfoProto(name=n) for n in outputs])
    model = onnx.shape_inference.infer_shapes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)],
                                                                ir_version=8))
    feeds = dict(zip(names, inputs))
    expected = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(outputs, feeds)
    runtime = make_runtime("torch", model)
    assert runtime.delegated == []
    got = runtime.run(feeds)
    for name, want in zip(outputs, expected):
        assert got[name].dtype == want.dtype and got[name].shape == want.shape, name
        if want.dtype.kind == "f":  # a few ulps apart at most (Einsum runs on BLAS, LayerNormalization sums)
            np.testing.assert_allclose(got[name], want, atol=1e-5, rtol=1e-5, err_msg=name)
        else:
            np.testing.assert_array_equal(got[name], want, err_msg=name)
