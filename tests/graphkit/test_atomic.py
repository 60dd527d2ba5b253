"""Whole-file writes are atomic: the destination is its old self or wholly the new one."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import onnx
import pytest

from graphkit.atomic import atomic_open
from tests.graphkit.test_verify import conv_bn_relu


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "report.html"
    path.write_text("old")
    os.chmod(path, 0o640)
    with pytest.raises(RuntimeError), atomic_open(path, "w", encoding="utf-8") as f:
        f.write("half of the new")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["report.html"]
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write("new")
    assert path.read_text() == "new"
    assert os.stat(path).st_mode & 0o777 == 0o640  # the replaced file's mode is kept
    assert os.listdir(tmp_path) == ["report.html"]


def test_cli_html_report_links_the_reduced_repro_relative_to_its_own_folder(tmp_path):
    """`verify --reduce DIR --html SUB/report.html` run from another folder: the page's links to the
    reduced model and inputs resolve from the page's folder (the page can be moved with its repro)."""
    onnx.save(conv_bn_relu(12), tmp_path / "m.onnx")
    (tmp_path / "page").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "graphkit.cli.main", "verify", "m.onnx", "--runtimes", "torch,onnx-reference",
         "--per-node", "--reduce", "repro", "--html", "page/report.html"],
        cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stderr  # onnx.reference's BatchNormalization-12 is wrong
    text = (tmp_path / "page" / "report.html").read_text(encoding="utf-8")
    hrefs = re.findall(r"href='([^']*reduced[^']*)'|href=\"([^\"]*reduced[^\"]*)\"", text)
    hrefs = [a or b for a, b in hrefs if not (a or b).startswith("#")]  # not the page's own anchors
    assert {os.path.basename(h) for h in hrefs} >= {"reduced.onnx", "reduced_inputs.npz"}, hrefs
    for href in hrefs:
        assert not href.startswith(("/", "file:")), href
        assert os.path.isfile(tmp_path / "page" / href), href
