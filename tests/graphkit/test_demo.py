"""`graphkit demo` end to end, the tutorial-bug diagnosis, and the error metrics of the table."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

NETS, EXPORTERS, BATCHES, PAIRS = ("SimpleCNN", "Net"), ("torchscript", "dynamo"), (1, 64), 3


def _table_rows(stdout: str) -> list[str]:
    """The data lines of the demo's table: those starting with a model name."""
    return [line for line in stdout.splitlines() if line.split(" ", 1)[0] in NETS]


@pytest.mark.slow
def test_demo_passes_and_writes_every_model(tmp_path):
    out = tmp_path / "demo-out"
    proc = subprocess.run([sys.executable, "-m", "graphkit.cli.main", "demo", "--out", str(out),
                           "--repeats", "1"], check=False, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = _table_rows(proc.stdout)
    assert len(rows) == len(NETS) * len(EXPORTERS) * len(BATCHES) * PAIRS, proc.stdout
    assert all(" PASS " in row + " " for row in rows), proc.stdout
    for net in NETS:
        for exporter in EXPORTERS:
            assert (out / f"{net}.{exporter}.onnx").is_file()
    assert "3136" in proc.stdout and "16 rows" in proc.stdout


def test_cli_does_not_import_torch():
    code = ("import sys, graphkit, graphkit.cli.main as m; m.build_parser(); "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_simplecnn_diagnosis_finds_3136_features_for_2304():
    from graphkit.demo.nets import diagnose

    d = diagnose("SimpleCNN")
    assert (d.layer, d.expected, d.actual, d.output_shape) == ("fc", 2304, 3136, None)
    assert "invalid for input of size 3136" in d.error
    assert "3136" in d.sentence() and "2304" in d.sentence()


def test_net_diagnosis_finds_16_rows_from_one_image():
    from graphkit.demo.nets import diagnose

    d = diagnose("Net", batch=1)
    assert d.silent and (d.layer, d.expected, d.actual) == ("fc1", 2304, 64 * 24 * 24)
    assert d.output_shape == (16, 10)
    assert "16 rows" in d.sentence()


@pytest.mark.parametrize("name", NETS)
def test_corrected_nets_keep_the_batch(name):
    import torch

    from graphkit.demo.nets import corrected_net

    assert corrected_net(name)(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_compare_metrics():
    from graphkit.demo.compare import compare

    b = np.array([0.0, 1.0, -2.0], np.float32)
    same = compare(b, b)
    assert same.ok and same.max_abs == 0 and same.max_rel == 0
    near = compare(b + np.float32(5e-6), b)  # zero judged by atol alone; max_rel ignores it
    assert near.ok and near.max_rel == pytest.approx(5e-6, rel=1e-2)
    assert not compare(b + np.float32(1e-3), b).ok
    assert not compare(b[:2], b).ok
    assert not compare(np.array([np.nan, 1, -2], np.float32), b).ok
