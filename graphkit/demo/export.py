"""Export a torch module to ONNX with both torch exporters, batch dimension dynamic.

    path = export(net, "SimpleCNN", "dynamo", out_dir)       # -> out_dir/SimpleCNN.dynamo.onnx

"torchscript" is the legacy tracer (`dynamo=False`, `dynamic_axes`); "dynamo" is the
torch.export-based exporter (`dynamo=True`, `dynamic_shapes` with a `torch.export.Dim`, needs
onnxscript). The exporters' chatter (deprecation warnings, progress lines, logging) is swallowed;
if an export fails, what it printed is attached to the raised ExportError.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings

import torch

from graphkit.demo.nets import INPUT_SHAPE

EXPORTERS = ("torchscript", "dynamo")
OPSET = 18
INPUT, OUTPUT = "input", "output"


class ExportError(RuntimeError):
    """An exporter failed; the message carries its error and what it printed."""


def export(net: torch.nn.Module, name: str, exporter: str, out_dir: str | os.PathLike,
           opset: int = OPSET) -> str:
    """Write `out_dir/<name>.<exporter>.onnx` (one self-contained file) and return its path."""
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {EXPORTERS}, got {exporter!r}")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(os.fspath(out_dir), f"{name}.{exporter}.onnx")
    # batch 2, so that a tracer cannot specialise on 1; own generator, so the global seed is untouched
    example = (torch.randn(2, *INPUT_SHAPE, generator=torch.Generator().manual_seed(0)),)
    common = {"input_names": [INPUT], "output_names": [OUTPUT], "opset_version": opset}
    with _quiet() as chatter:
        try:
            if exporter == "torchscript":
                torch.onnx.export(net, example, path, dynamo=False, **common,
                                  dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
            else:
                batch = torch.export.Dim("batch")
                arg = next(iter(_forward_args(net)))
                torch.onnx.export(net, example, path, dynamo=True, verbose=False, external_data=False,
                                  **common, dynamic_shapes={arg: {0: batch}})
        except Exception as exc:  # exporters raise many types; report them all alike
            printed = chatter.getvalue().strip()
            raise ExportError(f"{exporter} export of {name} failed: {type(exc).__name__}: {exc}"
                              + (f"\n--- exporter output ---\n{printed}" if printed else "")) from exc
    return path


def _forward_args(net: torch.nn.Module):
    import inspect

    return inspect.signature(net.forward).parameters


@contextlib.contextmanager
def _quiet():
    """Silence warnings, torch/onnxscript logging below ERROR, and stdout/stderr prints."""
    buffer = io.StringIO()
    loggers = [logging.getLogger(n) for n in ("torch", "torch.onnx", "torch.export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(buffer), \
                contextlib.redirect_stderr(buffer):
            warnings.simplefilter("ignore")
            yield buffer
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
