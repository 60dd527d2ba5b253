"""Small model builders and checks shared by the surgery/rewriter/passes tests."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import graphkit as gk

F = TensorProto.FLOAT


def vi(name, shape, elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def proto(nodes, inputs, outputs, inits=(), opset=17, ir_version=None, value_info=()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits), value_info=list(value_info))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    if ir_version is not None:
        model.ir_version = ir_version
    elif opset <= 21:
        model.ir_version = min(model.ir_version, 10)
    return model


def model(*args, **kwargs) -> gk.Model:
    return gk.load(proto(*args, **kwargs).SerializeToString())


def ops(m) -> list[str]:
    """Op types of a Model's main graph (or of a Graph), in order."""
    return [n.op_type for n in getattr(m, "graph", m)]


def check(m) -> onnx.ModelProto:
    """The model as a proto, after passing the full onnx checker."""
    p = m.to_proto() if not isinstance(m, onnx.ModelProto) else m
    onnx.checker.check_model(p, full_check=True)
    return p


def ort_run(m, feeds: dict) -> list[np.ndarray]:
    import onnxruntime as ort

    p = m.to_proto() if not isinstance(m, onnx.ModelProto) else m
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(p.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def rand(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def if_model(then_nodes, else_nodes, then_out, else_out, outer_nodes=(), inits=(), out_shape=(4,),
             opset=17) -> onnx.ModelProto:
    """x:[4], cond -> outer_nodes -> If(cond) -> y. Branch outputs are `then_out`/`else_out`."""
    then_g = helper.make_graph(list(then_nodes), "then", [], [vi(then_out, list(out_shape))])
    else_g = helper.make_graph(list(else_nodes), "else", [], [vi(else_out, list(out_shape))])
    nodes = [*outer_nodes, helper.make_node("If", ["cond"], ["y"], name="if", then_branch=then_g,
                                            else_branch=else_g)]
    return proto(nodes, [vi("x", [4]), vi("cond", [], TensorProto.BOOL)], [vi("y", list(out_shape))],
                 inits, opset=opset)


def loop_model(body_nodes, body_out: str, inits=(), opset=17) -> onnx.ModelProto:
    """Loop 3 times: carried value s:[4] = body(s); the body reads outer values freely."""
    body = helper.make_graph(
        list(body_nodes), "body",
        [vi("i", [], TensorProto.INT64), vi("c_in", [], TensorProto.BOOL), vi("s", [4])],
        [vi("c_out", [], TensorProto.BOOL), vi(body_out, [4])])
    body.node.insert(0, helper.make_node("Identity", ["c_in"], ["c_out"], name="cond_pass"))
    nodes = [helper.make_node("Loop", ["trip", "", "x"], ["y"], name="loop", body=body)]
    return proto(nodes, [vi("x", [4])], [vi("y", [4])],
                 [init("trip", np.array(3, np.int64)), *inits], opset=opset)
