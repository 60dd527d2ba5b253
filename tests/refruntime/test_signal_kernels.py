"""DFT, STFT, the cosine windows and MelWeightMatrix against independent truths: torch.fft /
torch.stft / torch's and scipy's windows, a float64 mel formula written here, onnxruntime as a
peer, and a log-mel spectrogram graph against torch."""
from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from refruntime import Session
from refruntime.errors import KernelError, ModelError

torch = pytest.importorskip("torch")
scipy_signal = pytest.importorskip("scipy.signal")

F32 = {"rtol": 1e-5, "atol": 1e-5}
NP_TO_ONNX = {np.dtype(np.float16): TensorProto.FLOAT16, np.dtype(np.float32): TensorProto.FLOAT,
              np.dtype(np.float64): TensorProto.DOUBLE, np.dtype(np.int32): TensorProto.INT32,
              np.dtype(np.int64): TensorProto.INT64}


def make_model(op, inputs, attrs=None, opset=17, out_type=TensorProto.FLOAT):
    """One-node model; `inputs` maps input names to arrays ('' or None value: an omitted input)."""
    names, infos = [], []
    for name, value in inputs:
        if value is None:
            names.append("")
            continue
        names.append(name)
        infos.append(helper.make_tensor_value_info(name, NP_TO_ONNX[value.dtype], value.shape))
    node = helper.make_node(op, names, ["y"], **(attrs or {}))
    graph = helper.make_graph([node], "g", infos, [helper.make_tensor_value_info("y", out_type, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def run_ref(model, inputs, strict=True):
    """strict=False reaches the kernel's own checks (the strict plan check runs onnx's shape
    inference first, which refuses some invalid cases with its own message)."""
    feeds = {n: v for n, v in inputs if v is not None}
    return Session(model, allow_fallback=False, strict=strict).run(feeds)["y"]


def run_ort(model, inputs):
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {n: v for n, v in inputs if v is not None})[0]


def as_complex(y):
    return y[..., 0].astype(np.float64) + 1j * y[..., 1].astype(np.float64)


def torch_c128(x):
    """[..., 1] or [..., 2] array -> complex128 torch tensor."""
    x = x.astype(np.float64)
    z = x[..., 0] + 1j * x[..., 1] if x.shape[-1] == 2 else x[..., 0] + 0j
    return torch.from_numpy(z)


def i64(v):
    return np.array(v, dtype=np.int64)


# ------------------------------------------------------------------------------------------ DFT
def dft_case(x, opset, axis, dft_length=None, **attrs):
    inputs = [("x", x), ("n", None if dft_length is None else i64(dft_length))]
    if opset >= 20:
        inputs.append(("axis", i64(axis)))
    else:
        attrs["axis"] = axis
    out_type = NP_TO_ONNX[x.dtype]
    model = make_model("DFT", inputs, attrs, opset, out_type)
    return model, inputs


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("axis", [1, 2, -2, -3])
@pytest.mark.parametrize("dft_length", [None, 5, 12])
@pytest.mark.parametrize("channels", [1, 2])
def test_dft_forward_and_inverse_match_torch(opset, axis, dft_length, channels):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 9, 8, channels)).astype(np.float32)
    ax = axis % 4
    for inverse in (0, 1):
        model, inputs = dft_case(x, opset, axis, dft_length, inverse=inverse)
        got = run_ref(model, inputs)
        fn = torch.fft.ifft if inverse else torch.fft.fft
        want = fn(torch_c128(x), n=dft_length, dim=ax).numpy()
        assert got.dtype == np.float32 and got.shape[-1] == 2
        np.testing.assert_allclose(as_complex(got), want, **F32)


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("dft_length", [None, 7, 8, 15])
def test_rfft_matches_torch(opset, dft_length):
    x = np.random.default_rng(3).standard_normal((3, 10, 4, 1)).astype(np.float32)
    model, inputs = dft_case(x, opset, 1, dft_length, onesided=1)
    got = run_ref(model, inputs)
    want = torch.fft.rfft(torch.from_numpy(x[..., 0].astype(np.float64)), n=dft_length, dim=1).numpy()
    assert got.shape == (3, want.shape[1], 4, 2)
    np.testing.assert_allclose(as_complex(got), want, **F32)


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("dft_length", [None, 4, 11, 12, 20])
def test_irfft_matches_torch(opset, dft_length):
    x = np.random.default_rng(5).standard_normal((2, 7, 3, 2)).astype(np.float32)
    model, inputs = dft_case(x, opset, 1, dft_length, onesided=1, inverse=1)
    got = run_ref(model, inputs)
    want = torch.fft.irfft(torch_c128(x), n=dft_length, dim=1).numpy()
    assert got.shape == want.shape + (1,) and got.dtype == np.float32
    np.testing.assert_allclose(got[..., 0], want, **F32)
    if dft_length in (None, 12):  # onnxruntime agrees only where dft_length = 2 * (bins - 1)
        np.testing.assert_allclose(run_ort(model, inputs), got, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_dft_other_float_types_round_once(dtype):
    x = np.random.default_rng(11).standard_normal((2, 16, 2)).astype(dtype)
    model, inputs = dft_case(x, 20, -2)
    got = run_ref(model, inputs)
    assert got.dtype == dtype
    want = torch.fft.fft(torch_c128(x), dim=1).numpy()
    expected = np.stack((want.real, want.imag), axis=-1).astype(dtype)  # one rounding of the truth
    if dtype == np.float16:  # float64 FFTs differ in the last bits only: the roundings agree
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)


def test_dft_agrees_with_onnxruntime():
    x = np.random.default_rng(2).standard_normal((2, 6, 5, 2)).astype(np.float32)
    model, inputs = dft_case(x, 20, 2, 9, inverse=1)
    np.testing.assert_allclose(run_ref(model, inputs), run_ort(model, inputs), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("axis, dft_length, attrs, channels, match", [
    (-1, None, {}, 2, "axis -1"),
    (3, None, {}, 2, "axis 3"),
    (1, 0, {}, 2, "dft_length must be > 0"),
    (1, None, {"onesided": 1}, 2, "needs a real input"),
    (1, None, {"onesided": 1, "inverse": 1}, 1, "needs a complex input"),
])
def test_dft_run_time_errors(axis, dft_length, attrs, channels, match):
    x = np.ones((1, 4, 3, channels), np.float32)
    model, inputs = dft_case(x, 20, axis, dft_length, **attrs)
    with pytest.raises(KernelError, match=match):
        run_ref(model, inputs, strict=False)


def test_dft_plan_time_errors():
    x = np.ones((1, 4, 1), np.float32)
    model, _ = dft_case(x, 17, -1)
    with pytest.raises(ModelError, match="axis -1"):
        Session(model, allow_fallback=False, strict=False)
    model, _ = dft_case(x, 20, 1, onesided=2)
    with pytest.raises(ModelError, match="onesided must be 0 or 1"):
        Session(model, allow_fallback=False, strict=False)


# ----------------------------------------------------------------------------------------- STFT
def stft_case(signal, step, window=None, frame_length=None, onesided=None):
    inputs = [("signal", signal), ("step", i64(step)), ("window", window),
              ("length", None if frame_length is None else i64(frame_length))]
    attrs = {} if onesided is None else {"onesided": onesided}
    return make_model("STFT", inputs, attrs, 17, NP_TO_ONNX[signal.dtype]), inputs


def torch_stft(signal, n_fft, step, window, onesided):
    z = torch_c128(signal) if signal.shape[-1] == 2 else torch.from_numpy(signal[..., 0].astype(np.float64))
    w = torch.ones(n_fft, dtype=torch.float64) if window is None else torch.from_numpy(window.astype(np.float64))
    out = torch.stft(z, n_fft, hop_length=step, win_length=n_fft, window=w, center=False,
                     onesided=bool(onesided), return_complex=True)
    return out.transpose(1, 2).numpy()  # [batch, frames, bins]


@pytest.mark.parametrize("length, frame_length, step", [(128, 16, 8), (100, 32, 7), (64, 64, 3), (50, 9, 50)])
@pytest.mark.parametrize("onesided", [None, 0, 1])
@pytest.mark.parametrize("with_window", [False, True])
def test_stft_matches_torch(length, frame_length, step, onesided, with_window):
    rng = np.random.default_rng(length + step)
    signal = rng.standard_normal((2, length, 1)).astype(np.float32)
    window = torch.hann_window(frame_length, dtype=torch.float64).numpy().astype(np.float32) if with_window else None
    model, inputs = stft_case(signal, step, window, frame_length if not with_window or step % 2 else None, onesided)
    got = run_ref(model, inputs)
    want = torch_stft(signal, frame_length, step, window, 1 if onesided is None else onesided)
    assert got.shape == want.shape + (2,)
    assert got.shape[1] == (length - frame_length) // step + 1
    np.testing.assert_allclose(as_complex(got), want, rtol=1e-5, atol=1e-4)


def test_stft_complex_signal():
    rng = np.random.default_rng(4)
    signal = rng.standard_normal((1, 60, 2)).astype(np.float32)
    window = np.hamming(12).astype(np.float32)
    model, inputs = stft_case(signal, 5, window, onesided=0)
    got = run_ref(model, inputs)
    np.testing.assert_allclose(as_complex(got), torch_stft(signal, 12, 5, window, 0), rtol=1e-5, atol=1e-4)
    # onesided=1 on a complex signal: the spec says "not possible"; onnxruntime returns the first
    # frame_length // 2 + 1 bins of the full DFT, and so does this kernel
    model, inputs = stft_case(signal, 5, window, onesided=1)
    got = run_ref(model, inputs)
    assert got.shape == (1, 10, 7, 2)
    np.testing.assert_allclose(got, run_ort(model, inputs), rtol=1e-4, atol=1e-4)


def test_stft_defaults_frame_length_to_signal_length():
    signal = np.random.default_rng(9).standard_normal((1, 20, 1))
    model, inputs = stft_case(signal, 4)
    got = run_ref(model, inputs)
    assert got.dtype == np.float64 and got.shape == (1, 1, 11, 2)
    np.testing.assert_allclose(as_complex(got)[0, 0], np.fft.rfft(signal[0, :, 0]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("step, window, frame_length, match", [
    (0, None, 8, "frame_step must be > 0"),
    (2, np.ones(6, np.float32), 8, "must be equal"),
    (2, None, 40, "larger than the signal length"),
])
def test_stft_errors(step, window, frame_length, match):
    signal = np.ones((1, 32, 1), np.float32)
    model, inputs = stft_case(signal, step, window, frame_length)
    with pytest.raises(KernelError, match=match):
        run_ref(model, inputs, strict=False)


# -------------------------------------------------------------------------------------- windows
WINDOWS = {
    "HannWindow": (lambda n, p: torch.hann_window(n, periodic=p, dtype=torch.float64), "hann"),
    "HammingWindow": (lambda n, p: torch.hamming_window(n, periodic=p, alpha=25 / 46, beta=21 / 46,
                                                        dtype=torch.float64), ("general_hamming", 25 / 46)),
    "BlackmanWindow": (lambda n, p: torch.blackman_window(n, periodic=p, dtype=torch.float64), "blackman"),
}


def window_model(op, size, periodic=None, output_datatype=None):
    attrs = {}
    if periodic is not None:
        attrs["periodic"] = periodic
    if output_datatype is not None:
        attrs["output_datatype"] = output_datatype
    inputs = [("size", i64(size))]
    return make_model(op, inputs, attrs, 17, output_datatype or TensorProto.FLOAT), inputs


@pytest.mark.parametrize("op", sorted(WINDOWS))
@pytest.mark.parametrize("size", [2, 3, 10, 64, 257])
@pytest.mark.parametrize("periodic", [None, 0, 1])
def test_windows_match_torch_and_scipy(op, size, periodic):
    flag = periodic is None or bool(periodic)
    torch_fn, scipy_name = WINDOWS[op]
    truth = torch_fn(size, flag).numpy()
    np.testing.assert_allclose(scipy_signal.get_window(scipy_name, size, fftbins=flag), truth, atol=1e-14)
    model, inputs = window_model(op, size, periodic)
    got = run_ref(model, inputs)
    assert got.dtype == np.float32 and got.shape == (size,)
    np.testing.assert_allclose(got, truth, rtol=1e-6, atol=1e-7)
    model, inputs = window_model(op, size, periodic, TensorProto.DOUBLE)
    got = run_ref(model, inputs)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, truth, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(got, run_ort(model, inputs), atol=1e-6)  # onnxruntime runs the body in float32


@pytest.mark.parametrize("op", sorted(WINDOWS))
def test_window_edge_sizes_and_integer_output(op):
    model, inputs = window_model(op, 0)
    assert run_ref(model, inputs).shape == (0,)
    model, inputs = window_model(op, 1, 0)
    assert np.isnan(run_ref(model, inputs)).all()  # 0/0 in the function body, NaN in onnxruntime too
    assert np.isnan(run_ort(model, inputs)).all()
    model, inputs = window_model(op, 9, 0, TensorProto.INT32)
    got = run_ref(model, inputs)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, np.trunc(WINDOWS[op][0](9, False).numpy()).astype(np.int32))
    np.testing.assert_array_equal(got, run_ort(model, inputs))
    model, inputs = window_model(op, -1)
    with pytest.raises(KernelError, match="size must be >= 0"):
        run_ref(model, inputs)
    model, _ = window_model(op, 4, 1, TensorProto.STRING)
    with pytest.raises(ModelError, match="output_datatype"):
        Session(model, allow_fallback=False, strict=False)


# ------------------------------------------------------------------------------ MelWeightMatrix
def mel_truth(bands, n, rate, lower, upper):
    """float64 mel filterbank written from the spec example's pseudocode (vectorized here)."""
    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    mels = np.linspace(mel(lower), mel(lower) + (mel(upper) - mel(lower)) * (bands + 1) / (bands + 2), bands + 2)
    hz = 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    edges = np.floor((n + 1) * hz / rate).astype(np.int64)
    j = np.arange(n // 2 + 1)[:, None]
    left, center, right = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where((j >= left) & (j <= center), (j - left) / (center - left), 0.0)
        down = np.where((j >= center) & (j < right), (right - j) / (right - center), 0.0)
    up = np.where((center == left) & (j == center), 1.0, np.nan_to_num(up))
    return np.maximum(up, down)


def mel_model(out_type=None):
    names = ["bands", "n", "rate", "lower", "upper"]
    infos = [helper.make_tensor_value_info(n, t, []) for n, t in zip(names, [TensorProto.INT64] * 3 + [TensorProto.FLOAT] * 2)]
    attrs = {} if out_type is None else {"output_datatype": out_type}
    node = helper.make_node("MelWeightMatrix", names, ["y"], **attrs)
    graph = helper.make_graph([node], "g", infos, [helper.make_tensor_value_info("y", out_type or TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def mel_feeds(bands, n, rate, lower, upper):
    return [("bands", i64(bands)), ("n", i64(n)), ("rate", i64(rate)),
            ("lower", np.array(lower, np.float32)), ("upper", np.array(upper, np.float32))]


@pytest.mark.parametrize("bands, n, rate, lower, upper", [
    (8, 16, 8192, 0.0, 4096.0), (40, 512, 16000, 20.0, 8000.0), (80, 400, 16000, 0.0, 8000.0),
    (13, 1024, 44100, 125.0, 7600.0), (5, 31, 8000, 300.0, 3000.0), (64, 2048, 22050, 0.0, 11025.0),
])
def test_mel_weight_matrix_matches_formula_and_onnxruntime(bands, n, rate, lower, upper):
    model = mel_model()
    feeds = mel_feeds(bands, n, rate, lower, upper)
    got = run_ref(model, feeds)
    truth = mel_truth(bands, n, rate, float(np.float32(lower)), float(np.float32(upper)))
    assert got.shape == (n // 2 + 1, bands) and got.dtype == np.float32
    np.testing.assert_allclose(got, truth, rtol=1e-7, atol=0)
    np.testing.assert_allclose(got, run_ort(model, feeds), rtol=1e-6, atol=1e-7)
    assert got.max() == 1.0


def test_mel_weight_matrix_output_types_and_errors():
    feeds = mel_feeds(10, 256, 16000, 0.0, 8000.0)
    got = run_ref(mel_model(TensorProto.DOUBLE), feeds)
    np.testing.assert_allclose(got, mel_truth(10, 256, 16000, 0.0, 8000.0), rtol=1e-15, atol=0)
    got = run_ref(mel_model(TensorProto.INT64), feeds)
    np.testing.assert_array_equal(got, np.trunc(mel_truth(10, 256, 16000, 0.0, 8000.0)).astype(np.int64))
    with pytest.raises(KernelError, match="outside"):
        run_ref(mel_model(), mel_feeds(10, 256, 16000, 0.0, 30000.0))
    with pytest.raises(KernelError, match="must be > 0"):
        run_ref(mel_model(), mel_feeds(0, 256, 16000, 0.0, 8000.0))


# ------------------------------------------------------------------------ log-mel end to end
def test_log_mel_spectrogram_graph_matches_torch():
    n_fft, step, bands, rate, length = 64, 16, 12, 8000, 1000
    rng = np.random.default_rng(21)
    signal = rng.standard_normal((2, length, 1)).astype(np.float32)
    f = TensorProto.FLOAT
    nodes = [
        helper.make_node("HannWindow", ["n_fft"], ["window"]),
        # onesided=1 is the default; spelled out because onnx 1.23's shape inference (the strict
        # check) takes a missing onesided as 0 and would infer 64 bins
        helper.make_node("STFT", ["signal", "step", "window"], ["spec"], onesided=1),
        helper.make_node("Mul", ["spec", "spec"], ["sq"]),
        helper.make_node("ReduceSum", ["sq", "last"], ["power"], keepdims=0),
        helper.make_node("Sqrt", ["power"], ["magnitude"]),
        helper.make_node("MelWeightMatrix", ["bands", "n_fft", "rate", "lower", "upper"], ["mel"]),
        helper.make_node("MatMul", ["magnitude", "mel"], ["mel_spec"]),
        helper.make_node("Add", ["mel_spec", "eps"], ["shifted"]),
        helper.make_node("Log", ["shifted"], ["y"]),
    ]
    inits = [
        onnx.numpy_helper.from_array(i64(n_fft), "n_fft"), onnx.numpy_helper.from_array(i64(step), "step"),
        onnx.numpy_helper.from_array(i64([-1]), "last"), onnx.numpy_helper.from_array(i64(bands), "bands"),
        onnx.numpy_helper.from_array(i64(rate), "rate"),
        onnx.numpy_helper.from_array(np.array(0.0, np.float32), "lower"),
        onnx.numpy_helper.from_array(np.array(rate / 2, np.float32), "upper"),
        onnx.numpy_helper.from_array(np.array(1e-3, np.float32), "eps"),
    ]
    graph = helper.make_graph(nodes, "logmel", [helper.make_tensor_value_info("signal", f, signal.shape)],
                              [helper.make_tensor_value_info("y", f, None)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    got = Session(model, allow_fallback=False).run({"signal": signal})["y"]

    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    spec = torch.stft(torch.from_numpy(signal[..., 0].astype(np.float64)), n_fft, hop_length=step,
                      win_length=n_fft, window=window, center=False, return_complex=True)
    mel = torch.from_numpy(mel_truth(bands, n_fft, rate, 0.0, rate / 2))
    want = torch.log(spec.abs().transpose(1, 2) @ mel + 1e-3).numpy()
    assert got.shape == want.shape == (2, (length - n_fft) // step + 1, bands)
    np.testing.assert_allclose(got, want, **F32)
    assert math.isfinite(float(np.abs(got).max()))
