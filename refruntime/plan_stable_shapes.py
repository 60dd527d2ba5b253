"""Plans whose every shape follows from the feeds' shapes: size guards checked once per feed shape.

A step's size guard (refruntime/limits.py) refuses an output above max_tensor_bytes from its
inputs' shapes and item sizes alone. `plan_fusion._remembering` skips a guard whose inputs have
shapes it has passed, but building that key costs ~0.6 us a guarded step (36 per BERT-tiny run).
When no step's output shape depends on a tensor's *values* other than constants and shape
arithmetic, every intermediate shape is a function of the feeds' shapes and dtypes, so a run with
feeds of a signature that has passed all guards once passes them again: `shapes_follow_feeds`
decides that at compile time, and the executor then runs the program without guards for such
signatures (executor._run_program).

Conservative by construction: an op is trusted only if listed below. SHAPE_ONLY ops have output
shapes computed from their inputs' shapes and attributes; VALUE_SHAPED ops read shapes from the
inputs at the listed positions, which must be constants or values computed from shapes and
constants (plan_shape_memo.shape_derived_names). Anything else (NonZero, Unique, Loop, If, a
fallback kernel, a contrib op) keeps the guards on every run.
"""
from __future__ import annotations

from refruntime.plan_shape_memo import shape_derived_names

SHAPE_ONLY = frozenset({
    # elementwise and broadcasting
    "Abs", "Acos", "Acosh", "Add", "And", "Asin", "Asinh", "Atan", "Atanh", "BitShift", "BitwiseAnd",
    "BitwiseNot", "BitwiseOr", "BitwiseXor", "Cast", "CastLike", "Ceil", "Celu", "Clip", "Cos", "Cosh", "Div",
    "Elu", "Equal", "Erf", "Exp", "Floor", "Gelu", "Greater", "GreaterOrEqual", "HardSigmoid", "HardSwish",
    "Identity", "IsInf", "IsNaN", "LeakyRelu", "Less", "LessOrEqual", "Log", "Max", "Mean", "Min", "Mish", "Mod",
    "Mul", "Neg", "Not", "Or", "Pow", "PRelu", "Reciprocal", "Relu", "Round", "Selu", "Shrink", "Sigmoid", "Sign",
    "Sin", "Sinh", "Softplus", "Softsign", "Sqrt", "Sub", "Sum", "Tan", "Tanh", "ThresholdedRelu", "Where", "Xor",
    # products, convolutions, pools, normalizations, reductions by attribute
    "BatchNormalization", "Conv", "ConvInteger", "Einsum", "Gemm", "GlobalAveragePool", "GlobalLpPool",
    "GlobalMaxPool", "GroupNormalization", "InstanceNormalization", "LayerNormalization", "LpNormalization",
    "LpPool", "LRN", "MatMul", "MatMulInteger", "MaxPool", "AveragePool", "MeanVarianceNormalization",
    "QLinearConv", "QLinearMatMul", "RMSNormalization", "ArgMax", "ArgMin", "Hardmax", "LogSoftmax", "Softmax",
    "CumSum", "Trilu",
    # layout and indexing whose output shape comes from input shapes
    "Concat", "DepthToSpace", "Flatten", "Gather", "GatherElements", "GatherND", "ScatterElements", "ScatterND",
    "Shape", "Size", "SpaceToDepth", "Transpose", "DequantizeLinear", "QuantizeLinear", "DynamicQuantizeLinear",
    "Constant", "Dropout",
})
#: op -> positions of the inputs whose values decide the output shape
VALUE_SHAPED = {
    "Reshape": (1,), "Expand": (1,), "Tile": (1,), "Slice": (1, 2, 3, 4), "Pad": (1, 3), "ConstantOfShape": (0,),
    "Range": (0, 1, 2), "OneHot": (1,), "TopK": (1,), "Split": (1,), "Squeeze": (1,), "Unsqueeze": (1,),
    "Resize": (1, 2, 3), "Upsample": (1,), "ReduceSum": (1,), "ReduceMean": (1,), "ReduceMax": (1,),
    "ReduceMin": (1,), "ReduceProd": (1,), "ReduceL1": (1,), "ReduceL2": (1,), "ReduceLogSum": (1,),
    "ReduceLogSumExp": (1,), "ReduceSumSquare": (1,),
}


def shapes_follow_feeds(steps, constants) -> bool:
    """True when every step of `steps` (a plan's) has output shapes that depend on the feeds only
    through their shapes: see the module docstring."""
    derived = shape_derived_names(steps, constants)
    for step in steps:
        node = step.node
        if step.is_fallback or node.domain not in ("", "ai.onnx"):
            return False
        if node.op_type in SHAPE_ONLY:
            continue
        positions = VALUE_SHAPED.get(node.op_type)
        if positions is None:
            return False
        for k in positions:
            name = step.inputs[k] if k < len(step.inputs) else ""
            if name and name not in derived and constants(name) is None:
                return False
    return True


def feed_signature(values: dict, feeds: tuple) -> tuple | None:
    """(shape, dtype) of each feed, or None when one is not an array (sequences, optionals)."""
    signature = []
    for name in feeds:
        value = values.get(name)
        if getattr(value, "shape", None) is None or getattr(value, "dtype", None) is None:
            return None
        signature.append((value.shape, value.dtype))
    return tuple(signature)
