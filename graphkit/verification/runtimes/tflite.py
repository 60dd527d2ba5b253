"""The `tflite` runtime: the model converted by `graphkit convert --to tflite`, run by TFLite's
interpreter (builtin ops, float32, the XNNPACK delegate TFLite applies by default on CPU).

Outputs come from the flatbuffer `graphkit convert` writes (or the file it wrote). Intermediates:
TFLite's converter fuses and renames tensors, so values are asked for the way ORT's are, as extra
outputs: the model is converted again with those ONNX values as signature outputs (in ONNX's
layout, transposed back from channels-last inside the graph), one conversion per chunk of names.
An extra output can keep TFLite from fusing an activation into the op before it; those fusions
(Conv+Relu, Add+Relu) do not change float results. Replays: as for `tf` (runtimes/tf.py).
"""
from __future__ import annotations

import gc
import warnings

import numpy as np
import onnx

from graphkit.verification.runtimes.tf import ConvertedRuntime, numpy_feeds


def interpreter(tf, content: bytes):
    """A tf.lite.Interpreter on the flatbuffer, its tensors allocated (its deprecation notice and
    the native log line of the XNNPACK delegate, created on allocation, hidden)."""
    from graphkit.convert.tfenv import quiet_native

    with warnings.catch_warnings(), quiet_native():
        warnings.simplefilter("ignore")
        it = tf.lite.Interpreter(model_content=content)
        it.allocate_tensors()
    return it


def run_signature(tf, content: bytes, args: dict) -> dict:
    """Run the flatbuffer's serving signature on {key: array}; {key: array}."""
    from graphkit.convert.tfenv import quiet_native

    runner = interpreter(tf, content).get_signature_runner()
    with quiet_native():
        return runner(**args)


class TfliteRuntime(ConvertedRuntime):
    """The ONNX model as a TFLite flatbuffer (graphkit.convert), run by TFLite's interpreter."""

    target = "tflite"

    def __init__(self, name: str, model: onnx.ModelProto, path: str | None = None, constant_inputs=frozenset()):
        """`path`: a .tflite file `graphkit convert --to tflite` wrote from `model`, whose outputs
        are then the ones compared (default: the model is converted in memory)."""
        super().__init__(name, model, constant_inputs)
        self._runner = None
        self._path = path

    def _run(self, feeds, names):
        from graphkit.convert.api import tflite_bytes
        from graphkit.convert.tfenv import quiet_native

        graph = self._graph_for(feeds)
        tf = graph.tf
        args = numpy_feeds(graph, feeds)
        if names is None:
            if self._runner is None:
                if self._path is None:
                    content, self._keys = tflite_bytes(graph)
                else:
                    with open(self._path, "rb") as f:
                        content, self._keys = f.read(), graph.output_keys
                self._runner = interpreter(tf, content).get_signature_runner()
            with quiet_native():
                got = self._runner(**args)
            return {n: np.asarray(got[k]) for n, k in self._keys.items()}
        names = self._known(names)
        if not names:
            return {}
        content, keys = tflite_bytes(graph, outputs=names)
        got = run_signature(tf, content, args)
        values = {n: np.array(got[k]) for n, k in keys.items()}  # copies: the interpreter's buffers go
        del content, got
        gc.collect()  # the chunk's flatbuffer and interpreter go now, not at some later collection
        return values

    def close(self):
        self._runner = None
