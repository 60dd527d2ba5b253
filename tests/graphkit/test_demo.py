"""`graphkit demo` end to end, the tutorial-bug diagnosis, and the error metrics of the table."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

TENSORFLOW = importlib.util.find_spec("tensorflow") is not None  # the tf/tflite rows need it (make test installs it)
NETS, EXPORTERS, BATCHES = ("SimpleCNN", "Net"), ("torchscript", "dynamo"), (1, 64)
PAIRS = 5 if TENSORFLOW else 3  # ref/ort/torch pairs, plus ref vs tf and ref vs tflite


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
            if TENSORFLOW:
                assert (out / f"{net}.{exporter}_savedmodel" / "saved_model.pb").is_file()
                assert (out / f"{net}.{exporter}.tflite").is_file()
    if TENSORFLOW:
        assert " ref vs tflite " in proc.stdout
        assert "XNNPACK" not in proc.stderr and "oneDNN" not in proc.stderr, proc.stderr  # native logs hidden
    else:
        assert "TensorFlow is not installed" in proc.stdout
    assert "3136" in proc.stdout and "16 rows" in proc.stdout


def test_demo_without_tensorflow_says_so_in_one_line(tmp_path):
    """TensorFlow unavailable: step 4 is one line, nothing is converted, nothing fails."""
    code = ("import sys; sys.modules['tensorflow'] = None\n"
            "from graphkit.cli.cmd_demo import _convert\n"
            "lines, result = [], {'errors': []}\n"
            "converted, failed = _convert([], 'out', lines.append, result)\n"
            "assert converted == {} and not failed and result['conversions'] is None, (converted, failed, result)\n"
            "assert len(lines) == 1 and 'TensorFlow is not installed' in lines[0], lines\n")
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


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


def test_interleaved_blocks_are_sized_by_a_warm_call_not_the_first():
    """A runtime whose first call compiles (50 ms here) and whose later calls are fast gets full
    blocks: sized by its first call it got one timed call per block, each just after the switch."""
    import time

    from graphkit.demo import compare

    calls = []

    def compiling(x):
        if not calls:
            time.sleep(0.05)
        calls.append(1)
        return x

    m = compare.run_interleaved({"jit": compiling, "plain": lambda x: x}, np.zeros(1), repeats=2, block=40,
                                block_seconds=0.01)
    assert m.first_call["jit"] >= 0.05 and m.latency["jit"] < 0.01
    assert len(calls) == 2 + 2 * (1 + 40)  # two warm-up calls, then per round one untimed call and a full block


def test_wait_until_quiet_waits_for_a_busy_thread_and_no_longer():
    import threading
    import time

    from graphkit.demo import compare

    assert compare.wait_until_quiet(limit_s=1.0) < 0.2  # nothing spins: the first probe says so
    stop = time.perf_counter() + 0.3

    def spin():
        while time.perf_counter() < stop:
            sum(range(1000))

    thread = threading.Thread(target=spin)
    thread.start()
    waited = compare.wait_until_quiet(limit_s=2.0)
    thread.join()
    assert 0.2 < waited < 2.0
