"""Fused steps against the unfused kernels on random elementwise graphs (Add/Sub/Mul/Div, Pow,
Tanh, Erf, Relu, Neg, Sqrt, Reciprocal; constants of every broadcasting kind, zeros of both signs,
NaN): each output bit for bit the kernels' (NaN payloads aside: IEEE leaves them open), and an
error only where the kernels raise too. The fused paths are refruntime/fused_elementwise.py
(chains, their feeders, a Tanh between two loops) and refruntime/fused_channel.py (per-channel
Mul/Add chains and their Relu/Clip clamp); two bugs this found have their own tests below."""
from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from refruntime import Session

BINARY = ["Add", "Sub", "Mul", "Div"]
UNARY = ["Tanh", "Erf", "Relu", "Neg", "Sqrt", "Reciprocal"]


def _random_graph(rnd: random.Random, rng: np.random.Generator):
    shape = [rnd.choice([1, 2, 3]), rnd.choice([1, 4, 5]), rnd.choice([1, 7, 16, 33])]
    names, nodes, constants = ["x"], [], {}
    for i in range(rnd.randint(2, 9)):
        out, pick = f"v{i}", rnd.random()
        if pick < 0.45:
            a, b = rnd.choice(names), rnd.choice(names)
            if rnd.random() < 0.5:
                b = f"c{len(constants)}"
                cshape = rnd.choice([(), (1,), (shape[-1],), tuple(shape), (shape[1], 1), (shape[0], 1, 1)])
                constants[b] = (rng.standard_normal(cshape) * 2).astype(np.float32)
            nodes.append(helper.make_node(rnd.choice(BINARY), [a, b] if rnd.random() < 0.5 else [b, a], [out]))
        elif pick < 0.55:
            exponent = f"c{len(constants)}"
            constants[exponent] = np.array(rnd.choice([2.0, 3.0, 0.5]), np.float32)
            nodes.append(helper.make_node("Pow", [rnd.choice(names), exponent], [out]))
        else:
            nodes.append(helper.make_node(rnd.choice(UNARY), [rnd.choice(names)], [out]))
        names.append(out)
    outputs = list(dict.fromkeys([names[-1]] + ([rnd.choice(names[1:-1])] if rnd.random() < 0.3 else [])))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
                              [numpy_helper.from_array(v, k) for k, v in constants.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), shape, outputs


def _canonical_nan(y: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(y), np.float32(np.nan), y).view(np.uint32)


def _same_as_kernels(session: Session, feeds: dict, outputs: list[str]) -> None:
    try:
        fast = session.run(feeds)
    except Exception as exc:  # noqa: BLE001 - then the kernels must raise as well
        with pytest.raises(type(exc)):
            session.run(feeds, profile=True)
        return
    plain = session.run(feeds, profile=True)
    for name in outputs:
        assert fast[name].shape == plain[name].shape, name
        np.testing.assert_array_equal(_canonical_nan(fast[name]), _canonical_nan(plain[name]), err_msg=name)


@pytest.mark.parametrize("seed", range(4))
def test_random_elementwise_graphs_fused_equal_the_kernels(seed):
    rnd, rng = random.Random(seed), np.random.default_rng(seed)
    fused = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(40):
            model, shape, outputs = _random_graph(rnd, rng)
            session = Session(model)
            x = (rng.standard_normal(shape) * 3).astype(np.float32)
            x.flat[:3] = [np.nan, 0.0, -0.0][:min(3, x.size)]
            for _ in range(2):  # the second run takes the fused steps' remembered layouts
                _same_as_kernels(session, {"x": x}, outputs)
            fused += bool(session.plan.program.fused)
    assert fused >= 20  # the graphs do exercise the fused paths


def _channel_model(constant: np.ndarray, act: str = "Relu"):
    nodes = [helper.make_node("Mul", ["x", "c"], ["m"]), helper.make_node(act, ["m"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(constant, "c")])
    return Session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


def test_fused_relu_gives_plus_zero_for_minus_zero_as_the_relu_kernel():
    """Mul by a per-channel constant, then Relu (one fused channel step): -0.0 products give +0.0,
    as np.maximum(x, 0) does; the fused clamp kept -0.0 before (kernels/jit.clamp)."""
    session = _channel_model(np.array([[1.0], [-2.0]], np.float32))
    x = np.array([[[-0.0, 0.0, 1.0], [0.0, -0.0, -1.0]]], np.float32)
    y = session.run({"x": x})["y"]
    assert session.plan.program.fused
    assert not np.signbit(y).any()
    np.testing.assert_array_equal(y.view(np.uint32), session.run({"x": x}, profile=True)["y"].view(np.uint32))


def test_channel_chain_refuses_a_constant_along_the_batch_axis():
    """A (N, 1, 1) constant on an (N, 1, 1) input matches the channel count 1 at axis 1 but is not
    per channel: the fused step runs the kernels (it raised a reshape error before)."""
    session = _channel_model(np.array([[[2.0]], [[-3.0]], [[0.5]]], np.float32))
    x = np.array([[[1.0]], [[-2.0]], [[4.0]]], np.float32)
    np.testing.assert_array_equal(session.run({"x": x})["y"], np.maximum(x * np.array([2, -3, 0.5], np.float32)
                                                                        .reshape(3, 1, 1), 0))


def test_numba_cache_is_purged_when_a_kernel_module_changes(tmp_path):
    """refruntime/kernels/__init__.py: numba keys a cached loop by its own file only, so a changed
    helper another loop inlines left stale machine code; the package deletes its cached numba files
    (and the generated chains') whenever one of its modules changed, and only then."""
    from refruntime.kernels import purge_stale_numba_cache

    folder, cache = tmp_path / "kernels", tmp_path / "cache"
    (folder / "__pycache__").mkdir(parents=True)
    (cache / "fused" / "__pycache__").mkdir(parents=True)
    helper_module = folder / "jit.py"
    helper_module.write_text("def clamp(): pass\n")

    def cached_files():
        files = [folder / "__pycache__" / "channel.f-1.py311.nbi", folder / "__pycache__" / "channel.f-1.py311.1.nbc",
                 cache / "fused" / "__pycache__" / "chain_x.chain-3.py311.nbi"]
        for f in files:
            f.write_bytes(b"old machine code")
        (folder / "__pycache__" / "jit.cpython-311.pyc").write_bytes(b"bytecode")
        return files

    files = cached_files()
    assert purge_stale_numba_cache(str(folder), str(cache))  # first look: nothing recorded
    assert not any(f.exists() for f in files) and (folder / "__pycache__" / "jit.cpython-311.pyc").exists()
    files = cached_files()
    assert not purge_stale_numba_cache(str(folder), str(cache))  # unchanged sources: kept
    assert all(f.exists() for f in files)
    assert not purge_stale_numba_cache(str(folder), str(tmp_path / "other cache"))  # another cache folder:
    assert all(f.exists() for f in files)                                            # this copy's stay
    helper_module.write_text("def clamp(): return 1\n")  # the helper changed
    assert purge_stale_numba_cache(str(folder), str(cache))
    assert not any(f.exists() for f in files)
