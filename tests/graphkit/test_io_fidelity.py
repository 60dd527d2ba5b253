"""load -> save of every model in the onnx package's backend test data (light, pytorch-converted,
pytorch-operator, simple): checker passes, the proto is byte-identical, onnxruntime outputs are
bit-identical. A second pass forces every node and value to be re-encoded from the IR."""
from __future__ import annotations

import glob
import os

import numpy as np
import onnx
import onnx.backend.test
import pytest
from onnx import numpy_helper

import graphkit as gk

DATA = os.path.join(os.path.dirname(onnx.backend.test.__file__), "data")
DIRS = ("light", "pytorch-converted", "pytorch-operator", "simple")
MODELS = sorted(p for d in DIRS for p in glob.glob(f"{DATA}/{d}/*/model.onnx") + glob.glob(f"{DATA}/{d}/*.onnx"))


def _id(path: str) -> str:
    return os.path.relpath(path, DATA).replace("/model.onnx", "")


def test_models_found():
    assert len(MODELS) > 100, MODELS


def _force_reencode(model) -> None:
    """Decode every attribute and mark every node/value so save rebuilds it from the IR."""
    for node in model.graph.walk():
        for key in list(node.attributes):
            node.attributes.attr(key)
        node._dirty = True
    graphs = [model.graph] + [g for n in model.graph.walk() for g in n.subgraphs()]
    for g in graphs:
        for v in (*g.values(), *g.outputs, *g.value_info):
            if v._meta is None:
                v._meta = {}


@pytest.mark.parametrize("path", MODELS, ids=_id)
@pytest.mark.parametrize("reencode", [False, True], ids=["copied", "reencoded"])
def test_roundtrip_is_byte_identical_and_valid(path, reencode, tmp_path):
    original = onnx.load(path)
    model = gk.load(path)
    if reencode:
        _force_reencode(model)
    out = tmp_path / "model.onnx"
    gk.save(model, out)
    onnx.checker.check_model(str(out))
    assert onnx.load(out).SerializeToString() == original.SerializeToString()


def _inputs(path: str, session) -> dict | None:
    folder = os.path.join(os.path.dirname(path), "test_data_set_0")
    names = [i.name for i in session.get_inputs()]
    files = sorted(glob.glob(os.path.join(folder, "input_*.pb")))
    if files:
        feeds = {}
        for name, f in zip(names, files):
            tensor = onnx.TensorProto()
            with open(f, "rb") as fh:
                tensor.ParseFromString(fh.read())
            if not tensor.dims and not tensor.raw_data and not tensor.float_data and not tensor.int64_data:
                return None  # a sequence/optional input: not a plain tensor file
            feeds[name] = numpy_helper.to_array(tensor)
        return feeds
    rng = np.random.default_rng(0)
    feeds = {}
    for i in session.get_inputs():
        if not i.type.startswith("tensor("):
            return None
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
        dtype = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
                 "tensor(int32)": np.int32, "tensor(bool)": np.bool_, "tensor(float16)": np.float16}.get(i.type)
        if dtype is None:
            return None
        feeds[i.name] = (rng.standard_normal(shape) if dtype not in (np.bool_, np.int64, np.int32)
                         else rng.integers(0, 2, size=shape)).astype(dtype)
    return feeds


@pytest.mark.parametrize("path", MODELS, ids=_id)
def test_roundtrip_onnxruntime_outputs_bit_identical(path, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "model.onnx"
    gk.save(gk.load(path), out)
    try:
        before = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"onnxruntime cannot load the original model: {str(exc)[:120]}")
    after = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    feeds = _inputs(path, before)
    if feeds is None:
        pytest.skip("inputs are not plain tensors")
    expected = before.run(None, feeds)
    got = after.run(None, feeds)
    assert len(expected) == len(got)
    for e, g in zip(expected, got):
        e, g = np.asarray(e), np.asarray(g)
        assert e.dtype == g.dtype and e.shape == g.shape
        if e.dtype == object:  # strings: compare values, not pointers
            assert e.tolist() == g.tolist()
        else:
            assert e.tobytes() == g.tobytes()
