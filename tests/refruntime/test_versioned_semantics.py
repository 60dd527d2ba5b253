"""Ops whose meaning changed between opsets, each checked against a float64 formula written here
from the operator spec (never against onnx.reference, which is wrong for BatchNormalization < 14).
"""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from refruntime import KernelError, Session


def run_node(op_type, inputs, attrs=None, opset=13, n_outputs=1):
    names = [f"x{i}" for i in range(len(inputs))]
    outs = [f"y{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, names, outs, name="n", **(attrs or {}))
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
         for n, a in zip(names, inputs)],
        [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    result = Session(model, allow_fallback=False).run(dict(zip(names, inputs)))
    return [result[o] for o in outs]


# ---------------------------------------------------------------------------------------------
# BatchNormalization
def bn_inputs(shape=(3, 4, 5, 2), seed=0):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = rng.standard_normal(shape) * 3 + 1
    scale, bias, mean = rng.standard_normal(c), rng.standard_normal(c), rng.standard_normal(c)
    var = rng.uniform(0.2, 3.0, c)
    return x, scale, bias, mean, var


def per_channel(v, rank):
    return v.reshape((1, -1) + (1,) * (rank - 2))


def bn_formula(x, scale, bias, mean, var, eps):
    """Y = (X - mean) / sqrt(var + epsilon) * scale + B, per channel."""
    r = x.ndim
    return (x - per_channel(mean, r)) / np.sqrt(per_channel(var, r) + eps) * per_channel(scale, r) \
        + per_channel(bias, r)


@pytest.mark.parametrize("opset", [7, 9, 14, 15])
def test_batchnorm_inference(opset):
    x, scale, bias, mean, var = bn_inputs()
    (y,) = run_node("BatchNormalization", [x, scale, bias, mean, var], {"epsilon": 0.0625}, opset=opset)
    np.testing.assert_allclose(y, bn_formula(x, scale, bias, mean, var, 0.0625), rtol=1e-12, atol=1e-12)


def test_batchnorm_7_per_activation_when_not_spatial():
    """opset 7, spatial=0: scale/B/mean/var have shape (C, D1, ...): one value per activation."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 4))
    scale, bias, mean = (rng.standard_normal((2, 4)) for _ in range(3))
    var = rng.uniform(0.5, 2.0, (2, 4))
    (y,) = run_node("BatchNormalization", [x, scale, bias, mean, var], {"spatial": 0}, opset=7)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5) * scale + bias, rtol=1e-12)


def test_batchnorm_9_training_outputs_are_refused():
    """Below 14, asking for mean/var/saved_mean/saved_var means training mode: not supported, and
    it must not silently return inference results."""
    x, scale, bias, mean, var = bn_inputs()
    with pytest.raises(KernelError, match="training mode"):
        run_node("BatchNormalization", [x, scale, bias, mean, var], opset=9, n_outputs=5)


@pytest.mark.parametrize("opset", [14, 15])
def test_batchnorm_training_mode(opset):
    """training_mode=1: Y from the batch statistics (population variance); running stats are
    input * momentum + batch * (1 - momentum)."""
    x, scale, bias, mean, var = bn_inputs(seed=2)
    y, running_mean, running_var = run_node(
        "BatchNormalization", [x, scale, bias, mean, var], {"epsilon": 2.0 ** -10, "momentum": 0.75, "training_mode": 1},
        opset=opset, n_outputs=3)
    axes = (0, 2, 3)
    batch_mean = x.mean(axis=axes)
    batch_var = ((x - per_channel(batch_mean, 4)) ** 2).mean(axis=axes)
    np.testing.assert_allclose(y, bn_formula(x, scale, bias, batch_mean, batch_var, 2.0 ** -10), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(running_mean, mean * 0.75 + batch_mean * 0.25, rtol=1e-12)
    np.testing.assert_allclose(running_var, var * 0.75 + batch_var * 0.25, rtol=1e-12)


def test_batchnorm_15_mixed_parameter_types():
    """opset 15: scale/B (T1) and mean/var (T2) may differ from X's type; Y keeps X's type."""
    x, scale, bias, mean, var = bn_inputs(seed=3)
    x = x.astype(np.float32)
    scale16, bias16 = scale.astype(np.float16), bias.astype(np.float16)
    (y,) = run_node("BatchNormalization", [x, scale16, bias16, mean, var], opset=15)
    assert y.dtype == np.float32
    expected = bn_formula(x.astype(np.float64), scale16.astype(np.float64), bias16.astype(np.float64), mean, var, 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Softmax / LogSoftmax: coerced to 2-D before 13, one axis from 13
def softmax_over(x, axes):
    e = np.exp(x - x.max(axis=axes, keepdims=True))
    return e / e.sum(axis=axes, keepdims=True)


def log_softmax_over(x, axes):
    shifted = x - x.max(axis=axes, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axes, keepdims=True))


FORMULAS = {"Softmax": softmax_over, "LogSoftmax": log_softmax_over}


@pytest.mark.parametrize("op_type", ["Softmax", "LogSoftmax"])
def test_axis_1_on_4d_input_differs_between_11_and_13(op_type):
    x = np.random.default_rng(4).standard_normal((2, 3, 4, 5)) * 2
    (y11,) = run_node(op_type, [x], {"axis": 1}, opset=11)
    (y13,) = run_node(op_type, [x], {"axis": 1}, opset=13)
    formula = FORMULAS[op_type]
    # opset 11: X coerced to (2, 3*4*5): normalized over axes 1, 2, 3 together
    np.testing.assert_allclose(y11, formula(x, (1, 2, 3)), rtol=1e-12, atol=1e-12)
    # opset 13: normalized over axis 1 only
    np.testing.assert_allclose(y13, formula(x, (1,)), rtol=1e-12, atol=1e-12)
    assert np.abs(y11 - y13).max() > 0.1


@pytest.mark.parametrize("op_type", ["Softmax", "LogSoftmax"])
def test_default_axis_is_1_before_13_and_last_from_13(op_type):
    x = np.random.default_rng(5).standard_normal((2, 3, 4))
    (y11,) = run_node(op_type, [x], opset=11)
    (y13,) = run_node(op_type, [x], opset=13)
    np.testing.assert_allclose(y11, FORMULAS[op_type](x, (1, 2)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y13, FORMULAS[op_type](x, (2,)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op_type", ["Softmax", "LogSoftmax"])
def test_negative_axis_at_11_coerces_from_that_axis(op_type):
    x = np.random.default_rng(6).standard_normal((2, 3, 4, 5))
    (y,) = run_node(op_type, [x], {"axis": -2}, opset=11)  # axis 2: flatten axes 2, 3
    np.testing.assert_allclose(y, FORMULAS[op_type](x, (2, 3)), rtol=1e-12, atol=1e-12)
    (y,) = run_node(op_type, [x], {"axis": 0}, opset=11)  # axis 0: the whole tensor is one row
    np.testing.assert_allclose(y, FORMULAS[op_type](x, (0, 1, 2, 3)), rtol=1e-12, atol=1e-12)


def test_hardmax_axis_semantics_11_vs_13():
    x = np.random.default_rng(7).standard_normal((2, 3, 4))
    (y11,) = run_node("Hardmax", [x], {"axis": 1}, opset=11)
    (y13,) = run_node("Hardmax", [x], {"axis": 1}, opset=13)
    flat = x.reshape(2, 12)
    expected11 = (np.arange(12) == flat.argmax(axis=1)[:, None]).astype(np.float64).reshape(x.shape)
    expected13 = (np.arange(3)[None, :, None] == x.argmax(axis=1)[:, None, :]).astype(np.float64)
    np.testing.assert_array_equal(y11, expected11)
    np.testing.assert_array_equal(y13, expected13)
    assert y11.sum() == 2 and y13.sum() == 8
