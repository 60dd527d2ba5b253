"""The `tf` runtime: the model converted by `graphkit convert --to tf` and run by TensorFlow.

Outputs come from the SavedModel itself: the converted module is saved to a temporary folder (or
the folder `graphkit convert` wrote is used), loaded back and its serving signature called, as
TensorFlow Serving would. Intermediates come from the same conversion traced with those values as
extra outputs (graphkit.convert keeps every ONNX value name, and hands values back in ONNX's
layout: a tensor kept channels-last inside is transposed back to NCHW before it is compared), one
function per chunk of names.

A node replayed alone (`for_model`) is converted alone; its inputs that are constants of the whole
model (Constant nodes and what is computed from them) are constants of that conversion too, as they
are in the whole model's, so a converter that changes constants (TFLite saturates ±inf to
±3.4e38) shows at the node that reads them. A node the converter has no mapping for, or a missing
TensorFlow, is this runtime's failure (RuntimeFailure naming the node), not the model's.
"""
from __future__ import annotations

import gc
import shutil
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

from graphkit.verification.runtimes.base import Runtime, RuntimeFailure, _first_line


def converted_graph(name: str, model: onnx.ModelProto, target: str):
    """graphkit.convert's TFGraph of `model`, its failures as this runtime's RuntimeFailure."""
    try:
        from graphkit.convert.graph import TFGraph
        from graphkit.convert.tfenv import ConversionError

        return TFGraph(model, target=target)
    except ConversionError as exc:
        raise RuntimeFailure(name, str(exc)) from None
    except Exception as exc:  # anything TensorFlow raises while importing
        raise RuntimeFailure(name, f"{type(exc).__name__}: {_first_line(exc)}") from exc


def numpy_feeds(graph, feeds: dict) -> dict:
    """{signature key: array} in each input's declared dtype (the keys of graph.inputs)."""
    out = {}
    for spec in graph.inputs:
        if spec.name in feeds:
            value = np.asarray(feeds[spec.name])
            out[spec.key] = value if spec.dtype == "bfloat16" else value.astype(spec.dtype, copy=False)
    return out


def with_constant_inputs(model: onnx.ModelProto, values: dict) -> onnx.ModelProto:
    """`model` with these graph inputs turned into initializers holding `values`."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    kept = [vi for vi in out.graph.input if vi.name not in values]
    del out.graph.input[:]
    out.graph.input.extend(kept)
    out.graph.initializer.extend(numpy_helper.from_array(np.asarray(v), n) for n, v in values.items())
    return out


class ConvertedRuntime(Runtime):
    """What `tf` and `tflite` share: the conversion (graphkit.convert's TFGraph for `target`),
    intermediates by name, replays with the whole model's constants folded in."""

    target = "tf"

    def __init__(self, name: str, model: onnx.ModelProto, constant_inputs=frozenset()):
        super().__init__(name, model)
        self.constant_inputs = frozenset(constant_inputs)
        # with constant inputs, the conversion waits for their values (the first run)
        self._graph = None if self.constant_inputs else converted_graph(name, model, self.target)
        self._constants: set[str] | None = None

    def run(self, feeds, outputs=None) -> dict:
        """As Runtime.run; a conversion that fails while tracing (a node whose mapping declines the
        shapes it meets) is this runtime's failure too."""
        from graphkit.convert.tfenv import ConversionError

        try:
            return super().run(feeds, outputs)
        except ConversionError as exc:
            raise RuntimeFailure(self.name, str(exc)) from None

    def for_model(self, model):
        if self._constants is None:
            from graphkit.verification.per_node import constant_values

            self._constants = constant_values(self.model.graph)
        inputs = {vi.name for vi in model.graph.input}
        return type(self)(self.name, model, constant_inputs=self._constants & inputs)

    def _graph_for(self, feeds: dict):
        if self._graph is None:
            folded = with_constant_inputs(self.model, {n: feeds[n] for n in self.constant_inputs if n in feeds})
            self._graph = converted_graph(self.name, folded, self.target)
        return self._graph

    def _known(self, names: list[str]) -> list[str]:
        graph = self._graph
        known = set(graph.value_names()) | set(graph.initializers) | {s.name for s in graph.inputs}
        return [n for n in names if n in known]


class TfRuntime(ConvertedRuntime):
    """The ONNX model as a TensorFlow SavedModel (graphkit.convert), run by TensorFlow."""

    target = "tf"

    def __init__(self, name: str, model: onnx.ModelProto, saved_model: str | None = None,
                 constant_inputs=frozenset()):
        """`saved_model`: a folder `graphkit convert --to tf` wrote from `model`, whose outputs are
        then the ones compared (default: the model is converted and saved to a temporary folder)."""
        super().__init__(name, model, constant_inputs)
        self._serve = self._loaded = None
        self._folder: str | None = None
        self._given = saved_model

    def _saved(self):
        """The serving signature of the SavedModel, written and loaded once."""
        if self._serve is None:
            from graphkit.convert.api import saved_model_module
            from graphkit.convert.tfenv import quiet_native

            tf = self._graph.tf
            if self._given is None:
                module, self._keys = saved_model_module(self._graph)
                self._folder = tempfile.mkdtemp(prefix="graphkit-tf-")
                with quiet_native():
                    tf.saved_model.save(module, self._folder, signatures={"serving_default": module.serve})
            else:
                self._keys = self._graph.output_keys
            with quiet_native():
                self._loaded = tf.saved_model.load(self._given or self._folder)
            self._serve = self._loaded.signatures["serving_default"]
        return self._serve

    def _run(self, feeds, names):
        graph = self._graph_for(feeds)
        tf = graph.tf
        args = numpy_feeds(graph, feeds)
        if names is None:
            got = self._saved()(**{k: tf.constant(v) for k, v in args.items()})
            return {n: got[k].numpy() for n, k in self._keys.items()}
        names = self._known(names)
        if not names:
            return {}
        fn, keys = graph.function(outputs=names)
        got = fn(*[tf.constant(args[s.key]) for s in graph.inputs])
        values = {n: got[k].numpy() for n, k in keys.items()}
        del fn, got
        gc.collect()  # the traced chunk (its graph, its constants) goes now, not at some later collection
        return values

    def close(self):
        self._serve = self._loaded = None
        if self._folder:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
