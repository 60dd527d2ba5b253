"""The 9 light model-zoo models on native kernels only: shipped outputs, and random weights vs ORT."""
import numpy as np
import onnxruntime as ort
import pytest

from refruntime import Session
from tests.zoo import LIGHT_MODELS, data_input, shipped_case, with_random_weights


def test_all_nine_are_present():
    assert len(LIGHT_MODELS) == 9


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_shipped_output_on_native_kernels(name):
    model, feeds, expected = shipped_case(name)
    session = Session(model, allow_fallback=False)
    got = session.run(feeds)[session.output_names[0]]
    # the zoo's own tolerance (onnx backend test runner: rtol 1e-3, atol 1e-7)
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-7)


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_random_weights_match_onnxruntime(name):
    model, _, _ = shipped_case(name)
    model = with_random_weights(model, seed=0)
    vi = data_input(model)
    shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    x = np.random.default_rng(1).uniform(0, 1, shape).astype(np.float32)
    session = Session(model, allow_fallback=False)
    # compare the logits (input of the final Softmax) too: a saturated softmax hides differences
    last = model.graph.node[-1]
    capture = [last.input[0]] if last.op_type == "Softmax" else None
    got = session.run({vi.name: x}, capture=capture)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    if capture:
        model.graph.output.append(onnx_value_info(capture[0]))
    sess = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    want = dict(zip(names, sess.run(None, {vi.name: x})))
    for key, ref in want.items():
        assert np.isfinite(ref).all()
        scale = np.abs(ref).max()
        np.testing.assert_allclose(got[key], ref, rtol=1e-4, atol=1e-4 * scale, err_msg=f"{name}:{key}")


def onnx_value_info(name):
    from onnx import ValueInfoProto

    vi = ValueInfoProto()
    vi.name = name
    return vi


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_shipped_output_after_graphkit_folding(name):
    import graphkit as gk

    model, feeds, expected = shipped_case(name)
    folded = gk.load(model)
    report = gk.fold_constants(folded, size_limit=1e9)  # fc weights of AlexNet/VGG exceed the 1e8 default
    assert not folded.graph.find(op="ConstantOfShape"), report
    session = Session(folded, allow_fallback=False)
    got = session.run(feeds)[session.output_names[0]]
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-7)
