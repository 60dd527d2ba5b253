"""The short paths of the ops a transformer runs at batch 1 (kernels/softmax_rows.py, Gather through
np.take, Expand and MatMul checked once per shape, Split by slicing, kernels/blas.py's thread
choice), against float64 formulas and the general code they bypass.
"""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from refruntime import Session
from refruntime.errors import KernelError


def _single(op, inputs, outputs=("y",), opset=17, initializers=None, dtype=TensorProto.FLOAT, types=None, **attrs):
    """A Session of one `op` node; inputs and outputs are `dtype` but those named in `types`."""
    initializers, types = initializers or {}, types or {}
    graph = helper.make_graph(
        [helper.make_node(op, list(inputs), list(outputs), **attrs)], "g",
        [helper.make_tensor_value_info(n, types.get(n, dtype), None) for n in inputs if n not in initializers],
        [helper.make_tensor_value_info(n, dtype, None) for n in outputs],
        [numpy_helper.from_array(v, k) for k, v in initializers.items()])
    return Session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]))


def _softmax_of_float32_exp(x):
    """The float64 softmax of numpy's float32 exp(x - max(x)): the spec's float32 Sub and Exp (numpy's
    exp, as the Exp op computes it), then the sum and quotient exactly."""
    e = np.exp(x - x.max(axis=-1, keepdims=True)).astype(np.float64)
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("shape,scale", [((1, 2, 16, 16), 3.0), ((3, 5, 128), 30.0), ((4, 1), 1.0), ((2, 700), 8.0)])
def test_float32_softmax_rows_round_the_quotient_once(shape, scale):
    """The row kernel against the exact sum and quotient of the same float32 exponentials: within
    0.5 ulp plus the float64 sum's error (numpy's float32 sum and division it replaced: ~1.5 ulps)."""
    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) * scale).astype(np.float32)
    y = _single("Softmax", ["x"], axis=-1).run({"x": x})["y"]
    exact = _softmax_of_float32_exp(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    numpy_path = e / e.sum(axis=-1, keepdims=True)
    new_err, old_err = (np.abs(y - exact) / ulp).max(), (np.abs(numpy_path - exact) / ulp).max()
    assert new_err <= 0.5001, (new_err, old_err)
    # the general numpy path (another axis) computes the same, up to its float64 summation order
    t = np.ascontiguousarray(np.moveaxis(x, -1, 0))
    other = _single("Softmax", ["x"], axis=0).run({"x": t})["y"]
    np.testing.assert_allclose(np.moveaxis(other, 0, -1), y, rtol=1.2e-7, atol=1e-40)


def test_float32_softmax_rows_propagate_nan_and_infinities_as_numpy_does():
    x = np.array([[1.0, np.nan, 2.0], [np.nan, 3.0, 2.0], [-np.inf, -np.inf, -np.inf], [np.inf, 0.0, 1.0],
                  [0.0, -np.inf, 0.0]], np.float32)
    y = _single("Softmax", ["x"], axis=-1).run({"x": x})["y"]
    assert np.isnan(y[:4]).all()  # NaN rows, an all -inf row (-inf - -inf) and an inf row (inf - inf)
    np.testing.assert_array_equal(y[4], np.array([0.5, 0.0, 0.5], np.float32))


def test_softmax_opset_11_coerces_to_2d_on_the_row_kernel():
    x = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    y = _single("Softmax", ["x"], opset=11, axis=1).run({"x": x})["y"]
    exact = _softmax_of_float32_exp(x.reshape(2, 12)).reshape(2, 3, 4)
    np.testing.assert_allclose(y, exact, rtol=3e-7, atol=1e-12)


def test_float16_softmax_takes_the_float32_rows_and_rounds_once():
    x = np.random.default_rng(2).standard_normal((3, 40)).astype(np.float16)
    y = _single("Softmax", ["x"], dtype=TensorProto.FLOAT16, axis=-1).run({"x": x})["y"]
    assert y.dtype == np.float16
    exact = _softmax_of_float32_exp(x.astype(np.float32))
    assert (np.abs(y - exact) / np.spacing(exact.astype(np.float16)).astype(np.float64)).max() <= 0.51


def test_gather_takes_negative_indices_from_the_end_and_names_the_range_when_out_of_it():
    data = np.arange(20, dtype=np.float32).reshape(5, 4)
    session = _single("Gather", ["data", "idx"], types={"idx": TensorProto.INT64}, axis=0)
    got = session.run({"data": data, "idx": np.array([[-1, 0], [4, -5]], np.int64)})["y"]
    np.testing.assert_array_equal(got, data[[[4, 0], [4, 0]]])
    scalar = session.run({"data": data, "idx": np.array(-2, np.int64)})["y"]
    assert isinstance(scalar, np.ndarray) and scalar.shape == (4,)
    np.testing.assert_array_equal(scalar, data[3])
    for bad in (5, -6):
        with pytest.raises(KernelError, match=r"indices out of range \[-5, 4\]"):
            session.run({"data": data, "idx": np.array([0, bad], np.int64)})


def test_gather_names_the_range_for_an_empty_axis():
    with pytest.raises(KernelError, match="indices out of range"):
        _single("Gather", ["data", "idx"], types={"idx": TensorProto.INT64}).run({"data": np.zeros((0, 3), np.float32),
                                                "idx": np.array([0], np.int64)})


def test_expand_follows_a_new_input_or_target_shape_after_a_checked_one():
    session = _single("Expand", ["x", "shape"], types={"shape": TensorProto.INT64})
    x = np.arange(3, dtype=np.float32).reshape(3, 1)
    for target, want in (([2, 3, 4], (2, 3, 4)), ([2, 3, 4], (2, 3, 4)), ([3, 1], (3, 1)), ([1, 5], (3, 5))):
        y = session.run({"x": x, "shape": np.array(target, np.int64)})["y"]
        assert y.shape == want
        np.testing.assert_array_equal(y, np.broadcast_to(x, want))
    with pytest.raises(KernelError, match=r"cannot broadcast input of shape \(1, 3\) to shape \(1, 5\)"):
        session.run({"x": x.reshape(1, 3), "shape": np.array([1, 5], np.int64)})  # same target, new input


@pytest.mark.parametrize("axis,sizes", [(1, [2, 5, 1]), (-1, [3, 3]), (0, [1, 0, 3])])
def test_split_parts_are_the_input_slices(axis, sizes):
    x = np.random.default_rng(3).standard_normal((4, 8, 6)).astype(np.float32)
    outputs = [f"y{i}" for i in range(len(sizes))]
    dim = x.shape[axis]
    sizes = sizes if sum(sizes) == dim else [dim // len(sizes)] * len(sizes)
    session = _single("Split", ["x", "split"], outputs=outputs, opset=13, axis=axis,
                      initializers={"split": np.array(sizes, np.int64)})
    got = session.run({"x": x})
    want = np.split(x, np.cumsum(sizes)[:-1], axis=axis)
    for name, part in zip(outputs, want):
        np.testing.assert_array_equal(got[name], part)
        assert got[name].shape == part.shape


def test_float32_matmul_rechecks_when_shapes_change():
    """The float32 (..., M, K) @ (K, N) route skips its checks only for the shapes last checked."""
    session = _single("MatMul", ["a", "b"])
    rng = np.random.default_rng(4)
    for a_shape, b_shape in (((2, 3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((3, 4), (4, 2)), ((1, 6, 4), (4, 5))):
        a, b = rng.standard_normal(a_shape).astype(np.float32), rng.standard_normal(b_shape).astype(np.float32)
        y = session.run({"a": a, "b": b})["y"]
        np.testing.assert_allclose(y, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-5, atol=1e-5)
    with pytest.raises(KernelError, match="inner dimensions 4 and 3 differ"):
        session.run({"a": np.ones((2, 3, 4), np.float32), "b": np.ones((3, 5), np.float32)})


def test_blas_thread_choice_follows_the_measured_faster_way_and_measures_again(monkeypatch):
    """kernels/blas.py: a product from TRIAL_FLOPS to SMALL_FLOPS alternates one thread and OpenBLAS's
    own count for its first TRIALS calls, then takes the faster, and measures again every RETRY
    calls (here one thread gets slower between two rounds). Timings come from a fake clock."""
    from types import SimpleNamespace

    from refruntime.kernels import blas

    clock, cost, calls = [0.0], {"one": 1.0, "own": 2.0}, []

    def timed(way):
        def run(a, b, out=None):
            calls.append(way)
            clock[0] += cost[way]
            return np.matmul(a, b, out=out)
        return run

    monkeypatch.setattr(blas, "_api", lambda: (lambda: 2, lambda n: None))
    monkeypatch.setattr(blas, "_CORE", "haswell")  # no column blocks (tested below)
    monkeypatch.setattr(blas, "_same_bits_both_ways", lambda a, b: True)
    monkeypatch.setattr(blas, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(blas, "_one_thread", timed("one"))
    monkeypatch.setattr(blas, "np", SimpleNamespace(matmul=timed("own")))
    monkeypatch.setattr(blas, "_CHOICES", {})
    a, b = np.ones((128, 128), np.float32), np.ones((128, 512), np.float32)  # 2 * M*N*K = 2**24 flops
    for _ in range(blas.RETRY):
        np.testing.assert_array_equal(blas.matmul(a, b), np.full((128, 512), 128, np.float32))
    assert calls[:blas.TRIALS] == ["one", "own"] * (blas.TRIALS // 2)
    assert set(calls[blas.TRIALS:]) == {"one"}
    cost.update(one=3.0, own=1.0)  # now two threads are the faster way
    calls.clear()
    for _ in range(blas.RETRY):
        blas.matmul(a, b)
    assert calls[:blas.TRIALS] == ["one", "own"] * (blas.TRIALS // 2)
    assert set(calls[blas.TRIALS:]) == {"own"}
    # below TRIAL_FLOPS: one thread, no trial; OpenBLAS's own one-thread size and big products: its count
    calls.clear()
    blas.matmul(np.ones((16, 128), np.float32), np.ones((128, 512), np.float32))
    blas.matmul(np.ones((16, 128), np.float32), np.ones((128, 128), np.float32))
    blas.matmul(np.ones((512, 512), np.float32), np.ones((512, 512), np.float32))
    assert calls == ["one", "own", "own"] and len(blas._CHOICES) == 1


def test_blas_shapes_whose_bits_depend_on_the_thread_count_keep_openblas_count(monkeypatch):
    """A product whose one-thread result differs in its bits from OpenBLAS's own count (OpenBLAS
    0.3.31 does at K = 700) is never timed both ways: every call gives the same bits."""
    from refruntime.kernels import blas

    ways = []

    def one_thread(a, b, out):  # a one-thread kernel that rounds differently
        ways.append("one")
        return np.matmul(a, b, out=out) + np.float32(1)

    monkeypatch.setattr(blas, "_api", lambda: (lambda: 2, lambda n: None))
    monkeypatch.setattr(blas, "_one_thread", one_thread)
    monkeypatch.setattr(blas, "_CHOICES", {})
    a = np.random.default_rng(0).standard_normal((128, 128), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((128, 512), dtype=np.float32)
    expected = np.matmul(a, b)
    for _ in range(blas.TRIALS + 2):
        np.testing.assert_array_equal(blas.matmul(a, b), expected)
    assert ways == ["one"]  # the probe's call only
    assert list(blas._CHOICES.values()) == [None]


def test_blas_products_give_the_same_bits_on_every_call():
    """The real OpenBLAS, shapes from TRIAL_FLOPS to SMALL_FLOPS, among them K = 700, whose bits
    depended on the thread count on this project's AVX-512 machines: ten calls, one answer,
    within float32 rounding of the float64 product."""
    from refruntime.kernels import blas

    rng = np.random.default_rng(7)
    for m, k, n in [(16, 700, 512), (64, 700, 128), (128, 128, 512), (16, 768, 768)]:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        first = blas.matmul(a, b)
        for _ in range(9):
            np.testing.assert_array_equal(blas.matmul(a, b), first)
        exact = a.astype(np.float64) @ b.astype(np.float64)
        np.testing.assert_allclose(first, exact, rtol=0, atol=k * 2.0 ** -23 * np.abs(a).max() * np.abs(b).max())


@pytest.mark.parametrize("m, k, n", [(16, 128, 512), (16, 512, 128), (2, 1024, 1024), (32, 128, 520), (8, 1000, 300)])
def test_blas_column_blocks_compute_the_product(monkeypatch, m, k, n):
    """On OpenBLAS's SkylakeX-family cores a float32 product below TRIAL_FLOPS with M*N*K above
    1e6 runs in column blocks of at most 1e6 / (M*K) columns (forced here on any machine): the
    float64 product within float32 rounding, into `out` when given, the same bits every call."""
    from refruntime.kernels import blas

    monkeypatch.setattr(blas, "_CORE", "skylakex")
    rng = np.random.default_rng(m * k + n)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    width = blas.column_block(a, b)
    if blas._api():  # without a recognizable OpenBLAS it is plain np.matmul
        assert width >= blas.MIN_BLOCK and m * k * width <= blas.SMALL_KERNEL_MNK < m * k * 2 * width
    exact = a.astype(np.float64) @ b.astype(np.float64)
    bound = k * 2.0 ** -23 * np.abs(a).max() * np.abs(b).max()
    out = np.full((m, n), np.nan, np.float32)
    y = blas.matmul(a, b, out=out)
    assert y is out
    np.testing.assert_allclose(out, exact, rtol=0, atol=bound)
    for _ in range(3):
        np.testing.assert_array_equal(blas.matmul(a, b), out)


def test_blas_column_blocks_only_where_the_small_kernel_serves_them(monkeypatch):
    from refruntime.kernels import blas

    f32 = np.ones((16, 128), np.float32), np.ones((128, 512), np.float32)
    monkeypatch.setattr(blas, "_api", lambda: (lambda: 2, lambda n: None))
    monkeypatch.setattr(blas, "_CORE", "skylakex")
    assert blas.column_block(*f32) == 256
    assert blas.column_block(np.ones((16, 128), np.float32), np.ones((128, 480), np.float32)) == 0  # M*N*K <= 1e6
    assert blas.column_block(f32[0], np.ones((512, 128), np.float32).T) == 0  # a transposed B: TN kernel
    assert blas.column_block(f32[0].astype(np.float64), f32[1].astype(np.float64)) == 0
    assert blas.column_block(np.ones((1, 4096), np.float32), np.ones((4096, 512), np.float32)) == 0  # one row
    assert blas.column_block(np.ones((16, 4096), np.float32), np.ones((4096, 64), np.float32)) == 0  # < 32 columns
    monkeypatch.setattr(blas, "_CORE", "haswell")
    assert blas.column_block(*f32) == 0


def test_one_thread_products_restore_openblas_thread_count(monkeypatch):
    from refruntime.kernels import blas

    threads, calls = [2], []

    def put(n):
        calls.append(n)
        threads[0] = n

    monkeypatch.setattr(blas, "_API", (lambda: threads[0], put))
    y = blas._one_thread(np.ones((3, 4), np.float32), np.ones((4, 2), np.float32), None)
    np.testing.assert_array_equal(y, np.full((3, 2), 4, np.float32))
    assert calls == [1, 2] and threads == [2]


def _chain_model(nodes, inputs, output, initializers, elem=TensorProto.FLOAT):
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info(n, elem, None) for n in inputs],
                              [helper.make_tensor_value_info(output, elem, None)],
                              [numpy_helper.from_array(v, k) for k, v in initializers.items()])
    return Session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


def _gelu_tanh_nodes():
    """GPT-2's GELU as TorchScript exports it: 0.5x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))."""
    return [helper.make_node("Mul", ["x", "half"], ["xh"]),
            helper.make_node("Pow", ["x", "three"], ["x3"]),
            helper.make_node("Mul", ["x3", "k"], ["kx3"]),
            helper.make_node("Add", ["x", "kx3"], ["inner"]),
            helper.make_node("Mul", ["inner", "root"], ["scaled"]),
            helper.make_node("Tanh", ["scaled"], ["t"]),
            helper.make_node("Add", ["t", "one"], ["t1"]),
            helper.make_node("Mul", ["xh", "t1"], ["y"])]


GELU_CONSTANTS = {"half": np.array(0.5, np.float32), "three": np.array(3.0, np.float32),
                  "k": np.array(0.044715, np.float32), "root": np.array(0.7978846, np.float32),
                  "one": np.array(1.0, np.float32)}


def test_elementwise_chains_run_as_generated_loops_bitwise_equal_to_the_unfused_kernels():
    """GPT-2's GELU is one fused step: a loop up to tanh's input, numpy's tanh (the Tanh kernel's
    own call) over that buffer, a loop for the rest with the 0.5 * x beside it; values that stress
    each op's rounding (huge, tiny, subnormal, +-0, +-inf, NaN) give bit for bit what the unfused
    kernels give."""
    session = _chain_model(_gelu_tanh_nodes(), ["x"], "y", GELU_CONSTANTS)
    x = np.random.default_rng(8).standard_normal((3, 7, 33)).astype(np.float32) * 4
    x.flat[:8] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-42, 3e38, -2e13]
    fast, plain = session.run({"x": x})["y"], session.run({"x": x}, profile=True)["y"]
    np.testing.assert_array_equal(fast.view(np.uint32), plain.view(np.uint32))
    fused = session.plan.program.fused
    assert len(fused) == 1, fused
    assert [part.split()[0] for part in fused[0].split(" -> ")] == ["Mul", "Pow", "Mul", "Add", "Mul", "Tanh",
                                                                   "Add", "Mul"]


@pytest.mark.parametrize("b_shape", [(3, 4, 5), (5,), (1,), (), (4, 1), (2, 3, 4, 5)])
def test_elementwise_chain_operands_broadcast_or_fall_back_to_the_unfused_kernels(b_shape):
    """y = (a - b) / c * a: a full operand, b of every broadcasting kind (the loop covers full,
    last-axis vector and scalar; a column vector or a larger b runs the unfused kernels), c a
    constant with zeros (x / 0 is inf, as numpy's, not an error)."""
    nodes = [helper.make_node("Sub", ["a", "b"], ["d"]), helper.make_node("Div", ["d", "c"], ["q"]),
             helper.make_node("Mul", ["q", "a"], ["y"])]
    c = np.array([1.5, 0.0, -2.0, 0.0, 3.0], np.float32)
    session = _chain_model(nodes, ["a", "b"], "y", {"c": c})
    rng = np.random.default_rng(9)
    feeds = {"a": rng.standard_normal((3, 4, 5)).astype(np.float32), "b": rng.standard_normal(b_shape).astype(np.float32)}
    fast, plain = session.run(feeds)["y"], session.run(feeds, profile=True)["y"]
    assert fast.shape == plain.shape == np.broadcast_shapes((3, 4, 5), b_shape)
    np.testing.assert_array_equal(fast.view(np.uint32), plain.view(np.uint32))
    assert np.isinf(fast[..., 1]).all()  # divided by zero: inf as numpy gives it, not an error


def test_elementwise_chain_of_other_dtypes_and_of_shape_values_is_left_to_the_kernels():
    """float16 and int64 chains compute through the unfused kernels (per-op rounding to float16,
    exact integers); a chain over shape values is not fused at all (the shape memo keeps it)."""
    nodes = [helper.make_node("Mul", ["x", "two"], ["m"]), helper.make_node("Add", ["m", "x"], ["y"])]
    for dtype, elem in ((np.float16, TensorProto.FLOAT16), (np.int64, TensorProto.INT64)):
        session = _chain_model(nodes, ["x"], "y", {"two": np.array(2, dtype)}, elem=elem)
        x = np.arange(-6, 6, dtype=dtype).reshape(3, 4) * dtype(7)
        np.testing.assert_array_equal(session.run({"x": x})["y"], x * dtype(2) + x)
    shape_nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Mul", ["s", "one"], ["m"]),
                   helper.make_node("Sub", ["m", "zero"], ["n"]), helper.make_node("Reshape", ["x", "n"], ["y"])]
    graph = helper.make_graph(shape_nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.array(1, np.int64), "one"),
                               numpy_helper.from_array(np.array(0, np.int64), "zero")])
    session = Session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert session.run({"x": np.ones((3, 4), np.float32)})["y"].shape == (3, 4)
    assert not session.plan.program.fused


def test_elementwise_chain_with_erf_recomputes_the_undecided_elements_exactly():
    """BERT's GELU, x * 0.5 * (1 + erf(x / sqrt 2)) (Div -> Erf -> Add -> Mul -> Mul), fused, on values
    whose erf the fast polynomial cannot round (the loop's second pass gives them math.erf's value;
    kernels/erf.py) and on NaN/inf/-0: bit for bit the unfused kernels."""
    nodes = [helper.make_node("Div", ["x", "root2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
             helper.make_node("Add", ["e", "one"], ["e1"]), helper.make_node("Mul", ["x", "e1"], ["m"]),
             helper.make_node("Mul", ["m", "half"], ["y"])]
    consts = {"root2": np.array(1.0, np.float32), "one": np.array(1.0, np.float32), "half": np.array(0.5, np.float32)}
    session = _chain_model(nodes, ["x"], "y", consts)  # divided by 1: the hard inputs reach Erf unchanged
    hard = np.float32([0.064214356, 0.12580933, 0.25466546, 0.501246, 1.0109152, 2.077677, 3.815821e-09,
                       5.2047426e-06, 0.0001839803, 0.00036625183])
    x = np.random.default_rng(10).standard_normal((4, 300)).astype(np.float32)
    x[:, ::30] = np.concatenate([hard, -hard, hard, -hard]).reshape(4, 5 * 2)[:, :10]
    x[0, 1:6] = [np.nan, np.inf, -np.inf, -0.0, 1e-42]
    fast, plain = session.run({"x": x})["y"], session.run({"x": x}, profile=True)["y"]
    np.testing.assert_array_equal(fast.view(np.uint32), plain.view(np.uint32))
    assert any(d.startswith("Div") and "Erf" in d for d in session.plan.program.fused)


def _softmax_guard_model(where_inputs, outputs=("y",), elem=TensorProto.FLOAT, value=0.0):
    """y = Where(IsNaN(Softmax(x)), ...) as TorchScript exports scaled_dot_product_attention."""
    dtype = np.float16 if elem == TensorProto.FLOAT16 else np.float32
    nodes = [helper.make_node("Softmax", ["x"], ["s"], axis=-1), helper.make_node("IsNaN", ["s"], ["nan"]),
             helper.make_node("Where", where_inputs, ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", elem, None)],
                              [helper.make_tensor_value_info(n, elem, None) for n in outputs],
                              [numpy_helper.from_array(np.array(value, dtype), "c")])
    return Session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


@pytest.mark.parametrize("where_inputs,outputs,elem,fused", [
    (["nan", "c", "s"], ("y",), TensorProto.FLOAT, True),
    (["nan", "c", "s"], ("y",), TensorProto.FLOAT16, True),   # planned; float16 runs the three kernels
    (["nan", "s", "c"], ("y",), TensorProto.FLOAT, False),    # the constant where the scores are not NaN
    (["nan", "c", "s"], ("y", "s"), TensorProto.FLOAT, False),  # the scores are also a graph output
])
def test_softmax_nan_guard_is_one_step_bitwise_equal_to_isnan_and_where(where_inputs, outputs, elem, fused):
    """Softmax -> Where(IsNaN(s), c, s) (a fully masked attention row gives NaN, replaced by c) fuses
    into the Softmax step only in that exact form; results equal the three kernels run one by one."""
    session = _softmax_guard_model(where_inputs, outputs, elem, value=-2.5)
    dtype = np.float16 if elem == TensorProto.FLOAT16 else np.float32
    x = np.random.default_rng(11).standard_normal((2, 3, 8)).astype(dtype)
    x[0, 1] = -np.inf  # a fully masked row: NaN from the softmax
    x[1, 2, 3] = np.nan
    fast, plain = session.run({"x": x}), session.run({"x": x}, profile=True)
    for name in outputs:
        np.testing.assert_array_equal(fast[name], plain[name])
    if where_inputs[1] == "c":
        assert (fast["y"][0, 1] == dtype(-2.5)).all() and (fast["y"][1, 2] == dtype(-2.5)).all()
    assert any("IsNaN" in d for d in session.plan.program.fused) == fused


def test_elementwise_chain_relu_keeps_numpys_signed_zero_and_nan():
    """Add -> Relu -> Mul fused: Relu as np.maximum(x, 0) gives +0 for -0 and NaN for NaN."""
    nodes = [helper.make_node("Add", ["x", "c"], ["a"]), helper.make_node("Relu", ["a"], ["r"]),
             helper.make_node("Mul", ["r", "c"], ["y"])]
    session = _chain_model(nodes, ["x"], "y", {"c": np.array([-0.0, 1.5, -2.0, 0.25], np.float32)})
    x = np.array([[-0.0, np.nan, 3.0, -1.0], [0.0, -np.inf, np.inf, 2.0]], np.float32)
    fast, plain = session.run({"x": x})["y"], session.run({"x": x}, profile=True)["y"]
    np.testing.assert_array_equal(fast.view(np.uint32), plain.view(np.uint32))
    assert any(d.startswith("Add") and "Relu" in d for d in session.plan.program.fused)


def _outer_sum_model(extra_nodes=(), extra_inputs=()):
    """y = a + b (broadcasting: (n, 1) + (1, n) is n * n), behind optional nodes."""
    nodes = [*extra_nodes, helper.make_node("Add", ["a", "b"], ["y"])]
    names = extra_inputs if extra_nodes else ("a",)  # extra nodes compute a
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in (*names, "b")]
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_size_guards_run_once_per_feed_signature_and_still_refuse_a_new_large_shape():
    """In a plan whose shapes follow the feeds' (plan_stable_shapes.py) a repeated feed signature
    skips the guards; a new signature is guarded again, so an outer sum above max_tensor_bytes is
    still a LimitError naming the node, not an allocation."""
    from refruntime.errors import LimitError

    session = Session(_outer_sum_model(), max_tensor_bytes=40_000)
    small = {"a": np.ones((50, 1), np.float32), "b": np.ones((1, 50), np.float32)}
    for _ in range(3):
        assert session.run(small)["y"].shape == (50, 50)
    program = session.plan.program
    assert program.checked_feeds == {(((50, 1), np.dtype(np.float32)), ((1, 50), np.dtype(np.float32)))}
    with pytest.raises(LimitError, match=r"\(Add\): output of shape \(200, 200\)"):
        session.run({"a": np.ones((200, 1), np.float32), "b": np.ones((1, 200), np.float32)})
    assert len(program.checked_feeds) == 1  # the refused signature is not remembered


def test_plans_with_value_dependent_shapes_keep_their_guards_on_every_run():
    """A Reshape whose target is a feed, or a NonZero, makes shapes depend on values: guarded always."""
    reshape = helper.make_node("Reshape", ["x", "target"], ["a"])
    fed_target = _outer_sum_model([reshape], ["x", "target"])
    fed_target.graph.input[1].type.tensor_type.elem_type = TensorProto.INT64  # target
    nonzero = _outer_sum_model([helper.make_node("NonZero", ["x"], ["nz"]),
                                helper.make_node("Cast", ["nz"], ["nzf"], to=TensorProto.FLOAT),
                                helper.make_node("Reshape", ["nzf", "minus_one"], ["a"])], ["x"])
    nonzero.graph.initializer.append(numpy_helper.from_array(np.array([-1, 1], np.int64), "minus_one"))
    for model, feeds in ((fed_target, {"x": np.ones((2, 3), np.float32), "target": np.array([6, 1], np.int64)}),
                         (nonzero, {"x": np.ones((4,), np.float32)})):
        session = Session(model)
        session.run({**feeds, "b": np.ones((1, 3), np.float32)})
        assert session.plan.program.checked_feeds is None


def test_reshape_rereads_a_fed_target_changed_in_place_and_transpose_rechecks_a_new_rank():
    """Reshape skips parsing only for the same read-only target array (a constant); a fed target the
    caller edits in place between runs is read again. Transpose checks its perm per input rank."""
    session = _single("Reshape", ["x", "shape"], types={"shape": TensorProto.INT64})
    x = np.arange(12, dtype=np.float32)
    target = np.array([3, 4], np.int64)
    assert session.run({"x": x, "shape": target})["y"].shape == (3, 4)
    target[:] = [2, 6]
    assert session.run({"x": x, "shape": target})["y"].shape == (2, 6)
    transpose = _single("Transpose", ["x"], perm=[1, 0])
    np.testing.assert_array_equal(transpose.run({"x": x.reshape(3, 4)})["y"], x.reshape(3, 4).T)
    with pytest.raises(KernelError, match=r"perm \[1, 0\] is not a permutation of the 3 axes"):
        transpose.run({"x": x.reshape(2, 3, 2)})


def _float64_affine(x, w, bias):
    return x.astype(np.float64) @ w.astype(np.float64) + bias.astype(np.float64)


@pytest.mark.parametrize("op", ["MatMul", "Gemm"])
def test_projection_memo_follows_new_shapes_and_fed_weights(op):
    """MatMul -> Add of a constant bias (fused_ops.matmul_bias) and Gemm with a row C skip their checks
    for the same A shape and the same B and C arrays: repeated calls, a new row count, then a fed B
    with new values each run and one that no longer fits: the float64 formula every time, and the
    shape error naming the node at the end."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((16, 8)).astype(np.float32)
    bias = rng.standard_normal(8).astype(np.float32)
    if op == "MatMul":
        nodes = [helper.make_node("MatMul", ["x", "w"], ["mm"], name="proj"),
                 helper.make_node("Add", ["mm", "b"], ["y"], name="bias")]
    else:
        nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="proj")]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 16])]
    for fed_weights in (False, True):
        graph_inputs = inputs + ([helper.make_tensor_value_info("w", TensorProto.FLOAT, None)] if fed_weights else [])
        inits = [numpy_helper.from_array(bias, "b")] + ([] if fed_weights else [numpy_helper.from_array(w, "w")])
        model = helper.make_model(helper.make_graph(nodes, "g", graph_inputs,
                                                    [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits),
                                  opset_imports=[helper.make_opsetid("", 17)])
        session = Session(model)
        for rows in (5, 5, 5, 9, 9, 5):
            x = rng.standard_normal((rows, 16)).astype(np.float32)
            weights = rng.standard_normal((16, 8)).astype(np.float32) if fed_weights else w
            feeds = {"x": x, **({"w": weights} if fed_weights else {})}
            y = session.run(feeds)["y"]
            np.testing.assert_allclose(y, _float64_affine(x, weights, bias), rtol=1e-5, atol=1e-5)
            np.testing.assert_array_equal(y, session.run(feeds, after=lambda *a: None)["y"])  # = unfused
        if fed_weights:
            with pytest.raises(KernelError, match="proj"):
                session.run({"x": np.ones((5, 16), np.float32), "w": np.ones((12, 8), np.float32)})


def test_layer_norm_with_fed_scale_reads_each_runs_scale():
    """LayerNormalization's fast path skips its checks for the same Scale and B arrays: a fed Scale
    is a new array each run, so its values and shape are checked and read every time."""
    node = helper.make_node("LayerNormalization", ["x", "s"], ["y"], name="ln", epsilon=1e-5)
    model = helper.make_model(helper.make_graph(
        [node], "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("x", "s")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]), opset_imports=[helper.make_opsetid("", 17)])
    session = Session(model)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 32)).astype(np.float32)
    for _ in range(3):
        scale = rng.standard_normal(32).astype(np.float32)
        d = x.astype(np.float64) - x.mean(axis=-1, keepdims=True, dtype=np.float64)
        exact = d / np.sqrt((d * d).mean(axis=-1, keepdims=True) + 1e-5) * scale
        np.testing.assert_allclose(session.run({"x": x, "s": scale})["y"], exact, rtol=1e-5, atol=1e-5)
    with pytest.raises(KernelError, match="ln"):
        session.run({"x": x, "s": np.ones(31, np.float32)})


def test_elementwise_chain_repeat_calls_read_each_runs_values():
    """A fused chain's later calls reuse the arguments of read-only inputs (constants) and rebuild
    the others: the same fed array edited in place, a non-contiguous view of it and a fed vector
    operand that changes between runs give what the unfused kernels give, every run."""
    nodes = [helper.make_node("Mul", ["x", "v"], ["m"]), helper.make_node("Add", ["m", "c"], ["a"]),
             helper.make_node("Div", ["a", "x"], ["y"])]
    session = _chain_model(nodes, ["x", "v"], "y", {"c": np.array(0.25, np.float32)})
    rng = np.random.default_rng(11)
    x = rng.standard_normal((6, 8)).astype(np.float32)
    wide = rng.standard_normal((6, 16)).astype(np.float32)
    for feed in (x, x, x, wide[:, ::2], wide[:, ::2]):
        v = rng.standard_normal(feed.shape[-1]).astype(np.float32)
        fast = session.run({"x": feed, "v": v})["y"]
        assert session.plan.program.fused
        np.testing.assert_array_equal(fast, session.run({"x": feed, "v": v}, profile=True)["y"])
        np.testing.assert_array_equal(fast, ((feed * v) + np.float32(0.25)) / feed)
        feed *= np.float32(1.5)  # edited in place before the next run
        wide[:, ::2] *= np.float32(0.5)


@pytest.mark.parametrize("fed_weights", [False, True])
def test_reshape_gemm_reshape_is_one_step_equal_to_the_three_kernels(fed_weights):
    """GPT-2's Conv1D (Reshape to rows -> Gemm -> Reshape back) runs as one step
    (fused_ops.reshaped_gemm); new sequence lengths and fed weights that change each run give the
    float64 formula and, bit for bit, the unfused kernels; a target that does not fit is the
    Reshape's error."""
    rng = np.random.default_rng(9)
    w = rng.standard_normal((8, 12)).astype(np.float32)
    bias = rng.standard_normal(12).astype(np.float32)
    nodes = [helper.make_node("Reshape", ["x", "rows"], ["r"], name="view_in"),
             helper.make_node("Gemm", ["r", "w", "b"], ["g"], name="addmm"),
             helper.make_node("Shape", ["x"], ["xs"], name="shape"),
             helper.make_node("Slice", ["xs", "zero", "two"], ["lead"], name="lead"),
             helper.make_node("Concat", ["lead", "n"], ["target"], name="target", axis=0),
             helper.make_node("Reshape", ["g", "target"], ["y"], name="view_out")]
    inits = {"rows": np.array([-1, 8]), "b": bias, "zero": np.array([0]), "two": np.array([2]), "n": np.array([12])}
    if not fed_weights:
        inits["w"] = w
    inputs = ["x"] + (["w"] if fed_weights else [])
    graph = helper.make_graph(nodes, "conv1d", [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in inputs],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    session = Session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    for seq in (5, 5, 5, 3, 3):
        x = rng.standard_normal((1, seq, 8)).astype(np.float32)
        weights = rng.standard_normal((8, 12)).astype(np.float32) if fed_weights else w
        feeds = {"x": x, **({"w": weights} if fed_weights else {})}
        y = session.run(feeds)["y"]
        assert session.plan.program.fused == ["Reshape view_in -> Gemm addmm -> Reshape view_out"]
        assert y.shape == (1, seq, 12)
        np.testing.assert_allclose(y, _float64_affine(x, weights, bias), rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(y, session.run(feeds, profile=True)["y"])
    with pytest.raises(KernelError, match="view_in"):
        session.run({"x": np.ones((1, 5, 7), np.float32), **({"w": w} if fed_weights else {})})


@pytest.mark.parametrize("case", ["tanh_last", "erf_and_tanh", "feeder_tanh_of_input", "two_tanh", "vector"])
def test_elementwise_regions_with_tanh_are_bitwise_the_unfused_kernels(case):
    """Chains with a Tanh (numpy's ufunc between two loops) and links that feed a chain: a Tanh that
    ends the chain, an Erf before and after it, a Tanh of an outside value feeding a chain (not
    fusable with it: the chain alone fuses), two Tanh (the chain stops before the second), vector and scalar
    operands. Each gives bit for bit what the unfused kernels give, with extreme values."""
    mk = helper.make_node
    consts = {"c": np.array(0.75, np.float32), "v": np.linspace(-2, 2, 33).astype(np.float32)}
    nodes = {
        "tanh_last": [mk("Mul", ["x", "c"], ["a"]), mk("Add", ["a", "x"], ["b"]), mk("Tanh", ["b"], ["y"])],
        "erf_and_tanh": [mk("Erf", ["x"], ["e"]), mk("Mul", ["e", "c"], ["a"]), mk("Tanh", ["a"], ["t"]),
                         mk("Erf", ["t"], ["u"]), mk("Mul", ["x", "c"], ["h"]), mk("Add", ["u", "h"], ["y"])],
        "feeder_tanh_of_input": [mk("Tanh", ["x"], ["t"]), mk("Mul", ["x", "c"], ["a"]), mk("Add", ["a", "t"], ["b"]),
                                 mk("Mul", ["b", "x"], ["y"])],
        "two_tanh": [mk("Mul", ["x", "c"], ["a"]), mk("Tanh", ["a"], ["t"]), mk("Add", ["t", "x"], ["b"]),
                     mk("Tanh", ["b"], ["u"]), mk("Mul", ["u", "c"], ["y"])],
        "vector": [mk("Sub", ["x", "v"], ["a"]), mk("Tanh", ["a"], ["t"]), mk("Mul", ["x", "v"], ["h"]),
                   mk("Div", ["t", "h"], ["y"])],
    }[case]
    session = _chain_model(nodes, ["x"], "y", consts)
    x = np.random.default_rng(12).standard_normal((4, 5, 33)).astype(np.float32) * 3
    x.flat[:9] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-42, 3e38, -2e13, 0.02]
    fast, plain = session.run({"x": x})["y"], session.run({"x": x}, profile=True)["y"]
    np.testing.assert_array_equal(fast.view(np.uint32), plain.view(np.uint32))
    np.testing.assert_array_equal(session.run({"x": x})["y"].view(np.uint32), plain.view(np.uint32))
    fused = session.plan.program.fused
    expected = {"tanh_last": [3], "erf_and_tanh": [6], "feeder_tanh_of_input": [3], "two_tanh": [3],
                "vector": [4]}[case]
    assert sorted(d.count("->") + 1 for d in fused) == sorted(expected), fused


@pytest.mark.parametrize("value_shape, axis", [((1, 1, 1, 1), -1), ((), 1), ((1,), -1)])
def test_softmax_nan_guard_keeps_where_broadcasting_and_other_axes(value_shape, axis):
    """A fill value of higher rank than the scores makes Where's output bigger, and a softmax over
    another axis than the last takes the general kernel: both give the three kernels' result."""
    nodes = [helper.make_node("Softmax", ["x"], ["s"], axis=axis), helper.make_node("IsNaN", ["s"], ["nan"]),
             helper.make_node("Where", ["nan", "c", "s"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.full(value_shape, -3.0, np.float32), "c")])
    session = Session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    x = np.random.default_rng(4).standard_normal((2, 3, 8)).astype(np.float32)
    x[0, 1] = -np.inf
    x[1, :, 2] = -np.inf
    fast, plain = session.run({"x": x})["y"], session.run({"x": x}, profile=True)["y"]
    assert fast.shape == plain.shape == np.broadcast_shapes(value_shape, x.shape)
    np.testing.assert_array_equal(fast, plain)
    assert (fast == np.float32(-3.0)).any()


def test_float32_binary_ops_split_and_batched_matmul_repeat_calls():
    """The float32 short paths: Add/Sub/Mul/Div of two 0-d values still give 0-d arrays; a Split by a
    constant sizes input reuses its slices for the same shape and checks a new one; a batched
    MatMul of checked shapes: each against numpy's float32 or float64 results, over new shapes."""
    mk = helper.make_node
    nodes = [mk("Add", ["p", "q"], ["s0"]), mk("Sub", ["s0", "q"], ["s1"]), mk("Mul", ["s1", "q"], ["s2"]),
             mk("Div", ["s2", "q"], ["scalar"]),
             mk("Split", ["x", "sizes"], ["x0", "x1", "x2"], axis=-1),
             mk("MatMul", ["x0", "x1"], ["attn"])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("p", "q", "x")],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("scalar", "x2", "attn")],
        [numpy_helper.from_array(np.array([4, 4, 3]), "sizes")])
    session = Session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    rng = np.random.default_rng(6)
    p, q = np.array(1.5, np.float32), np.array(0.3, np.float32)
    for lead in ((2, 3), (2, 3), (2, 3), (1, 5), (2, 3)):
        x = rng.standard_normal((*lead, 4, 11)).astype(np.float32)
        out = session.run({"p": p, "q": q, "x": x})
        assert type(out["scalar"]) is np.ndarray and out["scalar"].shape == ()
        assert out["scalar"] == ((p + q - q) * q) / q
        np.testing.assert_array_equal(out["x2"], x[..., 8:])
        exact = x[..., :4].astype(np.float64) @ x[..., 4:8].astype(np.float64)
        np.testing.assert_allclose(out["attn"], exact, rtol=1e-5, atol=1e-5)
    with pytest.raises(KernelError, match="split sizes"):
        session.run({"p": p, "q": q, "x": np.ones((2, 3, 4, 12), np.float32)})


def test_blas_shape_memos_start_over_past_their_bound(monkeypatch):
    """A server meeting ever new sequence lengths does not grow kernels/blas.py's memos without end."""
    from refruntime.kernels import blas

    monkeypatch.setattr(blas, "MAX_SHAPES", 2)
    monkeypatch.setattr(blas, "_BLOCKS", {})
    rng = np.random.default_rng(2)
    for rows in (9, 10, 11, 12, 13):
        a, b = rng.standard_normal((rows, 300), dtype=np.float32), rng.standard_normal((300, 400), dtype=np.float32)
        np.testing.assert_allclose(blas.matmul(a, b), a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3)
        assert len(blas._BLOCKS) <= 2
