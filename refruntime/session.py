"""Session: the public face of refruntime.

    >>> from refruntime import Session
    >>> sess = Session("model.onnx")
    >>> outputs = sess.run({"x": x})                       # graph outputs, in the model's order
    >>> everything = sess.run({"x": x}, capture="all")    # plus every intermediate
    >>> sess.run({"x": x}, profile=True); print(sess.last_profile.table())
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import nullcontext

import numpy as np
import onnx

from refruntime.deadline import TimedOut, Watchdog
from refruntime.errors import LimitError, ModelError, RefRuntimeError
from refruntime.executor import ProfileRecord, RunControls, execute, to_float64
from refruntime.feeds import graph_input_specs, validate_feeds
from refruntime.plan import Options, PlanContext, build_plan
from refruntime.profile import Profile
from refruntime.registry import normalize_domain
from refruntime.strict import check_strict
from refruntime.validate import check_opsets, check_structure, check_text

_UNBOUNDED = nullcontext()  # a run without max_seconds: no watchdog (its Event costs ~4 us a run)


class Session:
    """Plan a model once, run it many times.

    Args:
        model: path to an .onnx file, a ModelProto, or a graphkit Model.
        precision: "native" (the model's dtypes), "float64" (the exact oracle: every floating
            value, initializers and intermediates included, is computed in float64) or "spec" (the
            spec oracle: each op computed in float64 from its inputs, its float outputs rounded to
            the element type ONNX declares for them, so a float16 graph rounds after every op).
        cast_outputs: in float64 mode, cast outputs back to their declared dtype.
        allow_fallback: let ops without a native kernel run through onnx.reference.
        max_tensor_bytes: refuse (LimitError) to build any tensor larger than this (default 16 GiB).
        max_loop_iterations: bound on Loop iterations per run, all loops together (default 1M).
        max_seconds: a run that takes longer stops with a LimitError naming the node it was running
            (refruntime/deadline.py; default: no bound).
        strict: refuse (ModelError naming the node) a model whose declared types or shapes disagree
            with what its ops produce (refruntime/strict.py). strict=False runs models the spec
            rejects, as onnx.reference does.

    A malformed model (unsafe external data, unknown opset, a node that does not fit its schema,
    a cycle...) raises ModelError here, not later in a kernel.
    """

    def __init__(self, model: str | os.PathLike | onnx.ModelProto, *, precision: str = "native",
                 cast_outputs: bool = False, allow_fallback: bool = True,
                 max_tensor_bytes: int | None = None, max_loop_iterations: int | None = None,
                 max_seconds: float | None = None, strict: bool = True):
        if precision not in PRECISIONS:
            raise RefRuntimeError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.model, base_dir = _load(model)
        options = Options(precision=precision, allow_fallback=allow_fallback, base_dir=base_dir)
        if max_tensor_bytes is not None:
            options.max_tensor_bytes = max_tensor_bytes
        if max_loop_iterations is not None:
            options.max_loop_iterations = max_loop_iterations
        options.max_seconds = max_seconds
        self.options = options
        self.cast_outputs = cast_outputs
        graph = self.model.graph
        check_text(self.model)
        opsets = {normalize_domain(o.domain): o.version for o in self.model.opset_import}
        check_opsets(opsets)
        check_structure(self.model)  # before onnx's C++ shape inference (strict, spec oracle) sees it
        if strict:
            check_strict(self.model)
        functions = {(f.domain, f.name): f for f in self.model.functions}
        self.context = PlanContext(opsets=opsets, options=options, functions=functions)
        self.plan = build_plan(graph, self.context)
        self.input_specs = graph_input_specs(graph)
        self.output_names = list(self.plan.output_names)
        self.last_profile: Profile | None = None
        # the CLI sets this: after max_seconds plus this grace, a node stuck in C code ends the process
        self.hard_exit_after: float | None = None
        self.stopped_at: str | None = None
        if precision == "float64":
            self.plan.initializers = {k: to_float64(v) for k, v in self.plan.initializers.items()}
        self.spec_dtypes = declared_float_types(self.model) if precision == "spec" else None

    @property
    def input_names(self) -> list[str]:
        return [s.name for s in self.input_specs if not s.optional]

    def fallback_nodes(self) -> list[str]:
        """Labels of the nodes that run through onnx.reference rather than a native kernel."""
        return [s.label for s in self.plan.steps if s.is_fallback]

    def run(self, feeds: Mapping[str, object], *, capture: str | Sequence[str] | None = None,
            before=None, after=None, check_finite: bool = False, profile: bool = False,
            output_names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Run the model.

        Returns the graph outputs (or `output_names`) in order, followed by any captured
        intermediates. `capture="all"` keeps every value a node produces; a list keeps those names.
        `before(step, inputs)` / `after(step, inputs, outputs)` are called around each node; a hook
        that returns True (or raises StopRun) stops the run, which then returns what exists so far
        and sets `self.stopped_at`. `check_finite=True` raises NonFiniteError at the first node that
        turns finite inputs into NaN/Inf. `profile=True` fills `self.last_profile`.
        """
        from refruntime.errors import StopRun

        checked = validate_feeds(feeds, self.input_specs)
        wanted = list(output_names) if output_names is not None else self.output_names
        controls = self._controls(capture, before, after, check_finite, profile)
        values = dict(self.plan.initializers)
        if self.options.precision == "float64":
            checked = {k: to_float64(v) for k, v in checked.items()}
        values.update(checked)
        self.stopped_at = None
        self.context.loop_iterations = 0
        try:
            bounded = self.options.max_seconds is not None
            with Watchdog(self.options.max_seconds, self.hard_exit_after) if bounded else _UNBOUNDED:
                values, captured, self.stopped_at = execute(self.plan, values, controls=controls)
        except TimedOut as late:
            raise LimitError(late.message) from None
        except StopRun as stop:
            values, captured, self.stopped_at = {}, {}, str(stop) or "hook"
        finally:
            if controls.profile is not None:
                self.last_profile = Profile(controls.profile)
        result = {}
        for name in wanted:
            if name in values:
                result[name] = self._finish(name, values[name])
            elif name in captured:
                result[name] = self._finish(name, captured[name])
            elif self.stopped_at is None:
                raise ModelError(f"requested output {name!r} was not produced")
        for name, value in captured.items():
            result.setdefault(name, value)
        return result

    def _controls(self, capture, before, after, check_finite, profile) -> RunControls:
        if capture is None:
            names: frozenset[str] = frozenset()
            capture_all = False
        elif capture == "all":
            names, capture_all = frozenset(), True
        elif isinstance(capture, str):
            names, capture_all = frozenset([capture]), False
        else:
            names, capture_all = frozenset(capture), False
        return RunControls(capture=names, capture_all=capture_all, before=before, after=after,
                           check_finite=check_finite, profile=[] if profile else None,
                           upcast_float64=self.options.precision == "float64", spec_dtypes=self.spec_dtypes)

    def _finish(self, name: str, value):
        if self.cast_outputs and self.options.precision == "float64":
            declared = _declared_dtype(self.model.graph, name)
            if declared is not None and isinstance(value, np.ndarray) and value.dtype != declared:
                return value.astype(declared)
        return value


def _load(model) -> tuple[onnx.ModelProto, str]:
    if isinstance(model, onnx.ModelProto):
        proto, base_dir = model, ""
    elif hasattr(model, "to_proto"):  # a graphkit Model (duck-typed: refruntime never imports graphkit)
        proto = model.to_proto()
        source = getattr(model, "source_path", None)
        base_dir = os.path.dirname(os.path.abspath(source)) if source else ""
    elif isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise ModelError(f"model file not found: {path}")
        try:
            proto = onnx.load(path, load_external_data=False)
        except Exception as exc:  # noqa: BLE001 - protobuf raises several types for bad bytes
            detail = str(exc).splitlines()[0] if str(exc) else ""
            raise ModelError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {detail})") from None
        base_dir = os.path.dirname(os.path.abspath(path))
    else:
        raise ModelError(f"Session needs a path or an onnx.ModelProto, got {type(model).__name__}")
    if not proto.HasField("graph"):
        raise ModelError(f"{model if isinstance(model, (str, os.PathLike)) else 'the model'}: not an ONNX "
                         "model (no graph)")
    if proto.functions:
        proto = _inline_functions(proto)
    return proto, base_dir


def _inline_functions(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Model-local functions are expanded in place: each call becomes its body's nodes."""
    from onnx import inliner

    try:
        return inliner.inline_local_functions(proto)
    except Exception as exc:  # noqa: BLE001
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"cannot inline the model's local functions: {detail}") from None


PRECISIONS = ("native", "float64", "spec")


def declared_float_types(model: onnx.ModelProto) -> dict[str, np.dtype]:
    """{value name: numpy dtype} of every float value onnx's type inference can type (the spec
    oracle rounds each op's output to it). Inference failures leave the map partial."""
    from refruntime.dtypes import to_numpy_dtype

    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # noqa: BLE001 - a partial map only makes the oracle fall back per output
        inferred = model
    g = inferred.graph
    out = {}
    for vi in [*g.input, *g.value_info, *g.output]:
        elem = vi.type.tensor_type.elem_type if vi.type.HasField("tensor_type") else 0
        if elem in (onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16, onnx.TensorProto.FLOAT,
                    onnx.TensorProto.DOUBLE):
            out[vi.name] = to_numpy_dtype(elem)
    return out




def _declared_dtype(graph, name):
    from refruntime.dtypes import to_numpy_dtype

    for vi in graph.output:
        if vi.name == name and vi.type.tensor_type.elem_type:
            try:
                return to_numpy_dtype(vi.type.tensor_type.elem_type)
            except Exception:  # noqa: BLE001 - an unknown element type: keep the computed dtype
                return None
    return None


__all__ = ["ProfileRecord", "Session"]
