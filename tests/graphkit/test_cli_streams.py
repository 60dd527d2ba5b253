"""The `graphkit` command's streams and start-up: a closed pipe ends quietly, errors are one line on
stderr before any work, progress only where someone watches, onnxruntime's own log off unless
--verbose, one shape notation, the same words for a folder everywhere, and `--help` without numpy,
onnx or refruntime. (Start-up *times* are measured by tools/bench_startup.py, not here.)"""
from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import onnx.backend.test
import pytest
from onnx import TensorProto, helper, numpy_helper

from graphkit.verification.per_node import Progress

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIGHT = os.path.join(os.path.dirname(onnx.backend.test.__file__), "data", "light", "light_squeezenet.onnx")
GRAPHKIT = [sys.executable, "-m", "graphkit.cli.main"]


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*GRAPHKIT, *map(str, args)], capture_output=True, text=True, check=False, cwd=REPO,
                          env={**os.environ, **(env or {})})


def one_line(out: subprocess.CompletedProcess) -> str:
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and "Traceback" not in out.stderr, (out.returncode, out.stderr)
    return lines[0]


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> str:
    """x[batch, 2] @ w -> Relu -> y, with an initializer nothing reads (onnxruntime warns about it)."""
    path = tmp_path_factory.mktemp("streams") / "small.onnx"
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["m"], name="mm"), helper.make_node("Relu", ["m"], ["y"], name="relu")],
        "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(np.full((2, 3), 0.5, np.float32), "w"),
         numpy_helper.from_array(np.zeros(4, np.float32), "unused")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.save(model, path)
    return str(path)


def _pipe(command: str, tmp_path) -> tuple[int, str]:
    """`command | head -1` in bash with pipefail: (graphkit's exit code, its stderr)."""
    err = tmp_path / "stderr.txt"
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {command} 2>{err} | head -1 >/dev/null"], cwd=REPO,
                          check=False)
    return done.returncode, err.read_text()


def test_a_closed_pipe_ends_quietly(small, tmp_path):
    gk = " ".join(GRAPHKIT)
    code, err = _pipe(f"{gk} simplify {small} -o {tmp_path / 's.onnx'}", tmp_path)
    assert code in (0, 141) and err == ""
    code, err = _pipe(f"{gk} run {small}", tmp_path)
    assert code in (0, 141) and err == ""
    # far more than a pipe holds (>64 kB): the write itself fails, not only the final flush
    code, err = _pipe(f"{gk} inspect {LIGHT} --show nodes,tensors --json", tmp_path)
    assert code in (0, 141) and err == "", err


def test_up_front_refusals_come_before_any_work(small, tmp_path):
    (tmp_path / "taken").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "a.txt").write_text("x")
    assert "is a file" in one_line(cli("verify", small, "--reduce", tmp_path / "taken"))
    assert "is not empty" in one_line(cli("verify", small, "--reduce", tmp_path / "full"))
    # a model that would fail when it runs: the argument error wins, so nothing ran
    unknown = tmp_path / "unknown.onnx"
    model = helper.make_model(helper.make_graph(
        [helper.make_node("Frobnicate", ["x"], ["y"], domain="example.com")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])]),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("example.com", 1)])
    onnx.save(model, unknown)
    assert "--save-outputs" in one_line(cli("run", unknown, "--save-outputs", tmp_path / "no" / "dir" / "o.npz"))
    assert "--inputs" in one_line(cli("run", unknown, "--inputs", tmp_path / "missing.npz"))
    assert "--load-outputs" in one_line(cli("verify", unknown, "--load-outputs", tmp_path / "missing.npz"))
    assert "folder" in one_line(cli("simplify", small, "-o", tmp_path / "no" / "dir" / "o.onnx"))


def test_a_folder_reads_the_same_in_every_command(tmp_path):
    lines = {cmd: one_line(cli(cmd, tmp_path)) for cmd in ("run", "inspect", "verify", "simplify")}
    for cmd, line in lines.items():
        assert line == f"graphkit {cmd}: LoadError: {tmp_path} is a folder, not an .onnx file"
    assert one_line(cli("run", tmp_path / "nope.onnx")).endswith(f"model file not found: {tmp_path / 'nope.onnx'}")


def test_a_message_of_several_lines_is_printed_as_one(small):
    script = textwrap.dedent(f"""
        import sys
        import graphkit.cli.cmd_inspect as cmd
        from graphkit.errors import UsageError

        def run(args):
            raise UsageError("unsupported ops:\\n  ai.onnx.ml::Foo\\n  ai.onnx.ml::Bar")

        cmd.run = run
        from graphkit.cli.main import main
        sys.exit(main(["inspect", {small!r}]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=False)
    assert one_line(out) == "graphkit inspect: UsageError: unsupported ops:; ai.onnx.ml::Foo; ai.onnx.ml::Bar"
    assert one_line(cli("run", small, "--warmup", "many")).startswith("graphkit: error: argument --warmup")


def test_progress_only_where_someone_watches(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for stream, enabled, expected in ((io.StringIO(), True, ""), (Terminal(), True, "\r"),
                                      (io.StringIO(), "always", "[verify"), (Terminal(), False, "")):
        monkeypatch.setattr(sys, "stderr", stream)
        show = Progress(enabled, after=0.0)
        show("per-node: 3/9 values compared")
        show.done()
        text = stream.getvalue()
        assert (expected in text) if expected else text == "", (enabled, text)
        if enabled == "always":
            assert "\r" not in text and text.endswith("\n")  # plain lines in a log file


def test_onnxruntime_logs_only_with_verbose(small):
    quiet = cli("verify", small, "--runtimes", "ref,ort")
    assert quiet.returncode == 0 and quiet.stderr == ""
    loud = cli("verify", small, "--runtimes", "ref,ort", "--verbose")
    assert loud.returncode == 0 and "Removing initializer 'unused'" in loud.stderr


def test_one_shape_notation(small, tmp_path):
    assert "input: x  float32[batch, 2]" in cli("inspect", small).stdout
    ran = cli("run", small, "--shape", "x=4,2")
    assert "input   x: float32[4, 2]" in ran.stdout and "output  y: float32[4, 3]" in ran.stdout
    np.savez(tmp_path / "bad.npz", x=np.zeros((4, 3), np.int32))
    line = one_line(cli("run", small, "--inputs", tmp_path / "bad.npz"))
    assert "the model takes float32[batch, 2]" in line and "gives int32[4, 3]" in line


def test_help_imports_no_numpy_onnx_or_refruntime():
    script = textwrap.dedent("""
        import sys
        from graphkit.cli.main import main
        code = main(["--help"])
        code |= main(["run", "--help"])
        heavy = sorted(m for m in ("numpy", "onnx", "refruntime", "torch", "numba", "scipy") if m in sys.modules)
        sys.stderr.write("HEAVY=" + ",".join(heavy) + f" CODE={code}")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=False)
    assert out.stderr.strip().endswith("HEAVY= CODE=0"), out.stderr
    assert "reshape" in out.stdout and "--val-range" in out.stdout


def test_inspect_and_run_import_neither_torch_nor_scipy(small):
    script = textwrap.dedent(f"""
        import sys
        from graphkit.cli.main import main
        assert main(["inspect", {small!r}, "--show", "nodes"]) == 0
        assert main(["run", {small!r}]) == 0
        sys.stderr.write("HEAVY=" + ",".join(sorted(m for m in ("torch", "numba", "scipy") if m in sys.modules)))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=False)
    assert out.returncode == 0 and out.stderr.strip().endswith("HEAVY="), out.stderr
