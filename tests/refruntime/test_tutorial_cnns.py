"""The tutorial CNNs, exported by both torch exporters, run through refruntime: they must match
onnxruntime and the torch module (max abs <= 1e-5) at batch 1 and 64."""
from __future__ import annotations

import numpy as np
import pytest

from graphkit.demo import compare
from graphkit.demo.export import EXPORTERS, INPUT, export
from graphkit.demo.nets import NETS, corrected_net
from refruntime import Session

ATOL = 1e-5


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{(net, exporter): (torch module, .onnx path)}, exported once for the module."""
    out = tmp_path_factory.mktemp("tutorial_cnns")
    models = {}
    for name in NETS:
        net = corrected_net(name)
        for exporter in EXPORTERS:
            models[name, exporter] = (net, export(net, name, exporter, out))
    return models


@pytest.mark.parametrize("batch", [1, 64])
@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", list(NETS))
def test_refruntime_matches_ort_and_torch(exported, name, exporter, batch):
    net, path = exported[name, exporter]
    x = compare.make_input(batch, seed=batch)
    got = Session(path).run({INPUT: x})
    assert list(got) == ["output"]
    ref = got["output"]
    assert ref.shape == (batch, 10) and ref.dtype == np.float32
    for other, expected in (("ort", compare.ort_runner(path)(x)), ("torch", compare.torch_runner(net)(x))):
        err = float(np.abs(ref - expected).max())
        assert err <= ATOL, f"{name}.{exporter} batch {batch}: refruntime vs {other} max abs {err:.2e}"
