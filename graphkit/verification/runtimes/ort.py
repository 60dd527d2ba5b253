"""onnxruntime's CPU provider as a verification runtime: `ort` (default optimizations) and `ort-noopt`.

Per-node comparison judges ORT as it really runs: `ort` reports only the values that still exist
in its optimized graph (`surviving_values`). Marking a fused-away value as an extra graph output
would make ORT skip the very fusion being judged, so such values are not asked for at all.

Weights: sessions are built from the bytes of a proto *without* its large weights, and ORT reads
them from their data file (`session.model_external_initializers_file_folder_path`), which it
memory-maps. A model loaded from a file (graph.model_file) is used as it is: its weights stay
where they are. A proto holding its weights inline above protobuf's 2 GiB limit (PROTO_LIMIT)
cannot be serialized: its large initializers are written once to a temporary folder, removed
with the runtime. Each per-node chunk is then the small proto with extra outputs, pointing at
the same data file. What ORT does with the weights is its own business and is measured in
tools/bench_llm.py: with the CPU provider's default prepacking, every MatMul weight is repacked
into memory ORT owns (1x the weights per live session, the mapped pages released after packing).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import weakref

import onnx

from graphkit.verification.graph import PROTO_LIMIT, elem_types, model_file, with_outputs
from graphkit.verification.runtimes.base import Runtime, RuntimeFailure, _first_line

# Session config keys (onnxruntime_session_options_config_keys.h): a big optimized model keeps its
# weights in a side file instead of overflowing protobuf's 2 GiB limit; a model given as bytes
# reads its external data from a folder.
_EXTERNAL_FILE_KEY = "session.optimized_model_external_initializers_file_name"
_EXTERNAL_MIN_BYTES_KEY = "session.optimized_model_external_initializers_min_size_in_bytes"
_EXTERNAL_FOLDER_KEY = "session.model_external_initializers_file_folder_path"

SPILL_MIN_BYTES = 1 << 16  # initializers at least this large go to the data file when spilling


def default_log_severity() -> int:
    """onnxruntime's severity threshold: 4 (fatal only) unless GRAPHKIT_VERBOSE is set (the CLI's
    `--verbose`), then 2 (warnings and errors too). ORT logs from C++ straight to the process's
    stderr, in colour, so a command's one-line promise depends on this; its errors also raise, and
    graphkit reports them from the exception (at 3, a model ORT refuses printed its error twice)."""
    return 2 if os.environ.get("GRAPHKIT_VERBOSE") else 4


def quiet_logging() -> None:
    """Apply `default_log_severity()` to onnxruntime's default logger (model-loading warnings go there,
    whatever a session's own severity). Call it before creating sessions outside this module."""
    import onnxruntime as ort

    ort.set_default_logger_severity(default_log_severity())


def session_options(level, log_severity: int | None = None, external_folder: str | None = None):
    """SessionOptions at optimization `level`, quiet unless `log_severity` asks for more;
    `external_folder`: where the external data of a model given as bytes lives."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = default_log_severity() if log_severity is None else log_severity
    options.graph_optimization_level = level
    if external_folder:
        options.add_session_config_entry(_EXTERNAL_FOLDER_KEY, external_folder)
    return options


def check_for_ort(model: onnx.ModelProto) -> None:
    """refruntime.validate.check_structure before onnxruntime sees `model`: ORT's own model checks
    abort the process on some invalid nodes (a Split whose num_outputs is not its output count,
    found by tools/fuzz.py), where this raises a ModelError naming the node."""
    from refruntime.validate import check_structure

    check_structure(model)


def new_session(model_bytes: bytes, options, disabled_optimizers=()):
    """A CPU-only InferenceSession; `disabled_optimizers` names graph transformers or rewrite rules."""
    import onnxruntime as ort

    quiet_logging()
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"],
                                disabled_optimizers=list(disabled_optimizers) or None)


def optimized_model(model_bytes: bytes, options, disabled_optimizers=()) -> onnx.ModelProto:
    """The graph ORT runs after its optimizations, as written by `optimized_model_filepath`.

    Weights are not kept (they go to /dev/null where symlinks exist, else to a temporary side
    file gone when this returns): callers read node names, op types and value names only. Ops
    may be in com.microsoft / com.microsoft.nchwc."""
    with tempfile.TemporaryDirectory(prefix="graphkit-ort-") as tmp:
        path = os.path.join(tmp, "optimized.onnx")
        try:  # nobody reads the weights ORT writes beside the graph: it follows this link (an LLM's GBs)
            os.symlink(os.devnull, os.path.join(tmp, "optimized.data"))
        except (OSError, NotImplementedError):
            pass  # no symlinks here: ORT writes a real file, removed with the folder
        options.optimized_model_filepath = path
        options.add_session_config_entry(_EXTERNAL_FILE_KEY, "optimized.data")
        options.add_session_config_entry(_EXTERNAL_MIN_BYTES_KEY, "1024")
        session = new_session(model_bytes, options, disabled_optimizers)
        del session
        return onnx.load(path, load_external_data=False)


def existing_values(graph: onnx.GraphProto) -> set[str]:
    """Every value name of a (main) graph: node outputs, initializers, graph inputs and outputs."""
    names = {o for node in graph.node for o in node.output if o}
    names.update(t.name for t in graph.initializer)
    names.update(vi.name for vi in graph.input)
    names.update(vi.name for vi in graph.output)
    return names


class OrtRuntime(Runtime):
    """onnxruntime CPU. Intermediates are extra graph outputs of a throw-away session, so callers
    ask for them in chunks and memory stays bounded; with optimizations on, only values that
    survive ORT's optimizer are asked for (the others are absent from the result).

    After `compare_every_value()` every value is asked for anyway, which stops ORT's fusions
    around each one: right when ORT is compared with itself (two versions of a model,
    `--against-model`), where its fusions are not the question and NCHWc would otherwise hide
    most values."""

    def __init__(self, name: str, model: onnx.ModelProto, optimize: bool = True):
        super().__init__(name, model)
        self.optimize = optimize
        self.optimized_values_only = True
        self._session = None
        self._checked = False  # check_for_ort has passed on the model
        self._types: dict[str, int] | None = None
        self._surviving: set[str] | None = None
        # what sessions are built from: a proto without large weights + the folder of their data
        self._proto, self._folder = model, None
        path = model_file(model)
        if path is not None:
            self._folder = os.path.dirname(path)
        elif model.ByteSize() > PROTO_LIMIT:
            self._proto, self._folder = spill_weights(model)
            weakref.finalize(self, shutil.rmtree, self._folder, ignore_errors=True)

    def _level(self):
        import onnxruntime as ort

        return (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if self.optimize
                else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)

    def _options(self):
        return session_options(self._level(), external_folder=self._folder)

    def _new_session(self, model: onnx.ModelProto):
        self._check()  # `model` is the model, or it with more outputs
        return new_session(model.SerializeToString(), self._options())

    def _check(self) -> None:
        if not self._checked:
            check_for_ort(self._proto)
            self._checked = True

    def surviving_values(self) -> set[str] | None:
        """Values of the model that still exist in ORT's optimized graph (None for ort-noopt,
        where every value survives, and after `compare_every_value()`). Learnt once by
        writing the optimized model; values a fusion removed, or that a layout transform (NCHWc)
        renamed, are not in the set."""
        if not (self.optimize and self.optimized_values_only):
            return None
        if self._surviving is None:
            self._check()
            try:
                graph = optimized_model(self._proto.SerializeToString(), self._options()).graph
            except Exception as exc:  # ORT raises its own exception types
                raise RuntimeFailure(self.name, f"cannot write its optimized graph: "
                                                f"{type(exc).__name__}: {_first_line(exc)}") from exc
            self._surviving = existing_values(graph)
        return self._surviving

    def compare_every_value(self) -> None:
        self.optimized_values_only = False

    def intermediates(self, feeds, names: list[str]) -> dict:
        surviving = self.surviving_values()
        if surviving is not None:
            names = [n for n in names if n in surviving]
        if not names:
            return {}
        return self.run(feeds, list(names))

    def _run(self, feeds, names):
        if names is None:
            if self._session is None:
                self._session = self._new_session(self._proto)
            return dict(zip(self.output_names, self._session.run(None, feeds)))
        if self._types is None:
            self._types = elem_types(self._proto)
        session = self._new_session(with_outputs(self._proto, names, self._types))
        try:
            return dict(zip(names, session.run(list(names), feeds)))
        finally:
            del session

    def close(self):
        self._session = None


def spill_weights(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """(a copy of `model` whose main-graph initializers of SPILL_MIN_BYTES or more are external
    data in a new temporary folder, that folder). The copy is assembled field by field so each
    weight is written once and never duplicated in memory; the caller removes the folder."""
    from onnx import numpy_helper

    out = onnx.ModelProto()
    _copy_fields(model, out, skip="graph")
    _copy_fields(model.graph, out.graph, skip="initializer")
    folder = tempfile.mkdtemp(prefix="graphkit-ort-weights-")
    offset = 0
    try:
        with open(os.path.join(folder, "weights.data"), "wb") as data:
            for t in model.graph.initializer:
                if t.data_location == onnx.TensorProto.EXTERNAL or t.ByteSize() < SPILL_MIN_BYTES:
                    out.graph.initializer.append(t)
                    continue
                raw = t.raw_data if t.HasField("raw_data") else numpy_helper.to_array(t).tobytes()
                pad = -offset % 64  # every tensor starts aligned, whatever the sizes before it
                data.write(b"\0" * pad + raw)
                offset += pad
                header = out.graph.initializer.add(name=t.name, data_type=t.data_type, dims=t.dims,
                                                   data_location=onnx.TensorProto.EXTERNAL)
                for key, value in (("location", "weights.data"), ("offset", str(offset)), ("length", str(len(raw)))):
                    header.external_data.add(key=key, value=value)
                offset += len(raw)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return out, folder


def _copy_fields(src, dst, skip: str) -> None:
    """Every set field of `src` but `skip` into `dst` (a shallow assembly, one level deep)."""
    for field, value in src.ListFields():
        if field.name == skip:
            continue
        repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == field.LABEL_REPEATED
        if repeated:
            getattr(dst, field.name).extend(value)
        elif field.type == field.TYPE_MESSAGE:
            getattr(dst, field.name).CopyFrom(value)
        else:
            setattr(dst, field.name, value)
