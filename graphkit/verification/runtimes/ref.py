"""refruntime's Session as a verification runtime: `ref`, and its oracles `ref64` (float64
throughout) and `ref-spec` (each op in float64, rounded to its declared type).

A model whose weights are still in their file (graph.model_file) is handed to the Session with
that file's path, so the weights are memory-mapped, never copied. Verification runs other runtimes
in the same process, which map (ORT) or repack the same weights themselves, and a mapped page
counts in the RSS of each mapping; so after each run, and after each node of a streaming run, the
pages of the weights just read are released (`refruntime.external_data.release_pages`): they stay
in the page cache, and the next run maps them back with minor faults.

Time: every Session made inside `with time_bound(seconds, hard_exit_after)` (gk.verify's `timeout`,
the CLI's `--timeout`) stops a run longer than `seconds` with a LimitError naming the node
(refruntime/deadline.py) - the ref runtimes, their oracles and per-node replays alike.
"""
from __future__ import annotations

import contextlib
import contextvars

import onnx

from graphkit.errors import GraphkitError
from graphkit.verification.graph import model_file
from graphkit.verification.runtimes.base import Runtime, RuntimeFailure, _first_line

PRECISIONS = {"ref": "native", "ref64": "float64", "ref-spec": "spec"}

# (max_seconds, hard_exit_after) of the Sessions made now; (None, None): unbounded
_BOUND: contextvars.ContextVar = contextvars.ContextVar("ref_time_bound", default=(None, None))


@contextlib.contextmanager
def time_bound(seconds: float | None = None, hard_exit_after: float | None = None):
    """Bound every refruntime run started by the ref runtimes made inside the block: `seconds` per
    run (a LimitError naming the node), and with `hard_exit_after` a node stuck in C code ends the
    process that much later (the CLI's choice, never a library's). None keeps the outer value."""
    outer_seconds, outer_exit = _BOUND.get()
    token = _BOUND.set((outer_seconds if seconds is None else seconds,
                        outer_exit if hard_exit_after is None else hard_exit_after))
    try:
        yield
    finally:
        _BOUND.reset(token)


class _ModelFile:
    """A proto without its weights and the file they are relative to, in the shape Session takes
    a graphkit Model (`to_proto()`, `source_path`)."""

    def __init__(self, proto: onnx.ModelProto, path: str):
        self.proto, self.source_path = proto, path

    def to_proto(self) -> onnx.ModelProto:
        return self.proto


class RefRuntime(Runtime):
    """refruntime's Session at one precision (see PRECISIONS)."""

    streams = True

    def __init__(self, name: str, model: onnx.ModelProto, precision: str = "native", strict: bool = True):
        super().__init__(name, model)
        from refruntime import Session

        self.precision, self.strict = precision, strict
        path = model_file(model)
        seconds, hard_exit_after = _BOUND.get()
        try:
            self.session = Session(model if path is None else _ModelFile(model, path), precision=precision,
                                   strict=strict, max_seconds=seconds)
        except Exception as exc:
            raise RuntimeFailure(name, f"{type(exc).__name__}: {_first_line(exc)}") from exc
        self.session.hard_exit_after = hard_exit_after

    def for_model(self, model):
        return RefRuntime(self.name, model, self.precision, self.strict)

    def _run(self, feeds, names):
        from refruntime.external_data import release_pages

        if names is None:
            try:
                return self.session.run(feeds)
            finally:
                release_pages(self.session.plan.initializers.values())
        wanted, got = set(names), {}

        def after(step, inputs, outputs):
            release_pages(inputs)
            for name, value in zip(step.outputs, outputs):
                if name in wanted:
                    got[name] = value
            return len(got) == len(wanted)  # stop as soon as every requested value exists

        self.session.run(feeds, after=after, output_names=[])
        return got

    def stream(self, feeds, names, callback):
        from refruntime.external_data import release_pages

        def after(step, inputs, outputs):
            release_pages(inputs)
            for name, value in zip(step.outputs, outputs):
                if name in names:
                    callback(name, value)

        try:
            return self.session.run(self._feeds(feeds), after=after)
        except (GraphkitError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise RuntimeFailure(self.name, f"{type(exc).__name__}: {_first_line(exc)}") from exc
