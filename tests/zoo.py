"""The onnx package's light model zoo, as test fixtures.

Their weights are ConstantOfShape nodes filled with one value, so 8 of the 9 shipped outputs are a
flat 0.001 softmax. `with_random_weights` replaces each such weight with seeded random values of
the same shape, scaled per consumer so activations stay finite, for a test that can fail.
"""
from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import numpy_helper

LIGHT_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
LIGHT_MODELS = sorted(f[: -len(".onnx")] for f in os.listdir(LIGHT_DIR) if f.endswith(".onnx"))


def light_path(name: str) -> str:
    return os.path.join(LIGHT_DIR, f"{name}.onnx")


def data_input(model: onnx.ModelProto) -> onnx.ValueInfoProto:
    initialized = {t.name for t in model.graph.initializer}
    inputs = [vi for vi in model.graph.input if vi.name not in initialized]
    assert len(inputs) == 1, [vi.name for vi in inputs]
    return inputs[0]


def shipped_case(name: str) -> tuple[onnx.ModelProto, dict, np.ndarray]:
    """(model, feeds, expected output) exactly as the onnx backend test runner builds them."""
    from onnx.backend.test.runner import Runner

    model = onnx.load(light_path(name))
    vi = data_input(model)
    x = Runner.generate_dummy_data(vi, seed=0, name=name, random=False)
    expected = numpy_helper.to_array(onnx.load_tensor(os.path.join(LIGHT_DIR, f"{name}_output_0.pb")))
    return model, {vi.name: x}, expected


def _weight_values(rng, shape, consumer: onnx.NodeProto | None, index: int) -> np.ndarray:
    op = consumer.op_type if consumer is not None else ""
    if op == "BatchNormalization":  # scale, bias, mean, var
        if index in (1, 4):
            return rng.uniform(0.5, 1.5, shape)
        return rng.normal(0.0, 0.1, shape)
    if len(shape) >= 2:  # Conv / Gemm / MatMul weights: He initialisation keeps activations O(1)
        fan_in = int(np.prod(shape[1:])) if op != "MatMul" else shape[0]
        if op == "Gemm" and not any(a.name == "transB" and a.i for a in consumer.attribute):
            fan_in = shape[0]
        return rng.normal(0.0, np.sqrt(2.0 / max(fan_in, 1)), shape)
    return rng.normal(0.0, 0.01, shape)


def with_random_weights(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """Replace every ConstantOfShape weight by a seeded random initializer of the same shape."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    rng = np.random.default_rng(seed)
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    consumers: dict[str, tuple[onnx.NodeProto, int]] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            consumers.setdefault(name, (node, i))
    keep = []
    new_inits = []
    for node in graph.node:
        if node.op_type == "ConstantOfShape" and node.input[0] in inits:
            shape = tuple(int(d) for d in inits[node.input[0]])
            consumer, index = consumers.get(node.output[0], (None, 0))
            values = _weight_values(rng, shape, consumer, index).astype(np.float32)
            new_inits.append(numpy_helper.from_array(values, node.output[0]))
        else:
            keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)
    graph.initializer.extend(new_inits)
    # graph inputs with initializers (ir_version 3) must list the new initializers too
    if model.ir_version < 4:
        for t in new_inits:
            graph.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, t.dims))
    return model
