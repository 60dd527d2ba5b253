"""Cut a model down to the smallest subgraph that still shows a mismatch (automatic `debug reduce`).

Start from the origin node alone, fed with the baseline's upstream values as graph inputs; if that
does not reproduce (a runtime may only go wrong on a fused pattern), grow the subgraph one level of
producers at a time, then one level of consumers. The first candidate that reproduces is kept.
"""
from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import helper

from graphkit.verification.feeds import save_feeds
from graphkit.verification.graph import PROTO_LIMIT, NodeInfo, elem_types, extract_nodes, initializer_array
from graphkit.verification.runtimes import Runtime, RuntimeFailure, make_runtime
from graphkit.verification.tolerance import Tolerances

MAX_UPSTREAM_LEVELS = 3


class ValueSource:
    """Values of the baseline run by name: feeds, initializers, or one capture re-run."""

    def __init__(self, model: onnx.ModelProto, baseline: Runtime, feeds: dict):
        self.model, self.baseline, self.feeds = model, baseline, feeds
        self.inits = {t.name: t for t in model.graph.initializer}
        self.types = elem_types(model)
        self.cache: dict[str, np.ndarray] = {}

    def get(self, names: list[str]) -> dict[str, np.ndarray]:
        missing = [n for n in names if n not in self.cache and n not in self.feeds and n not in self.inits]
        if missing:
            self.cache.update(self.baseline.intermediates(self.feeds, missing))
        out = {}
        for n in names:
            if n in self.feeds:
                out[n] = np.asarray(self.feeds[n])
            elif n in self.inits:  # a weight left in its file is read from there
                out[n] = initializer_array(self.model, self.inits[n])
            else:
                out[n] = self._declared(n, self.cache[n])
        return out

    def _declared(self, name, value):
        """A float64 oracle value is cast back to the dtype the model declares for it."""
        t = self.types.get(name)
        if t and isinstance(value, np.ndarray):
            dtype = helper.tensor_dtype_to_np_dtype(t)
            if value.dtype != dtype:
                return value.astype(dtype)
        return value


def _external_inputs(nodes: list[NodeInfo], model: onnx.ModelProto) -> list[str]:
    """Values the nodes read that are neither produced by them nor initializers of `model`."""
    produced = {n for info in nodes for n in info.outputs}
    seen = {t.name for t in model.graph.initializer}
    out = []
    for info in nodes:
        for n in info.reads:
            if n not in produced and n not in seen:
                seen.add(n)
                out.append(n)
    return out


def _candidates(all_nodes: list[NodeInfo], origin: NodeInfo):
    producer = {n: info for info in all_nodes for n in info.outputs}
    position = {info.index: i for i, info in enumerate(all_nodes)}
    current = {origin.index: origin}
    yield [origin]
    for _ in range(MAX_UPSTREAM_LEVELS):
        grown = dict(current)
        for info in current.values():
            for n in info.reads:
                p = producer.get(n)
                if p is not None:
                    grown[p.index] = p
        if len(grown) == len(current):
            break
        current = grown
        yield sorted(current.values(), key=lambda i: position[i.index])
    consumers = [info for info in all_nodes if any(n in origin.outputs for n in info.reads)]
    if consumers:
        yield sorted([origin, *consumers], key=lambda i: position[i.index])


def _run_outputs(rt_name: str, model: onnx.ModelProto, feeds: dict, module=None) -> dict:
    rt = make_runtime(rt_name, model, module)
    try:
        return rt.run(feeds)
    finally:
        rt.close()


def reduce_mismatch(model: onnx.ModelProto, nodes: list[NodeInfo], origin: NodeInfo, source: ValueSource,
                    baseline: str, suspects: list[str], tols: Tolerances, against: onnx.ModelProto | None = None,
                    against_nodes: list[NodeInfo] | None = None, out_dir: str | None = None) -> dict:
    """Find the smallest reproducing subgraph around `origin`; save it when `out_dir` is given.

    Runtime mode: the subgraph runs on `baseline` and each suspect runtime. Against-model mode:
    the matching nodes of `against` (by output name) run on the same runtime as the reference.
    """
    result = {"reproduces": False, "nodes": [], "stats": {}}
    for candidate in _candidates(nodes, origin):
        inputs = source.get(_external_inputs(candidate, model))
        reduced = extract_nodes(model, candidate, inputs)
        feeds = {vi.name: inputs[vi.name] for vi in reduced.graph.input}
        reference_model = reduced
        if against is not None:
            wanted = {n for info in candidate for n in info.outputs}
            matched = [info for info in (against_nodes or []) if set(info.outputs) & wanted]
            if not matched:
                break
            ref_inputs = source.get(_external_inputs(matched, against))
            reference_model = extract_nodes(against, matched, ref_inputs)
            feeds.update({vi.name: ref_inputs[vi.name] for vi in reference_model.graph.input})
        try:
            expected = _run_outputs(baseline, reference_model, _only(reference_model, feeds))
            stats, outputs = {}, {}
            for rt in (suspects if against is None else [baseline]):
                outputs[rt] = _run_outputs(rt, reduced, _only(reduced, feeds))
                stats[rt] = {n: tols.compare(n, expected.get(n), v) for n, v in outputs[rt].items() if n in expected}
        except RuntimeFailure as exc:
            result["error"] = str(exc)
            continue
        reproduces = any(not s.within for per in stats.values() for s in per.values())
        result.update(nodes=[i.label for i in candidate], ops=[i.op for i in candidate],
                      reproduces=reproduces,
                      stats={rt: {n: s.to_dict() for n, s in per.items()} for rt, per in stats.items()})
        if reproduces:
            if out_dir:
                _save(out_dir, reduced, feeds, reference_model if against is not None else None, result)
            return result
    return result


def _only(model: onnx.ModelProto, feeds: dict) -> dict:
    names = {vi.name for vi in model.graph.input}
    return {k: v for k, v in feeds.items() if k in names}


def _save(out_dir: str, reduced: onnx.ModelProto, feeds: dict, against: onnx.ModelProto | None, result: dict):
    os.makedirs(out_dir, exist_ok=True)
    model_path = os.path.join(out_dir, "reduced.onnx")
    inputs_path = os.path.join(out_dir, "reduced_inputs.npz")
    _save_model(reduced, model_path)
    save_feeds(inputs_path, feeds)
    result["model_path"], result["inputs_path"] = model_path, inputs_path
    if against is not None:
        result["against_path"] = os.path.join(out_dir, "reduced_against.onnx")
        _save_model(against, result["against_path"])


def _save_model(model: onnx.ModelProto, path: str) -> None:
    """One file, or its weights beside it when they pass protobuf's 2 GiB limit (a few LLM layers)."""
    big = model.ByteSize() > PROTO_LIMIT
    onnx.save(model, path, save_as_external_data=big, location=os.path.basename(path) + ".data" if big else None)
