"""The HTML report in a real headless browser (Debian's chromium): it renders offline, draws one
graph element per node with the origin marked, has one table row per compared node, links the
reduced repro relatively, is not blank on screen, and stays small and quick on 5,000 nodes.

`make test` installs chromium with apt-get; these tests skip only where it cannot be installed.
"""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import time
import zlib
from html.parser import HTMLParser

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphkit as gk
from graphkit.verification import html as report_html
from tests.graphkit.test_verify import _perturb_conv_weight, conv_bn_relu
from tests.zoo import light_path, with_random_weights

# Measured on this kind of machine (2 cores, chromium 156): the 5,000-node page is 0.92 MB (the
# JSON data ~170 bytes a node, dagre 50 kB, script and style 35 kB) and chromium loads, lays out
# its ~160 visible nodes and dumps it in 1.7 s. The bounds leave 2x room for size (a page that
# drew every node server-side as SVG, or repeated per-node data, would pass 2 MB) and >10x for
# time on a loaded shared machine.
BIG_NODES = 5000
BIG_PAGE_BYTES = 2_000_000
BIG_RENDER_SECONDS = 25.0
SVG_NS = "http://www.w3.org/2000/svg"


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if shutil.which("apt-get") is None:
        pytest.skip("chromium is not installed and this machine has no apt-get to install it")
    if os.geteuid() != 0 and shutil.which("sudo") is None:
        pytest.skip("chromium is not installed and installing it with apt-get needs root")
    pytest.fail("chromium is not installed; `make test` installs it (apt-get install chromium)")


def _browser(page: str, tmp_path, *args: str, timeout: float = 120.0) -> tuple[str, float]:
    """Run headless chromium on file://page with `args`; (stdout, seconds)."""
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", *args, "file://" + os.path.abspath(page)]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, seconds


def _dom(page: str, tmp_path) -> tuple[str, float]:
    dom, seconds = _browser(page, tmp_path, "--dump-dom")
    assert 'data-ready="1"' in dom, "the page's script did not finish"
    return dom, seconds


class _Elements(HTMLParser):
    """Attributes of the graph's node elements, table rows and file links of a dumped DOM."""

    def __init__(self, dom: str):
        super().__init__()
        self.nodes, self.rows, self.links = [], [], []
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-node" in a:
            self.nodes.append(a)
        if tag == "tr" and "data-row" in a:
            self.rows.append(a)
        if tag == "a" and "file" in (a.get("class") or "").split():
            self.links.append(a)


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _assert_offline(text: str) -> None:
    urls = set(re.findall(r"https?://[^\s\"'<>)]*", text)) - {SVG_NS}
    assert not urls, f"the page names external URLs: {sorted(urls)[:5]}"


def _png(path) -> np.ndarray:
    """A PNG (8-bit RGB/RGBA, not interlaced: what chromium writes) as an (h, w, channels) array."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + size]
        pos += 12 + size
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    w, h, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, w * bpp + 1)
    out = np.zeros((h, w * bpp), np.uint8)
    prev = np.zeros(w * bpp, np.uint8)
    for y in range(h):
        f, line = raw[y, 0], raw[y, 1:]
        if f == 0:
            row = line.copy()
        elif f == 1:  # Sub: a running sum per channel, modulo 256
            row = np.cumsum(line.reshape(w, bpp), axis=0, dtype=np.uint8).reshape(-1)
        elif f == 2:  # Up
            row = line + prev
        else:  # Average, Paeth: byte by byte
            row = bytearray(line.tobytes())
            up = prev.tobytes()
            for i in range(len(row)):
                a = row[i - bpp] if i >= bpp else 0
                b = up[i]
                if f == 3:
                    row[i] = (row[i] + (a + b) // 2) & 255
                else:
                    c = up[i - bpp] if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            row = np.frombuffer(bytes(row), np.uint8)
        out[y] = row
        prev = row
    return out.reshape(h, w, bpp)[:, :, :3]


def _screenshot(page: str, tmp_path) -> np.ndarray:
    png = tmp_path / "shot.png"
    _browser(page, tmp_path, f"--screenshot={png}", "--window-size=1280,900")
    return _png(png)


def _pixels_of(image: np.ndarray, rgb: tuple[int, int, int]) -> int:
    return int(np.all(image == np.array(rgb, np.uint8), axis=-1).sum())


# ---------------------------------------------------------------------------------------------- tests

def test_small_model_page_in_chromium(tmp_path):
    """conv -> bn -> relu; onnx.reference's BatchNormalization-12 is wrong, so 'bn' is the origin."""
    model = conv_bn_relu(12)
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    report = gk.verify(model, runtimes=("torch", "onnx-reference"), inputs={"x": x}, per_node=True, oracle=True,
                       reduce=tmp_path / "repro")
    os.makedirs(tmp_path / "page")
    page = report_html.write(report, str(tmp_path / "page" / "report.html"))
    text = _read(page)
    _assert_offline(text)
    assert "Exact maths (float64 throughout) sides with <b>torch</b>" in text
    assert "<pre>" not in text  # the origin is a table, not a JSON dump

    dom, _ = _dom(page, tmp_path)
    found = _Elements(dom)
    names = [n["data-node"] for n in found.nodes]
    assert sorted(names) == sorted(n.name for n in model.graph.node)  # exactly one element per node
    status = {n["data-node"]: n["data-status"] for n in found.nodes}
    assert status == {"conv": "ok", "bn": "origin", "relu": "amplifier"}
    compared = sum(1 for nc in report.per_node if nc.stats)
    assert len(found.rows) == compared == 3
    links = {os.path.basename(a["href"]): a["href"] for a in found.links}
    for name in ("reduced.onnx", "reduced_inputs.npz"):
        href = links[name]
        assert not href.startswith(("/", "file:")), href  # relative to the page's folder
        assert os.path.isfile(os.path.join(tmp_path / "page", href))

    image = _screenshot(page, tmp_path)
    colours = np.unique(image.reshape(-1, 3), axis=0)
    non_white = int(np.any(image < 245, axis=-1).sum())
    assert len(colours) > 50 and non_white > 0.03 * image.shape[0] * image.shape[1], (len(colours), non_white)
    assert _pixels_of(image, (0xd3, 0x2f, 0x2f)) > 1000  # the origin's red header, not just the legend's swatch
    assert _pixels_of(image, (0x38, 0x8e, 0x3c)) > 500   # a green (within tolerance) node


def test_against_model_page_through_the_cli(tmp_path):
    """A perturbed light SqueezeNet against the original on ORT, written by `graphkit verify --html`."""
    original = with_random_weights(onnx.load(light_path("light_squeezenet")))
    perturbed, conv = _perturb_conv_weight(original, 10)
    onnx.save(original, tmp_path / "original.onnx")
    onnx.save(perturbed, tmp_path / "perturbed.onnx")
    os.makedirs(tmp_path / "out")
    done = subprocess.run(
        [sys.executable, "-m", "graphkit.cli.main", "verify", "perturbed.onnx", "--against-model", "original.onnx",
         "--runtimes", "ort", "--per-node", "--shape", "data_0=1,3,64,64", "--html", "out/report.html",
         "--reduce", "repro"], cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 1, done.stderr  # a mismatch
    page = str(tmp_path / "out" / "report.html")
    _assert_offline(_read(page))

    dom, _ = _dom(page, tmp_path)
    found = _Elements(dom)
    assert len(found.nodes) == len(perturbed.graph.node)  # 66: all shown (under the 400-node threshold)
    labels = [n["data-node"] for n in found.nodes]
    assert len(set(labels)) == len(labels)
    assert [n["data-node"] for n in found.nodes if n["data-status"] == "origin"] == [conv]
    assert any(n["data-status"] == "amplifier" for n in found.nodes)
    compared = sum(1 for n in found.nodes if n["data-status"] != "none")
    assert len(found.rows) == min(compared, 50) and f"rows 1\u201350 of {compared} " in dom  # paginated
    assert "float32[1,256,7,7]" in dom  # tensors as edges, labelled with dtype and shape (from the model file)
    for a in found.links:  # the page fixed its links from where it was opened
        assert os.path.isfile(os.path.normpath(os.path.join(tmp_path / "out", a["href"]))), a["href"]


def _chain_model(n_nodes: int, bn_at: int) -> onnx.ModelProto:
    """Residual blocks of Mul/Add/Tanh/Relu on a small tensor, n_nodes in all, with a
    BatchNormalization-12 side branch (wrong in onnx.reference) at bn_at feeding a second output."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(np.full((1, 4, 1, 1), 0.5, np.float32), "half"),
             numpy_helper.from_array(rng.uniform(0.5, 1.5, 4).astype(np.float32), "scale"),
             numpy_helper.from_array(rng.normal(0, 0.1, 4).astype(np.float32), "bias"),
             numpy_helper.from_array(rng.normal(0, 0.5, 4).astype(np.float32), "mean"),
             numpy_helper.from_array(rng.uniform(0.5, 2.0, 4).astype(np.float32), "var")]
    nodes, prev, skip = [], "x", "x"
    while len(nodes) < n_nodes - 1:
        k = len(nodes)
        if len(nodes) == bn_at:
            nodes.append(helper.make_node("BatchNormalization", [prev, "scale", "bias", "mean", "var"], ["bn_out"],
                                          name="bn"))
            nodes.append(helper.make_node("Relu", ["bn_out"], ["side"], name="side_relu"))
            continue
        op, ins = [("Mul", [prev, "half"]), ("Add", [prev, skip]), ("Tanh", [prev]), ("Relu", [prev])][k % 4]
        nodes.append(helper.make_node(op, ins, [f"v{k}"], name=f"{op.lower()}{k}"))
        prev = f"v{k}"
        if op == "Add":
            skip = prev
    nodes.append(helper.make_node("Identity", [prev], ["y"], name="out"))
    info = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4, 2, 2]) for n in ("x", "y", "side")]
    graph = helper.make_graph(nodes, "chain", info[:1], info[1:], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)], ir_version=7)


@pytest.mark.slow
def test_5000_node_page_stays_small_and_quick(tmp_path):
    model = _chain_model(BIG_NODES, BIG_NODES // 2)
    assert len(model.graph.node) == BIG_NODES
    report = gk.verify(model, runtimes=("ref", "onnx-reference"), per_node=True)
    assert report.first_divergence["node"] == "bn"
    page = report_html.write(report, str(tmp_path / "big.html"))
    size = os.path.getsize(page)
    assert size < BIG_PAGE_BYTES, f"{size} bytes for {BIG_NODES} nodes"
    _assert_offline(_read(page))

    dom, seconds = _dom(page, tmp_path)
    assert seconds < BIG_RENDER_SECONDS, f"chromium took {seconds:.1f} s"
    found = _Elements(dom)
    shown = {n["data-node"]: n["data-status"] for n in found.nodes}
    assert 150 <= len(shown) <= 400  # the first nodes and the origin's neighbourhood, not all 5,000
    assert shown["bn"] == "origin" and "mul0" in shown
    assert len(found.rows) == 50  # the table's first page
    assert f"of {BIG_NODES} nodes" in dom
    image = _screenshot(page, tmp_path)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50
