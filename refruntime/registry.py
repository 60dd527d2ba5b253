"""Which kernel runs a node: native (refruntime.ops) first, onnx.reference as the fallback.

Native kernels are discovered from the modules `refruntime/ops/op_*.py` and, one folder per
other domain, `refruntime/ops/<domain>/op_*.py` (no central table to edit: adding a file adds the
op). Lookup is by (domain, op_type) and the node's opset version.

Start-up: importing every op module costs ~0.15 s, more than a small model's whole plan. So the
table of (domain, op, since version) -> (module, class) is kept in a small JSON index in the user's
cache folder (REFRUNTIME_CACHE_DIR, else ~/.cache/refruntime), keyed by the names, sizes and
modification times of the op files; `find_native` then imports only the modules of the ops a model
uses. Without a usable index (first run, edited files, an unwritable cache) every module is
imported as before and the index is written for the next process.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
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
    versions = _index().get((normalize_domain(domain), op_type))
    if not versions:
        return None
    chosen = None
    for since, module, name in versions:
        if since <= opset:
            chosen = (module, name)
    if chosen is None:
        return None
    return _class(*chosen)


def native_op_types(domain: str = "") -> set[str]:
    return {op for (dom, op) in _index() if dom == normalize_domain(domain)}


def _class(module_name: str, class_name: str) -> type[OpRun]:
    module = importlib.import_module(module_name)
    package = module_name.rsplit(".", 1)[0]
    domain = importlib.import_module(package).DOMAIN if package != "refruntime.ops" else ""
    cls = getattr(module, class_name)
    match = _VERSIONED.fullmatch(class_name)
    cls.op_type, cls.since_version, cls.domain = ((match["op"], int(match["since"])) if match
                                                  else (class_name, 1)) + (domain,)
    return cls


@lru_cache(maxsize=1)
def _index() -> dict[tuple[str, str], list[tuple[int, str, str]]]:
    """{(domain, op_type): [(since, module, class name), ...]} from the cached index, or built by
    importing every op module (and then cached)."""
    key = _signature()
    path = os.path.join(cache_dir(), f"registry-{key}.json")
    try:
        with open(path, encoding="utf-8") as f:
            rows = json.load(f)
        return _table(rows)
    except (OSError, ValueError, TypeError):
        pass
    rows = [[dom, op, since, cls.__module__, cls.__name__]
            for (dom, op), versions in native_kernels().items() for since, cls in versions]
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(rows, f)
        os.replace(tmp, path)
    except OSError:
        pass  # no cache: the next process imports every module again
    return _table(rows)


def _table(rows) -> dict:
    table: dict[tuple[str, str], list[tuple[int, str, str]]] = {}
    for dom, op, since, module, name in rows:
        table.setdefault((dom, op), []).append((int(since), module, name))
    for versions in table.values():
        versions.sort(key=lambda v: v[0])
    return table


def _signature() -> str:
    """Names, sizes and modification times of every op module (and this file)."""
    import refruntime.ops as ops_pkg

    digest = hashlib.sha1()
    folders = [ops_pkg.__path__[0]]
    folders += [os.path.join(ops_pkg.__path__[0], d) for d in sorted(os.listdir(ops_pkg.__path__[0]))
                if os.path.isdir(os.path.join(ops_pkg.__path__[0], d)) and not d.startswith("_")]
    for folder in [*folders, os.path.dirname(__file__)]:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.name.endswith(".py"):
                st = entry.stat()
                digest.update(f"{folder}/{entry.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def cache_dir() -> str:
    """refruntime's cache folder: REFRUNTIME_CACHE_DIR, else ~/.cache/refruntime."""
    return os.environ.get("REFRUNTIME_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "refruntime")
