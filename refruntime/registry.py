"""Which kernel runs a node: native (refruntime.ops) first, onnx.reference as the fallback.

Native kernels are discovered from the modules `refruntime/ops/op_*.py` and, one folder per
other domain, `refruntime/ops/<domain>/op_*.py` (no central table to edit: adding a file adds the
op). Lookup is by (domain, op_type) and the node's opset version.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
from functools import lru_cache

from refruntime.ops.base import OpRun

_VERSIONED = re.compile(r"(?P<op>[A-Za-z][A-Za-z0-9]*)_(?P<since>\d+)")
DEFAULT_DOMAINS = ("", "ai.onnx")


def normalize_domain(domain: str) -> str:
    return "" if domain in DEFAULT_DOMAINS else domain


@lru_cache(maxsize=1)
def native_kernels() -> dict[tuple[str, str], list[tuple[int, type[OpRun]]]]:
    """{(domain, op_type): [(since_version, cls), ...] sorted by version}.

    Default-domain kernels are the modules `refruntime/ops/op_*.py`; every other domain is a
    subpackage (`ops/ai_onnx_ml/`, `ops/com_microsoft/`) whose `__init__` sets DOMAIN, with its
    kernels in `op_*.py` modules of its own."""
    import refruntime.ops as ops_pkg

    table: dict[tuple[str, str], list[tuple[int, type[OpRun]]]] = {}
    _collect(ops_pkg, "", table)
    for info in pkgutil.iter_modules(ops_pkg.__path__):
        if info.ispkg and not info.name.startswith("_"):
            package = importlib.import_module(f"refruntime.ops.{info.name}")
            _collect(package, package.DOMAIN, table)
    for versions in table.values():
        versions.sort(key=lambda pair: pair[0])
    return table


def _collect(package, domain: str, table: dict) -> None:
    for info in pkgutil.iter_modules(package.__path__):
        if info.ispkg or not info.name.startswith("op_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for name, obj in vars(module).items():
            if not (isinstance(obj, type) and issubclass(obj, OpRun) and obj is not OpRun):
                continue
            if obj.__module__ != module.__name__ or name.startswith("_"):
                continue  # imported helpers and private bases
            match = _VERSIONED.fullmatch(name)
            op_type, since = (match["op"], int(match["since"])) if match else (name, 1)
            obj.op_type, obj.since_version, obj.domain = op_type, since, domain
            table.setdefault((normalize_domain(domain), op_type), []).append((since, obj))


def find_native(domain: str, op_type: str, opset: int) -> type[OpRun] | None:
    """The native kernel class for a node of this opset, or None."""
    versions = native_kernels().get((normalize_domain(domain), op_type))
    if not versions:
        return None
    chosen = None
    for since, cls in versions:
        if since <= opset:
            chosen = cls
    return chosen


def native_op_types(domain: str = "") -> set[str]:
    return {op for (dom, op) in native_kernels() if dom == normalize_domain(domain)}
