"""Real exports that match onnxruntime get PASS with and without --per-node: a BERT built from a
transformers config (random weights, never a hub download) and an OCR-style CRNN (Conv + BiLSTM +
CTC-style log-softmax). The truth for the outputs is the torch module itself."""
from __future__ import annotations

import os

import numpy as np
import onnx
import pytest

import graphkit as gk
from graphkit.verification import make_runtime

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


class _BertOutputs(torch.nn.Module):
    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, ids, mask):
        out = self.bert(input_ids=ids, attention_mask=mask)
        return out.last_hidden_state, out.pooler_output


class CRNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.lstm = torch.nn.LSTM(8 * 8, 32, bidirectional=True, batch_first=True)
        self.head = torch.nn.Linear(64, 20)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        b, c, h, w = y.shape
        y, _ = self.lstm(y.permute(0, 3, 1, 2).reshape(b, w, c * h))
        return self.head(y).log_softmax(-1)


def _bert(tmp_path):
    cfg = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    module = _BertOutputs(transformers.BertModel(cfg)).eval()
    ids = torch.randint(0, 100, (2, 16))
    mask = torch.ones(2, 16, dtype=torch.int64)
    mask[1, 12:] = 0
    path = str(tmp_path / "bert.onnx")
    torch.onnx.export(module, (ids, mask), path, input_names=["ids", "mask"], output_names=["last", "pooled"],
                      opset_version=17, dynamo=False)
    return module, path, {"ids": ids, "mask": mask}


def _crnn(tmp_path):
    torch.manual_seed(0)
    module = CRNN().eval()
    x = torch.randn(2, 1, 8, 32)
    path = str(tmp_path / "crnn.onnx")
    torch.onnx.export(module, (x,), path, input_names=["x"], output_names=["y"], opset_version=17, dynamo=False)
    return module, path, {"x": x}


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
@pytest.mark.parametrize("build", [_bert, _crnn], ids=["bert", "crnn"])
def test_a_model_that_matches_ort_passes_with_and_without_per_node(build, tmp_path):
    module, path, inputs = build(tmp_path)
    feeds = {k: v.numpy() for k, v in inputs.items()}
    plain = gk.verify(path, runtimes=("ref", "ort"), inputs=feeds)
    deep = gk.verify(path, runtimes=("ref", "ort"), inputs=feeds, per_node=True)
    assert plain.verdict == deep.verdict == "pass", deep.table()
    assert deep.origins == [] and deep.amplifiers == []
    with torch.no_grad():
        truth = module(*inputs.values())
    truth = truth if isinstance(truth, tuple) else (truth,)
    model = onnx.load(path)
    ref = make_runtime("ref", model).run(feeds)
    for name, expected in zip([vi.name for vi in model.graph.output], truth):
        np.testing.assert_allclose(ref[name], expected.numpy(), atol=1e-5, rtol=1e-4)


def _float16_bert(tmp_path, keep_io_types: bool):
    float16 = pytest.importorskip("onnxconverter_common.float16")
    _, path, inputs = _bert(tmp_path)
    half = float16.convert_float_to_float16(onnx.load(path), keep_io_types=keep_io_types)
    half_path = str(tmp_path / "bert16.onnx")
    onnx.save(half, half_path)
    return half_path, {k: v.numpy() for k, v in inputs.items()}


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_float16_bert_follows_the_spec_and_passes_against_ort(tmp_path):
    """onnxconverter-common's float16 BERT: refruntime rounds every op to float16 as ONNX defines;
    the spec oracle (each op in float64, rounded to float16) sides with it; the verdict against
    ORT (which keeps float32 between float16 ops) uses float16's tolerances, per-node or not."""
    from refruntime import Session

    half_path, feeds = _float16_bert(tmp_path, keep_io_types=False)
    assert Session(half_path).fallback_nodes() == []
    plain = gk.verify(half_path, runtimes=("ref", "ort"), inputs=feeds, oracle=True)
    deep = gk.verify(half_path, runtimes=("ref", "ort"), inputs=feeds, per_node=True)
    assert plain.verdict == deep.verdict == "pass", deep.table()
    assert "ref" in plain.oracle["spec"]["sides_with"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_an_ill_typed_float16_conversion_is_refused_with_the_node_named(tmp_path):
    """keep_io_types=True leaves the pooler's Gather declared float16 while it produces float32
    (onnxruntime refuses it too: 'Type (tensor(float16)) of output arg ... does not match')."""
    from refruntime import Session
    from refruntime.errors import ModelError

    half_path, feeds = _float16_bert(tmp_path, keep_io_types=True)
    with pytest.raises(ModelError, match=r"node '/bert/pooler/Gather' \(Gather\).*FLOAT16 but Gather produces FLOAT"):
        Session(half_path)
    assert Session(half_path, strict=False).run(feeds)
