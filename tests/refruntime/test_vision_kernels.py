"""Vision and detection kernels (NonMaxSuppression, RoiAlign, MaxRoiPool, DepthToSpace,
SpaceToDepth, GridSample, Col2Im) against independent truths.

- torch.nn.functional: grid_sample (every mode, padding and align_corners, 2-D and 3-D),
  pixel_shuffle / pixel_unshuffle (the CRD modes), fold (Col2Im in 2-D).
- onnxruntime as a peer for NonMaxSuppression, RoiAlign and MaxRoiPool on random inputs.
- formulas written here: IoU of hand-placed boxes, the spec's DCR reshape, an N-D Col2Im loop in
  float64.
Each case is a one-node model run with fallback disabled, so the native kernel is what runs.
float32 comparisons use rtol 1e-5 with a small atol, never exact equality of float sums.
"""
from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper

from refruntime import KernelError, ModelError, Session

torch.set_num_threads(1)


def make_model(op_type, inputs, attrs=None, opset=22, n_outputs=1, declare_shapes=True,
               out_type=TensorProto.UNDEFINED):
    names = [f"x{i}" if a is not None else "" for i, a in enumerate(inputs)]
    outs = [f"y{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, names, outs, name="node", **(attrs or {}))
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype),
                                       a.shape if declare_shapes else None)
         for n, a in zip(names, inputs) if a is not None],
        [helper.make_tensor_value_info(o, out_type, None) for o in outs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    feeds = {n: a for n, a in zip(names, inputs) if a is not None}
    return model, feeds, outs


def run_ref(op_type, inputs, attrs=None, opset=22, declare_shapes=True):
    model, feeds, outs = make_model(op_type, inputs, attrs, opset, declare_shapes=declare_shapes)
    return Session(model, allow_fallback=False).run(feeds)[outs[0]]


def run_ort(op_type, inputs, attrs=None, opset=22):
    out_type = TensorProto.INT64 if op_type == "NonMaxSuppression" else \
        helper.np_dtype_to_tensor_dtype(inputs[0].dtype)
    model, feeds, outs = make_model(op_type, inputs, attrs, opset, out_type=out_type)
    model.ir_version = 8
    sess = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(outs, feeds)[0]


def close(got, expected, rtol=1e-5, atol=1e-6):
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert got.shape == expected.shape, f"shape {got.shape} != {expected.shape}"
    assert got.dtype == expected.dtype, f"dtype {got.dtype} != {expected.dtype}"
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


# --- GridSample vs torch ----------------------------------------------------------------------

MODES_16 = {"bilinear": "bilinear", "nearest": "nearest", "bicubic": "bicubic"}
MODES_20 = {"linear": "bilinear", "nearest": "nearest", "cubic": "bicubic"}


@pytest.mark.parametrize("opset", [16, 20, 22])
@pytest.mark.parametrize("mode_index", [0, 1, 2])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [0, 1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grid_sample_2d_vs_torch(opset, mode_index, padding, align, dtype):
    rng = np.random.default_rng(hash((opset, mode_index, padding, align)) % 2**32)
    modes = MODES_16 if opset == 16 else MODES_20
    mode, torch_mode = list(modes.items())[mode_index]
    x = rng.standard_normal((2, 3, 5, 7)).astype(dtype)
    # well outside [-1, 1] too, so reflection folds several times
    grid = rng.uniform(-2.6, 2.6, size=(2, 4, 6, 2)).astype(dtype)
    got = run_ref("GridSample", [x, grid], {"mode": mode, "padding_mode": padding, "align_corners": align},
                  opset=opset)
    want = F.grid_sample(torch.from_numpy(x), torch.from_numpy(grid), mode=torch_mode,
                         padding_mode=padding, align_corners=bool(align))
    close(got, want, rtol=1e-5, atol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("mode", ["linear", "nearest"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [0, 1])
def test_grid_sample_3d_vs_torch(mode, padding, align):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 2, 3, 4, 5)).astype(np.float32)
    grid = rng.uniform(-1.8, 1.8, size=(2, 3, 2, 4, 3)).astype(np.float32)
    got = run_ref("GridSample", [x, grid], {"mode": mode, "padding_mode": padding, "align_corners": align},
                  opset=20)
    want = F.grid_sample(torch.from_numpy(x), torch.from_numpy(grid),
                         mode="bilinear" if mode == "linear" else "nearest",
                         padding_mode=padding, align_corners=bool(align))
    close(got, want, atol=1e-5)


def _cubic_1d(x, coords, padding, align):
    """1-D cubic GridSample in float64, written from the definition (a = -0.75 Keys kernel,
    padding on each tap index), to check the N-D code path at r = 1 and r = 3."""
    size = x.shape[-1]

    def keys(d):
        d = abs(d)
        a = -0.75
        if d <= 1:
            return (a + 2) * d**3 - (a + 3) * d**2 + 1
        if d < 2:
            return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a
        return 0.0

    def index(i):
        if padding == "border":
            return min(max(i, 0), size - 1)
        if padding == "reflection":
            low, high = (0.0, size - 1.0) if align else (-0.5, size - 0.5)
            v = float(i)
            while v < low or v > high:
                v = 2 * low - v if v < low else 2 * high - v
            return int(min(max(v, 0), size - 1))
        return i

    out = np.zeros(x.shape[:-1] + (len(coords),))
    for k, g in enumerate(coords):
        p = (g + 1) / 2 * (size - 1) if align else ((g + 1) * size - 1) / 2
        base = int(np.floor(p))
        for tap in range(base - 1, base + 3):
            i = index(tap)
            if 0 <= i < size:
                out[..., k] += keys(p - tap) * x[..., i]
    return out


@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [0, 1])
def test_grid_sample_cubic_1d_formula(padding, align):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 6))
    coords = rng.uniform(-2.2, 2.2, size=9)
    got = run_ref("GridSample", [x, coords.reshape(1, 9, 1)],
                  {"mode": "cubic", "padding_mode": padding, "align_corners": align}, opset=20)
    close(got, _cubic_1d(x, coords, padding, align), rtol=1e-12, atol=1e-12)


def test_grid_sample_cubic_3d_is_separable():
    """3-D cubic on a grid varying along one axis only at a time equals 1-D cubic along it."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 1, 4, 5, 6))
    coords = rng.uniform(-1.2, 1.2, size=7)
    grid = np.zeros((1, 1, 1, 7, 3))
    grid[..., 0] = coords  # along the last axis (size 6); the others sit on a pixel center
    grid[..., 1] = 2 * 2 / 5 - 1 + 1 / 5   # pixel 2 of 5 with align_corners=0
    grid[..., 2] = 2 * 1 / 4 - 1 + 1 / 4   # pixel 1 of 4
    got = run_ref("GridSample", [x, grid], {"mode": "cubic", "padding_mode": "border"}, opset=22)
    want = _cubic_1d(x[0, 0, 1, 2], coords, "border", 0).reshape(1, 1, 1, 1, 7)
    close(got, want, rtol=1e-12, atol=1e-12)


def test_grid_sample_float16_rounds_once():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float16)
    grid = rng.uniform(-1, 1, size=(1, 3, 3, 2)).astype(np.float16)
    got = run_ref("GridSample", [x, grid], {"mode": "linear"}, opset=20)
    want = F.grid_sample(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(grid.astype(np.float32)),
                         mode="bilinear", align_corners=False).numpy().astype(np.float16)
    assert got.dtype == np.float16
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), rtol=1e-3, atol=1e-3)


def test_grid_sample_nearest_ties_round_to_even():
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 1, 4)
    # align_corners=1: g -> (g + 1) * 1.5; pixel positions 0.5, 1.5, 2.5
    grid = np.array([[[[-1 + 0.5 / 1.5, 0], [-1 + 1.5 / 1.5, 0], [-1 + 2.5 / 1.5, 0]]]], dtype=np.float64)
    got = run_ref("GridSample", [x.astype(np.float64), grid], {"mode": "nearest", "align_corners": 1}, opset=20)
    np.testing.assert_array_equal(got.reshape(-1), [0, 2, 2])


def test_grid_sample_rejects_bad_shapes():
    x = np.zeros((1, 1, 3, 3), np.float32)
    with pytest.raises(KernelError, match="grid must have shape"):
        run_ref("GridSample", [x, np.zeros((1, 2, 2, 3), np.float32)], opset=20, declare_shapes=False)
    with pytest.raises(KernelError, match="4-D"):
        run_ref("GridSample", [np.zeros((1, 1, 3), np.float32), np.zeros((1, 2, 1), np.float32)],
                opset=16, declare_shapes=False)
    with pytest.raises(ModelError, match="mode"):
        run_ref("GridSample", [x, np.zeros((1, 2, 2, 2), np.float32)], {"mode": "bilinear"}, opset=20)


# --- DepthToSpace / SpaceToDepth ---------------------------------------------------------------

@pytest.mark.parametrize("bs", [1, 2, 3])
def test_depth_to_space_crd_vs_pixel_shuffle(bs):
    x = np.random.default_rng(bs).standard_normal((2, 2 * bs * bs, 3, 4)).astype(np.float32)
    got = run_ref("DepthToSpace", [x], {"blocksize": bs, "mode": "CRD"}, opset=13)
    np.testing.assert_array_equal(got, F.pixel_shuffle(torch.from_numpy(x), bs).numpy())


@pytest.mark.parametrize("opset", [1, 11, 13])
def test_depth_to_space_dcr_formula(opset):
    x = np.arange(2 * 8 * 2 * 3, dtype=np.int64).reshape(2, 8, 2, 3)
    got = run_ref("DepthToSpace", [x], {"blocksize": 2}, opset=opset)
    for n, c, h, w in np.ndindex(*got.shape):
        bh, bw = h % 2, w % 2
        assert got[n, c, h, w] == x[n, (bh * 2 + bw) * 2 + c, h // 2, w // 2]


@pytest.mark.parametrize("bs", [1, 2, 3])
def test_space_to_depth_crd_vs_pixel_unshuffle(bs):
    x = np.random.default_rng(bs).standard_normal((2, 3, 2 * bs, 3 * bs)).astype(np.float32)
    got = run_ref("SpaceToDepth", [x], {"blocksize": bs, "mode": "CRD"}, opset=28)
    np.testing.assert_array_equal(got, F.pixel_unshuffle(torch.from_numpy(x), bs).numpy())


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_space_to_depth_inverts_depth_to_space(mode):
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 4)).astype(np.float32)
    s2d = run_ref("SpaceToDepth", [x], {"blocksize": 2, "mode": mode}, opset=28)
    back = run_ref("DepthToSpace", [s2d], {"blocksize": 2, "mode": mode}, opset=28)
    np.testing.assert_array_equal(back, x)
    if mode == "DCR":  # opset 13 (no mode attribute) is DCR
        np.testing.assert_array_equal(run_ref("SpaceToDepth", [x], {"blocksize": 2}, opset=13), s2d)


def test_depth_space_errors():
    with pytest.raises(KernelError, match="divisible"):
        run_ref("DepthToSpace", [np.zeros((1, 6, 2, 2), np.float32)], {"blocksize": 2}, opset=13,
                declare_shapes=False)
    with pytest.raises(KernelError, match="divisible"):
        run_ref("SpaceToDepth", [np.zeros((1, 1, 3, 2), np.float32)], {"blocksize": 2}, opset=13,
                declare_shapes=False)
    with pytest.raises(ModelError, match="mode"):
        run_ref("DepthToSpace", [np.zeros((1, 4, 2, 2), np.float32)], {"blocksize": 2, "mode": "XYZ"},
                opset=13)


# --- Col2Im ------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_col2im_2d_vs_fold(seed):
    rng = np.random.default_rng(seed)
    block = [int(v) for v in rng.integers(1, 4, size=2)]
    dil = [int(v) for v in rng.integers(1, 3, size=2)]
    stride = [int(v) for v in rng.integers(1, 3, size=2)]
    pad = [int(v) for v in rng.integers(0, 2, size=2)]
    image = [int(v) for v in rng.integers(5, 9, size=2)]
    counts = [(image[i] + 2 * pad[i] - dil[i] * (block[i] - 1) - 1) // stride[i] + 1 for i in range(2)]
    x = rng.standard_normal((2, 3 * block[0] * block[1], counts[0] * counts[1])).astype(np.float32)
    got = run_ref("Col2Im", [x, np.array(image, np.int64), np.array(block, np.int64)],
                  {"dilations": dil, "strides": stride, "pads": pad + pad}, opset=18)
    want = F.fold(torch.from_numpy(x), image, block, dilation=dil, padding=pad, stride=stride)
    close(got, want, atol=1e-5)


def test_col2im_3d_asymmetric_pads_formula():
    rng = np.random.default_rng(1)
    image, block, dil, stride = [4, 5, 3], [2, 2, 1], [1, 2, 1], [2, 1, 1]
    pads = [1, 0, 0, 0, 1, 1]
    padded = [image[i] + pads[i] + pads[3 + i] for i in range(3)]
    counts = [(padded[i] - dil[i] * (block[i] - 1) - 1) // stride[i] + 1 for i in range(3)]
    c = 2
    x = rng.standard_normal((1, c * int(np.prod(block)), int(np.prod(counts))))
    got = run_ref("Col2Im", [x, np.array(image, np.int64), np.array(block, np.int64)],
                  {"dilations": dil, "strides": stride, "pads": pads}, opset=18)
    want = np.zeros((1, c, *image))
    cols = x.reshape(1, c, *block, *counts)
    for ch in range(c):
        for k in np.ndindex(*block):
            for blk in np.ndindex(*counts):
                pos = [blk[i] * stride[i] + k[i] * dil[i] - pads[i] for i in range(3)]
                if all(0 <= pos[i] < image[i] for i in range(3)):
                    want[(0, ch, *pos)] += cols[(0, ch, *k, *blk)]
    close(got, want, rtol=1e-12, atol=1e-12)


def test_col2im_integers_exact_and_bad_block_count():
    x = np.ones((1, 4, 9), np.int32)
    got = run_ref("Col2Im", [x, np.array([4, 4], np.int64), np.array([2, 2], np.int64)], opset=18)
    want = F.fold(torch.ones((1, 4, 9)), (4, 4), (2, 2)).numpy().astype(np.int32)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.int32
    with pytest.raises(KernelError, match="L=8 blocks, expected 9"):
        run_ref("Col2Im", [np.ones((1, 4, 8), np.float32), np.array([4, 4], np.int64),
                           np.array([2, 2], np.int64)], opset=18, declare_shapes=False)


# --- NonMaxSuppression ------------------------------------------------------------------------

def nms_inputs(boxes, scores, max_out=None, iou=None, score=None):
    return [np.asarray(boxes, np.float32), np.asarray(scores, np.float32),
            None if max_out is None else np.array([max_out], np.int64),
            None if iou is None else np.array([iou], np.float32),
            None if score is None else np.array([score], np.float32)]


def iou_yxyx(a, b):
    iy = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ix = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iy * ix
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_nms_hand_computed():
    boxes = [[0, 0, 10, 10],    # 0
             [0, 1, 10, 11],    # 1: IoU with 0 = 90 / 110 = 0.818
             [0, 5, 10, 15],    # 2: IoU with 0 = 50 / 150 = 1/3, with 1 = 60 / 140 = 0.4286
             [20, 20, 30, 30]]  # 3: disjoint
    assert iou_yxyx(boxes[0], boxes[1]) == pytest.approx(90 / 110)
    assert iou_yxyx(boxes[0], boxes[2]) == pytest.approx(1 / 3)
    assert iou_yxyx(boxes[1], boxes[2]) == pytest.approx(60 / 140)
    scores = [[[0.9, 0.8, 0.7, 0.6]]]

    def select(iou, score=None, max_out=10):
        got = run_ref("NonMaxSuppression", nms_inputs([boxes], scores, max_out, iou, score), opset=11)
        assert got.dtype == np.int64 and got.shape[1] == 3
        return got[:, 2].tolist()

    assert select(0.5) == [0, 2, 3]          # 1 suppressed by 0 (0.818 > 0.5); 2 kept (1/3)
    assert select(0.3) == [0, 3]             # 2 suppressed by 0 (1/3 > 0.3)
    assert select(0.85) == [0, 1, 2, 3]      # 0.818 and 0.43 are below the threshold
    assert select(0.4) == [0, 2, 3]          # 2 compared with kept box 0 only (1 was suppressed)
    assert select(0.85, max_out=2) == [0, 1]
    assert select(0.5, score=0.7) == [0]     # score 0.7 is not above the threshold
    assert select(1.0) == [0, 1, 2, 3]
    assert select(0.0) == [0, 3]             # any overlap suppresses; disjoint boxes stay
    # IoU exactly at the threshold is kept (strictly greater suppresses)
    half = [[0, 0, 10, 10], [0, 0, 10, 5]]   # IoU exactly 0.5
    got = run_ref("NonMaxSuppression", nms_inputs([half], [[[0.9, 0.8]]], 5, 0.5), opset=11)
    assert got[:, 2].tolist() == [0, 1]


def test_nms_ties_flipped_corners_and_center_format():
    # equal scores: the lower index is visited first and suppresses the other
    boxes = [[0, 0, 10, 10], [0, 0, 10, 10]]
    got = run_ref("NonMaxSuppression", nms_inputs([boxes], [[[0.5, 0.5]]], 5, 0.5), opset=10)
    np.testing.assert_array_equal(got, [[0, 0, 0]])
    # corners given in any diagonal order
    flipped = [[10, 10, 0, 0], [0, 11, 10, 1], [20, 20, 30, 30]]
    got = run_ref("NonMaxSuppression", nms_inputs([flipped], [[[0.6, 0.9, 0.5]]], 5, 0.5), opset=11)
    assert got[:, 2].tolist() == [1, 2]
    # center format: [xc, yc, w, h] of the same boxes as the hand case
    centers = [[5, 5, 10, 10], [6, 5, 10, 10], [10, 5, 10, 10], [25, 25, 10, 10]]
    got = run_ref("NonMaxSuppression", nms_inputs([centers], [[[0.9, 0.8, 0.7, 0.6]]], 10, 0.5),
                  {"center_point_box": 1}, opset=11)
    assert got[:, 2].tolist() == [0, 2, 3]


def test_nms_defaults_select_nothing():
    got = run_ref("NonMaxSuppression", nms_inputs([[[0, 0, 1, 1]]], [[[0.5]]]), opset=11)
    assert got.shape == (0, 3) and got.dtype == np.int64


@pytest.mark.parametrize("seed", range(6))
def test_nms_vs_onnxruntime(seed):
    rng = np.random.default_rng(seed)
    b, c, n = 2, 3, int(rng.integers(50, 400))
    center = seed % 2
    if center:
        xy = rng.uniform(0, 100, size=(b, n, 2))
        wh = rng.uniform(1, 30, size=(b, n, 2))
        boxes = np.concatenate([xy, wh], axis=-1).astype(np.float32)
    else:
        boxes = rng.uniform(0, 100, size=(b, n, 4)).astype(np.float32)  # corners in any order
    scores = rng.uniform(0, 1, size=(b, c, n)).astype(np.float32)
    scores[:, :, ::7] = 0.5  # many ties
    inputs = nms_inputs(boxes, scores, int(rng.integers(5, 60)), float(rng.uniform(0.2, 0.7)),
                        float(rng.uniform(0, 0.4)) if seed % 3 else None)
    attrs = {"center_point_box": center}
    got = run_ref("NonMaxSuppression", inputs, attrs, opset=11)
    want = run_ort("NonMaxSuppression", inputs, attrs, opset=11)
    np.testing.assert_array_equal(got, want)


def test_nms_bad_iou_threshold():
    with pytest.raises(KernelError, match="iou_threshold"):
        run_ref("NonMaxSuppression", nms_inputs([[[0, 0, 1, 1]]], [[[0.5]]], 1, 1.5), opset=11)


# --- RoiAlign ----------------------------------------------------------------------------------

def random_rois(rng, num, height, width, batch):
    x1 = rng.uniform(-2, width, size=num)
    y1 = rng.uniform(-2, height, size=num)
    x2 = x1 + rng.uniform(0, width / 1.5, size=num)
    y2 = y1 + rng.uniform(0, height / 1.5, size=num)
    rois = np.stack([x1, y1, x2, y2], axis=1)
    return rois, rng.integers(0, batch, size=num).astype(np.int64)


@pytest.mark.parametrize(("opset", "ctm"), [(10, None), (16, "half_pixel"), (16, "output_half_pixel"),
                                            (22, "half_pixel"), (22, "output_half_pixel")])
@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("sampling_ratio", [0, 1, 2])
def test_roi_align_vs_onnxruntime(opset, mode, ctm, sampling_ratio):
    """Opset 10 (no coordinate_transformation_mode) behaves as output_half_pixel in both."""
    rng = np.random.default_rng(hash((opset, mode, ctm, sampling_ratio)) % 2**32)
    x = rng.standard_normal((2, 3, 10, 12)).astype(np.float32)
    rois, bi = random_rois(rng, 12, 20, 24, 2)
    attrs = {"mode": mode, "output_height": 3, "output_width": 4, "sampling_ratio": sampling_ratio,
             "spatial_scale": 0.5}
    if opset >= 16:
        attrs["coordinate_transformation_mode"] = ctm
    inputs = [x, rois.astype(np.float32), bi]
    got = run_ref("RoiAlign", inputs, attrs, opset=opset)
    want = run_ort("RoiAlign", inputs, attrs, opset=min(opset, 16))
    close(got, want, rtol=1e-5, atol=1e-5)


def test_roi_align_float64_and_float16():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 2, 6, 6))
    rois, bi = random_rois(rng, 5, 6, 6, 1)
    attrs = {"output_height": 2, "output_width": 2, "sampling_ratio": 2}
    y64 = run_ref("RoiAlign", [x, rois, bi], attrs, opset=16)
    assert y64.dtype == np.float64
    y32 = run_ref("RoiAlign", [x.astype(np.float32), rois.astype(np.float32), bi], attrs, opset=16)
    close(y32, y64.astype(np.float32), rtol=1e-5, atol=1e-5)
    y16 = run_ref("RoiAlign", [x.astype(np.float16), rois.astype(np.float16), bi], attrs, opset=16)
    assert y16.dtype == np.float16
    want16 = run_ref("RoiAlign", [x.astype(np.float16).astype(np.float32),
                                  rois.astype(np.float16).astype(np.float32), bi], attrs, opset=16)
    np.testing.assert_array_equal(y16, want16.astype(np.float16))


def test_roi_align_whole_image_average():
    """One bin covering the whole image with 2x2 samples at pixel centers averages them."""
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    rois = np.array([[0, 0, 4, 4]], np.float64)  # half_pixel: [-0.5, 3.5]; samples at 0.5, 2.5
    got = run_ref("RoiAlign", [x, rois, np.zeros(1, np.int64)],
                  {"output_height": 1, "output_width": 1, "sampling_ratio": 2}, opset=16)
    # bilinear values at (0.5, 0.5), (0.5, 2.5), (2.5, 0.5), (2.5, 2.5) of x = 4 * row + col
    want = np.mean([4 * r + c for r in (0.5, 2.5) for c in (0.5, 2.5)])
    close(got, np.full((1, 1, 1, 1), want), rtol=1e-12)


def test_roi_align_bad_batch_index():
    x = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(KernelError, match="batch_indices"):
        run_ref("RoiAlign", [x, np.zeros((1, 4), np.float32), np.array([1], np.int64)], opset=16)


# --- MaxRoiPool --------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_max_roi_pool_vs_onnxruntime(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 9, 11)).astype(np.float32)
    rois, bi = random_rois(rng, 10, 18, 22, 2)
    rois = np.concatenate([bi[:, None].astype(np.float64), rois], axis=1).astype(np.float32)
    attrs = {"pooled_shape": [3, 2], "spatial_scale": 0.5}
    got = run_ref("MaxRoiPool", [x, rois], attrs, opset=1)
    want = run_ort("MaxRoiPool", [x, rois], attrs, opset=1)
    np.testing.assert_array_equal(got, want)


def test_max_roi_pool_formula():
    x = np.arange(2 * 1 * 6 * 6, dtype=np.float64).reshape(2, 1, 6, 6)
    rois = np.array([[1, 0, 0, 5, 5], [0, 1, 2, 3, 3]], np.float64)
    got = run_ref("MaxRoiPool", [x, rois], {"pooled_shape": [2, 2]}, opset=22)
    # roi 0: whole image of batch 1, bins of 3x3 pixels; roi 1: rows 2..3, cols 1..3 of batch 0
    # (height 2 -> bins of 1 row; width 3 -> bins cols [1, 3) and [2, 4))
    want = np.array([[[[36 + 14, 36 + 17], [36 + 32, 36 + 35]]],
                     [[[14, 15], [20, 21]]]], np.float64)
    np.testing.assert_array_equal(got, want)


def test_roi_align_refuses_non_finite_and_runaway_rois_naming_the_node():
    """A corrupted roi must not keep the compiled sampling loop busy for ever."""
    from onnx import TensorProto, helper

    from refruntime import Session
    from refruntime.errors import KernelError, LimitError

    node = helper.make_node("RoiAlign", ["x", "rois", "bi"], ["y"], name="align", output_height=2, output_width=2)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4]),
                                            helper.make_tensor_value_info("rois", TensorProto.FLOAT, [1, 4]),
                                            helper.make_tensor_value_info("bi", TensorProto.INT64, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    session = Session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)]))
    x = np.ones((1, 2, 4, 4), np.float32)
    bi = np.zeros(1, np.int64)
    assert session.run({"x": x, "rois": np.float32([[0, 0, 3, 3]]), "bi": bi})["y"].shape == (1, 2, 2, 2)
    with pytest.raises(KernelError, match="'align'.*rois must be finite"):
        session.run({"x": x, "rois": np.float32([[0, 0, np.nan, 3]]), "bi": bi})
    with pytest.raises(LimitError, match="'align' \\(RoiAlign\\).*bilinear samples"):
        session.run({"x": x, "rois": np.float32([[0, 0, 1e30, 1e30]]), "bi": bi})
