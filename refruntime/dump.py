"""Dump every intermediate of a run to a folder, streaming: one .npy per value plus manifest.json.

    >>> from refruntime import Session
    >>> from refruntime.dump import dump_intermediates
    >>> manifest = dump_intermediates(Session("model.onnx"), {"x": x}, "dump/")
    >>> manifest["values"][0]
    {'index': 0, 'node': 'conv1', 'op': 'Conv', 'kernel': 'native', 'output': 'conv1:0',
     'file': '00000_conv1_0.npy', 'shape': [1, 64, 112, 112], 'dtype': 'float32',
     'min': -3.2, 'max': 4.1, 'mean': 0.01, 'nan_count': 0, 'inf_count': 0}

Each value is written by Session.run's `after` hook as soon as its node produced it, and nothing
is kept: the run frees it after its last consumer as usual, so memory stays that of a plain run
(the live tensors), not the sum of all intermediates as with `capture="all"`.

- File names are `<index>_<sanitized value name>.npy`: the running index makes them unique (two
  names that sanitize alike, or differ only in case, never collide); the manifest keeps the real
  name. Values that are not tensors (sequences, maps, absent optionals) get an entry without file.
- min/max/mean are over the finite elements (NaN and Inf are counted apart), so the manifest is
  plain JSON; they are null when there is no finite element, and absent for non-numeric dtypes.
- A folder that exists and is not empty is refused unless `overwrite=True`.
- If the run fails, manifest.json is still written, with what was dumped and the error.
- Only the main graph's nodes are dumped (not the bodies of If/Loop/Scan).
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping

import numpy as np

from refruntime.errors import RefRuntimeError

MANIFEST = "manifest.json"
MAX_STEM = 80  # characters of the value name kept in a file name
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class DumpError(RefRuntimeError, OSError):
    """The dump folder cannot be used (not empty, not a folder, not writable, disk full...)."""


def dump_intermediates(session, feeds: Mapping[str, object], out_dir: str | os.PathLike, *,
                       overwrite: bool = False) -> dict:
    """Run `session` on `feeds`, writing every value a node produces into `out_dir`; returns the
    manifest (also written to `out_dir/manifest.json`)."""
    writer = DumpWriter(out_dir, overwrite=overwrite)
    writer.run(session, feeds)
    return writer.manifest


class DumpWriter:
    """An `after(step, inputs, outputs)` hook for Session.run that writes each output at once.

        writer = DumpWriter("dump/")
        outputs = writer.run(session, feeds, profile=True)   # Session.run's result
        writer.manifest                                      # also in dump/manifest.json

    Used as a bare hook (`session.run(feeds, after=writer)`), call `writer.finish()` afterwards.
    """

    def __init__(self, out_dir: str | os.PathLike, *, overwrite: bool = False):
        self.out_dir = os.fspath(out_dir)
        self.entries: list[dict] = []
        self.bytes_written = 0
        self.manifest: dict | None = None
        _prepare_folder(self.out_dir, overwrite)

    def run(self, session, feeds: Mapping[str, object], **run_options) -> dict:
        """`session.run(feeds, after=self, **run_options)`, then the manifest, written even when
        the run fails (with the error, and the values dumped up to the failing node)."""
        try:
            outputs = session.run(feeds, after=self, **run_options)
        except BaseException as exc:
            self.finish(error=exc)
            raise
        self.finish(stopped_at=session.stopped_at)
        return outputs

    def __call__(self, step, inputs, outputs) -> None:
        for name, value in zip(step.outputs, outputs):
            if name:
                self.entries.append(self._write(step, name, value))

    def _write(self, step, name: str, value) -> dict:
        index = len(self.entries)
        entry = {"index": index, "node": step.label, "op": step.node.op_type,
                 "kernel": "fallback" if step.is_fallback else "native", "output": name, "file": None}
        if isinstance(value, np.generic):
            value = np.asarray(value)
        if not isinstance(value, np.ndarray):
            entry["type"] = "none" if value is None else type(value).__name__
            if isinstance(value, (list, tuple)):
                entry["length"] = len(value)
            return entry
        file_name = f"{index:05d}_{safe_stem(name)}.npy"
        path = os.path.join(self.out_dir, file_name)
        storable = value.astype(str) if value.dtype.kind == "O" else value  # strings: no pickles
        try:
            with open(path, "wb") as f:
                np.save(f, storable, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DumpError(f"cannot write {name!r} (node {step.label!r}, {value.dtype}{list(value.shape)}) "
                            f"to {path}: {exc}") from None
        self.bytes_written += os.path.getsize(path)
        entry.update(file=file_name, shape=list(value.shape), dtype=str(value.dtype), **tensor_stats(value))
        return entry

    def finish(self, *, error: BaseException | None = None, stopped_at: str | None = None) -> dict:
        """Write manifest.json (atomically) and return it. `error`: the run failed with it."""
        manifest = {
            "complete": error is None and stopped_at is None,
            "error": None if error is None else f"{type(error).__name__}: {error}",
            "stopped_at": stopped_at,
            "count": len(self.entries),
            "bytes": self.bytes_written,
            "values": self.entries,
        }
        path = os.path.join(self.out_dir, MANIFEST)
        try:
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                json.dump(manifest, f, indent=1)
            os.replace(path + ".tmp", path)
        except OSError as exc:
            if error is None:  # else the run's own error is the one to report
                raise DumpError(f"cannot write {path}: {exc}") from None
        self.manifest = manifest
        return manifest


def safe_stem(name: str) -> str:
    """A file-name-safe form of a value name: [A-Za-z0-9._-] only, no leading dot, bounded."""
    stem = _UNSAFE.sub("_", name).lstrip(".")[:MAX_STEM]
    return stem or "value"


def tensor_stats(value: np.ndarray) -> dict:
    """nan_count, inf_count, and min/max/mean over the finite elements (None if there are none).
    Only for bool, integer and real float dtypes; other dtypes get {}."""
    kind = value.dtype.kind
    if kind not in "biuf" or value.dtype.names is not None:
        return {}
    if kind == "b":
        value = value.view(np.uint8)
    nan = inf = 0
    finite = value
    if kind == "f":
        ok = np.isfinite(value)
        bad = value.size - int(np.count_nonzero(ok))
        if bad:
            nan = int(np.count_nonzero(np.isnan(value)))
            inf = bad - nan
            finite = value[ok]
        del ok
    stats = {"min": None, "max": None, "mean": None, "nan_count": nan, "inf_count": inf}
    if finite.size:
        stats.update(min=_number(finite.min()), max=_number(finite.max()),
                     mean=float(np.mean(finite, dtype=np.float64)))
    return stats


def _number(x) -> int | float:
    return int(x) if isinstance(x, np.integer) else float(x)


def _prepare_folder(out_dir: str, overwrite: bool) -> None:
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise DumpError(f"dump folder {out_dir} exists and is not a folder")
    if os.path.isdir(out_dir) and not overwrite:
        existing = sorted(os.listdir(out_dir))
        if existing:
            shown = ", ".join(existing[:3]) + (", ..." if len(existing) > 3 else "")
            raise DumpError(f"dump folder {out_dir} is not empty ({len(existing)} entries: {shown}); choose "
                            "an empty or new folder, or overwrite (--force) to write into it")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise DumpError(f"cannot create dump folder {out_dir}: {exc}") from None


__all__ = ["DumpError", "DumpWriter", "dump_intermediates", "safe_stem", "tensor_stats"]
