"""Load a torch module from `FILE.py:NAME` and export it to ONNX with a dynamic batch dimension.

    module = load_module("nets.py:TwoTower")
    example = example_inputs(module, shapes={"ids": ((1, 16), "int64"), "mask": ((1, 16), "int64")})
    feeds = export_module(module, example, "two_tower.onnx", exporter="torchscript")

Inputs are named and ordered after the module's `forward` parameters when the names match them
(else as given). Every failure is a UsageError of one line: the module's own error on the example
(a shape mismatch inside `forward`), or the exporter's first line, not torch's traceback. The
exporters' chatter (progress prints on stdout, warnings, log lines) is swallowed unless
GRAPHKIT_VERBOSE is set (`--verbose`): stdout carries the command's result (`--json`).
"""
from __future__ import annotations

import contextlib
import importlib.util
import inspect
import io
import logging
import os
import sys
import warnings
from collections.abc import Mapping

import numpy as np

from graphkit.errors import UsageError
from graphkit.summary import type_text

INT_EXAMPLE_RANGE = (0, 2)  # random integer inputs: 0 or 1, valid as indices and as masks


def load_module(target: str):
    """`FILE.py:Name` -> an nn.Module in eval mode (a class built with no arguments, or a factory)."""
    import torch

    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise UsageError(f"expected FILE.py:ClassOrFactory, got {target!r}")
    if not os.path.isfile(path):
        raise UsageError(f"module file not found: {path}")
    mod_name = f"_graphkit_export_{abs(hash(os.path.abspath(path)))}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    source = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = source
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        spec.loader.exec_module(source)
    except Exception as exc:
        raise UsageError(f"importing {path} failed: {type(exc).__name__}: {_first_line(exc)}") from exc
    finally:
        sys.path.pop(0)
    factory = getattr(source, name, None)
    if factory is None:
        names = [n for n, v in vars(source).items() if inspect.isclass(v) and issubclass(v, torch.nn.Module)]
        raise UsageError(f"{path} defines no {name!r}; its nn.Module classes are {names}")
    try:
        module = factory()
    except TypeError as exc:
        raise UsageError(f"{target}: cannot build it with no arguments ({_first_line(exc)}); use a factory "
                         "function") from exc
    except Exception as exc:
        raise UsageError(f"{target}: building it failed: {type(exc).__name__}: {_first_line(exc)}") from exc
    if not isinstance(module, torch.nn.Module):
        raise UsageError(f"{target} returned {type(module).__name__}, not a torch.nn.Module")
    return module.eval()


def forward_names(module) -> list[str]:
    """The names of `module.forward`'s positional parameters (no *args/**kwargs)."""
    try:
        params = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def example_inputs(module, shapes: Mapping[str | None, tuple] | None = None, arrays: Mapping[str, np.ndarray] | None = None,
                   seed: int = 0) -> dict[str, np.ndarray]:
    """The example inputs, ordered as `forward` takes them: `arrays` as given (an .npz), or random
    ones from `shapes` ({name: (dims, dtype)}; the name None: the only input, named 'input'). Floats are
    N(0, 1), integers 0 or 1 (INT_EXAMPLE_RANGE)."""
    params = forward_names(module)
    if arrays is not None:
        given = {k: np.asarray(v) for k, v in arrays.items()}
    else:
        shapes = dict(shapes or {})
        if None in shapes:
            if len(shapes) > 1:
                raise UsageError("--input-shape: name every input (NAME=D1,D2,...) when there are several")
            shapes = {"input": shapes[None]}
        rng = np.random.default_rng(seed)
        given = {}
        for name, (dims, dtype) in shapes.items():
            dtype = np.dtype(dtype)
            if dtype.kind == "f":
                given[name] = rng.standard_normal(dims).astype(dtype)
            elif dtype.kind in "iu":
                given[name] = rng.integers(*INT_EXAMPLE_RANGE, size=dims).astype(dtype)
            elif dtype.kind == "b":
                given[name] = rng.random(dims) < 0.5
            else:
                raise UsageError(f"--input-shape {name}: cannot make example values of type {dtype}")
    if params and set(given) <= set(params):
        missing = [p for p in params[:len(given)] if p not in given]
        if missing:
            raise UsageError(f"no example for {', '.join(missing)}: forward({', '.join(params)}) takes the inputs in "
                             f"that order")
        given = {p: given[p] for p in params if p in given}
    elif params and len(given) > len(params):
        raise UsageError(f"{len(given)} example inputs ({', '.join(given)}) but forward({', '.join(params)}) takes "
                         f"{len(params)}")
    return given


def export_module(module, example, path: str, exporter: str = "torchscript", opset: int = 18,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """Export `module` to `path`, dim 0 of every input and output dynamic ("batch"); returns the
    example as feeds. `example` is a dict of arrays (example_inputs) or a shape tuple for a
    module with one float input (named 'input')."""
    import torch

    if not isinstance(example, Mapping):
        example = example_inputs(module, {"input": (tuple(example), "float32")}, seed=seed)
    names = list(example)
    tensors = tuple(torch.from_numpy(np.array(v, copy=True)) for v in example.values())
    described = ", ".join(f"{n}: {type_text(v.dtype, v.shape)}" for n, v in example.items())
    try:
        with torch.no_grad():
            result = module(*tensors)
    except Exception as exc:  # the user's forward: its error, in one line
        raise UsageError(f"the module fails on the example input(s) {described}: {type(exc).__name__}: "
                         f"{_first_line(exc)}") from exc
    n_out = len(result) if isinstance(result, (list, tuple)) else 1
    outputs = ["output"] if n_out == 1 else [f"output_{i}" for i in range(n_out)]
    try:
        with _quiet():
            _export(module, tensors, names, outputs, path, exporter, opset)
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"{exporter} export failed: {type(exc).__name__}: {_first_line(exc)}") from exc
    return dict(example)


def _export(module, tensors, names, outputs, path, exporter, opset) -> None:
    """One exporter call: dim 0 of every input (of rank >= 1) and output named 'batch'."""
    import torch

    if exporter == "torchscript":
        axes = {**{n: {0: "batch"} for n, t in zip(names, tensors) if t.dim()}, **{o: {0: "batch"} for o in outputs}}
        torch.onnx.export(module, tensors, path, input_names=names, output_names=outputs,
                          dynamic_axes=axes, opset_version=opset, dynamo=False)
    elif exporter == "dynamo":
        batch = torch.export.Dim("batch", min=1, max=4096)
        dynamic = tuple({0: batch} if t.dim() else None for t in tensors)
        program = torch.onnx.export(module, tensors, input_names=names, output_names=outputs,
                                    dynamic_shapes=dynamic, opset_version=opset, dynamo=True)
        program.save(path)
    else:
        raise UsageError(f"unknown exporter {exporter!r}; choose torchscript or dynamo")


@contextlib.contextmanager
def _quiet():
    """Warnings off, torch/onnxscript logging below ERROR, prints to stdout/stderr swallowed."""
    if os.environ.get("GRAPHKIT_VERBOSE"):
        yield
        return
    loggers = [logging.getLogger(n) for n in ("torch", "torch.onnx", "torch.export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    buffer = io.StringIO()
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _first_line(exc: BaseException) -> str:
    """The first meaningful line of an exception's message (torch's run to dozens of lines)."""
    for line in str(exc).strip().splitlines():
        line = line.strip()
        if line:
            return line[:300]
    return type(exc).__name__
