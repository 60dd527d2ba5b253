"""The kernel registry's index: a later process imports only the op modules its model uses."""
from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import sys, numpy as np
from onnx import TensorProto, helper
from refruntime import Session
m = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])]),
    opset_imports=[helper.make_opsetid("", 17)])
assert Session(m).run({"x": np.array([-1, 2], np.float32)})["y"].tolist() == [0, 2]
print(sum(1 for name in sys.modules if name.startswith("refruntime.ops.op_")), "lstm" in str(sorted(sys.modules)))
"""


def _probe(cache: str) -> tuple[int, bool]:
    env = dict(os.environ, REFRUNTIME_CACHE_DIR=cache)
    done = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True, text=True, env=env)
    count, lstm = done.stdout.split()
    return int(count), lstm == "True"


def test_the_index_spares_a_later_process_the_other_op_modules(tmp_path):
    first, lstm_first = _probe(str(tmp_path))
    assert lstm_first and first > 50  # no index yet: every module imported, and the index written
    (index,) = tmp_path.iterdir()
    rows = json.loads(index.read_text())
    assert any(r[:2] == ["", "Relu"] and r[3] == "refruntime.ops.op_relu" for r in rows)
    later, lstm_later = _probe(str(tmp_path))
    assert not lstm_later and later < 10


def test_an_unwritable_cache_still_finds_every_kernel(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    count, _ = _probe(str(blocked / "cache"))
    assert count > 50
