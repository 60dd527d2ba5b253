"""`verify=True` for passes: run the model before and after on the same seeded random inputs and
raise VerificationError naming the first output that differs beyond tolerance.

refruntime runs both models; when it cannot (an op it does not know), onnxruntime runs both.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from graphkit.errors import VerificationError

ATOL, RTOL = 1e-4, 1e-3


def snapshot(model) -> onnx.ModelProto:
    """An independent proto of the model as it is now (external data stays referenced)."""
    return model.to_proto()


def random_feeds(proto: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded inputs for the data inputs (symbolic or unknown dims become 1)."""
    inits = {t.name for t in proto.graph.initializer}
    rng = np.random.default_rng(seed)
    feeds = {}
    for vi in proto.graph.input:
        if vi.name in inits or not vi.type.HasField("tensor_type"):
            continue
        tt = vi.type.tensor_type
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type))
        shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in tt.shape.dim)
        if dtype.kind == "f":
            feeds[vi.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind in "iu":
            feeds[vi.name] = rng.integers(0, 10, size=shape).astype(dtype)
        elif dtype.kind == "b":
            feeds[vi.name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            raise VerificationError(f"cannot make random values for input {vi.name!r} of dtype {dtype}")
    return feeds


def run_model(proto: onnx.ModelProto, feeds: dict, runtime: str) -> dict[str, np.ndarray]:
    names = [o.name for o in proto.graph.output]
    if runtime == "ref":
        from refruntime import Session

        result = Session(proto).run(feeds)
        return {n: result[n] for n in names}
    import onnxruntime as ort

    from graphkit.verification.runtimes.ort import check_for_ort

    check_for_ort(proto)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    wanted = {i.name for i in sess.get_inputs()}
    return dict(zip(names, sess.run(names, {k: v for k, v in feeds.items() if k in wanted})))


def run_both(before: onnx.ModelProto, after: onnx.ModelProto, seed: int = 0):
    """(runtime name, feeds, outputs before, outputs after), on refruntime else onnxruntime."""
    feeds = random_feeds(before, seed)
    errors = []
    for runtime in ("ref", "ort"):
        try:
            return runtime, feeds, run_model(before, feeds, runtime), run_model(after, feeds, runtime)
        except Exception as exc:  # noqa: BLE001 - try the next runtime, report all if none works
            errors.append(f"{runtime}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    raise VerificationError("cannot run the models to verify them (" + "; ".join(errors) + ")")


def verify_equivalent(before: onnx.ModelProto, after_model, *, atol: float = ATOL, rtol: float = RTOL,
                      seed: int = 0, what: str = "the transformation") -> dict:
    """Raise VerificationError if any output of `after_model` differs from `before`'s."""
    after = after_model.to_proto() if not isinstance(after_model, onnx.ModelProto) else after_model
    runtime, _, expected, actual = run_both(before, after, seed)
    return verify_equivalent_outputs(expected, actual, runtime, list(expected), atol, rtol, what)


def verify_equivalent_outputs(expected: dict, actual: dict, runtime: str, names: list[str], atol: float,
                              rtol: float, what: str) -> dict:
    worst = {}
    for name in names:
        want = expected[name]
        if name not in actual:
            raise VerificationError(f"{what} removed graph output {name!r}")
        got = np.asarray(actual[name])
        want = np.asarray(want)
        if got.shape != want.shape:
            raise VerificationError(f"{what} changed output {name!r}: shape {list(want.shape)} -> {list(got.shape)}")
        if want.dtype.kind in "fc":
            w64, g64 = want.astype(np.float64), got.astype(np.float64)
            both_nan = np.isnan(w64) & np.isnan(g64)
            diff = np.where(both_nan, 0.0, np.abs(w64 - g64))
            diff = np.where(np.isnan(diff), np.inf, diff)
            err = float(diff.max()) if diff.size else 0.0
            bad = diff > atol + rtol * np.abs(np.nan_to_num(w64))
        else:
            bad = want != got
            err = float(np.count_nonzero(bad))
        worst[name] = err
        if np.any(bad):
            raise VerificationError(f"{what} changed output {name!r}: max error {err:.3g} "
                                    f"(atol {atol:g}, rtol {rtol:g}, on {runtime})")
    return {"runtime": runtime, "max_error": worst}

def verify_extract(original: onnx.ModelProto, extracted: onnx.ModelProto, *, atol: float | None = None,
                   rtol: float | None = None, seed: int = 0) -> dict:
    """The extracted model, fed the original's values of its inputs, must reproduce the original's
    values of its outputs (the original is run with those values exposed as outputs)."""
    atol = ATOL if atol is None else atol
    rtol = RTOL if rtol is None else rtol
    probe = onnx.ModelProto()
    probe.CopyFrom(original)
    present = {o.name for o in probe.graph.output}
    probe.graph.output.extend(vi for vi in (*extracted.graph.input, *extracted.graph.output)
                              if vi.name not in present)
    feeds = random_feeds(original, seed)
    errors = []
    for runtime in ("ref", "ort"):
        try:
            values = run_model(probe, feeds, runtime)
            sub_feeds = {vi.name: values[vi.name] for vi in extracted.graph.input}
            return verify_equivalent_outputs(values, run_model(extracted, sub_feeds, runtime), runtime,
                                             [vi.name for vi in extracted.graph.output], atol, rtol, "extract")
        except VerificationError:
            raise
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{runtime}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    raise VerificationError("cannot run the models to verify them (" + "; ".join(errors) + ")")
