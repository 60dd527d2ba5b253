"""Load a torch module from `FILE.py:NAME` and export it to ONNX with a dynamic batch dimension."""
from __future__ import annotations

import importlib.util
import inspect
import os
import sys

import numpy as np

from graphkit.errors import UsageError


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
        raise UsageError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.path.pop(0)
    factory = getattr(source, name, None)
    if factory is None:
        names = [n for n, v in vars(source).items() if inspect.isclass(v) and issubclass(v, torch.nn.Module)]
        raise UsageError(f"{path} defines no {name!r}; its nn.Module classes are {names}")
    try:
        module = factory()
    except TypeError as exc:
        raise UsageError(f"{target}: cannot build it with no arguments ({exc}); use a factory function") from exc
    if not isinstance(module, torch.nn.Module):
        raise UsageError(f"{target} returned {type(module).__name__}, not a torch.nn.Module")
    return module.eval()


def export_module(module, shape: tuple[int, ...], path: str, exporter: str = "torchscript", opset: int = 18,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """Export `module` to `path` (input named 'input', batch dimension dynamic); returns the
    example input as feeds."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=generator)
    with torch.no_grad():
        result = module(x)
    n_out = len(result) if isinstance(result, (list, tuple)) else 1
    outputs = ["output"] if n_out == 1 else [f"output_{i}" for i in range(n_out)]
    try:
        if exporter == "torchscript":
            axes = {"input": {0: "batch"}, **{o: {0: "batch"} for o in outputs}}
            torch.onnx.export(module, (x,), path, input_names=["input"], output_names=outputs,
                              dynamic_axes=axes, opset_version=opset, dynamo=False)
        elif exporter == "dynamo":
            batch = torch.export.Dim("batch", min=1, max=4096)
            program = torch.onnx.export(module, (x,), input_names=["input"], output_names=outputs,
                                        dynamic_shapes=({0: batch},), opset_version=opset, dynamo=True)
            program.save(path)
        else:
            raise UsageError(f"unknown exporter {exporter!r}; choose torchscript or dynamo")
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"{exporter} export failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from exc
    return {"input": x.numpy()}
