"""The data behind the HTML report's graph and per-node table, as one compact JSON object.

The page (report_assets/report.js) lays the graph out with dagre and draws it; this module only
says what there is: every node of the model (label, op, the values it reads and writes, its
weights, its attributes), every value (dtype and shape, who produces it), and what verification
found at each node (its status, its statistics per runtime, its local and inherited error, an
amplifier's factor and reason).

A node's status is its own error, from the replay (replay.py, findings.py):
  origin     it computes differently on its own (run alone from the baseline's inputs)
  amplifier  it diverges only because its inputs did (`f`: by how much it amplifies)
  out        out of tolerance but not replayed (a runtime stopped part-way)
  ok         every compared output within tolerance
  none       not compared (weights folded from constants, values nothing reads, fused away by ORT)

Dtypes and shapes come from onnx's shape inference on the model file when the report names one
that can be read, else on a graph rebuilt from the report's nodes; the shapes the runtimes
actually produced (the comparison's) take precedence.
"""
from __future__ import annotations

import math
import os

import numpy as np
import onnx
from onnx import helper

from graphkit.shape_inference import infer_shapes
from graphkit.verification.findings import amplifier_dict, origin_dict

MAX_MODEL_BYTES = 256 << 20  # a larger model file is not re-read for its types
STAT_KEYS = ("max_abs", "max_rel", "mean_abs", "cosine", "frac_out", "error_stat")
ATTRIBUTE_CHARS = 160


def page_data(report) -> dict:
    """{"runtimes", "baseline", "versus", "stat_keys", "values", "inputs", "outputs", "nodes"} for report.js."""
    comparisons = report.per_node or []
    infos = [nc.info for nc in comparisons]
    types = value_types(report, infos)
    values: list[list] = []
    ids: dict[str, int] = {}

    def vid(name: str, producer: int = -1) -> int:
        if name not in ids:
            dtype, shape = types.get(name, ("", None))
            ids[name] = len(values)
            values.append([name, dtype, shape, producer])
        elif producer >= 0:
            values[ids[name]][3] = producer
        return ids[name]

    for name in report.inputs:
        vid(name)
    for k, info in enumerate(infos):
        for name in info.outputs:
            vid(name, k)
    origins = _by_position(report.origins, origin_dict)
    amplifiers = _by_position(report.amplifiers, amplifier_dict)
    seen = {rt for nc in comparisons for rt in nc.stats}
    runtimes = [rt for rt in report.runtimes if rt in seen] + sorted(seen - set(report.runtimes))
    nodes = []
    for k, nc in enumerate(comparisons):
        info = nc.info
        produced_or_fed = [n for n in info.inputs if n in ids]
        weights = [n for n in info.inputs if n not in ids]
        node = {"n": info.label, "op": info.op, "in": [vid(n) for n in produced_or_fed],
                "out": [ids[n] for n in info.outputs], "s": _status(nc, origins, amplifiers)}
        if weights:
            node["w"] = _weights(info, weights, types)
        if info.node.domain:
            node["d"] = info.node.domain
        attrs = _attributes(info)
        if attrs:
            node["a"] = attrs
        stats = {rt: [_stats_row(ids[name], s) for name, s in per.items() if name in ids]
                 for rt, per in nc.stats.items()}
        if stats:
            node["x"] = stats
        for shape_source in nc.stats.values():  # the shape a runtime produced beats the inferred one
            for name, s in shape_source.items():
                if s.shape is not None and name in ids:
                    values[ids[name]][2] = list(s.shape)
        if nc.position in origins:
            node["o"] = origins[nc.position]
        if nc.position in amplifiers:
            node["amp"] = amplifiers[nc.position]
        nodes.append(node)
    read = {n for info in infos for n in info.inputs}
    outputs = [o.name for o in report.outputs] or [n for n in ids if values[ids[n]][3] >= 0 and n not in read]
    versus = (f"{os.path.basename(str(report.against_model))} (the reference model)" if report.against_model
              else report.baseline)
    return {"runtimes": runtimes, "baseline": report.baseline, "versus": versus, "stat_keys": list(STAT_KEYS),
            "values": values, "inputs": [ids[n] for n in report.inputs if n in ids],
            "outputs": [ids[n] for n in dict.fromkeys(outputs) if n in ids], "nodes": nodes}


def _by_position(replays, to_dict) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for r in replays:
        d = {k: _num(v) for k, v in to_dict(r).items() if k not in ("node", "op", "position")}
        out.setdefault(r.comparison.position, []).append(d)
    return out


def _status(nc, origins: dict, amplifiers: dict) -> str:
    if nc.position in origins:
        return "origin"
    if nc.position in amplifiers:
        return "amplifier"
    if not nc.stats:
        return "none"
    return "ok" if all(s.within for per in nc.stats.values() for s in per.values()) else "out"


def _stats_row(value_id: int, s) -> list:
    return [value_id, int(s.within), *(_num(getattr(s, k)) for k in STAT_KEYS), s.note]


def _num(x):
    """Floats to 4 significant digits (the page is about magnitudes); non-finite ones as strings."""
    if isinstance(x, bool) or not isinstance(x, float):
        if isinstance(x, dict):
            return {k: _num(v) for k, v in x.items()}
        return x
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return float(f"{x:.4g}")


def _attributes(info) -> str:
    """name=value, ...; tensors and graphs by their type only (never decoded: a Constant may be large)."""
    text = ", ".join(f"{a.name}={_attribute(a)}" for a in info.node.attribute)
    return text if len(text) <= ATTRIBUTE_CHARS else text[:ATTRIBUTE_CHARS - 3] + "..."


def _attribute(a: onnx.AttributeProto) -> str:
    kind = onnx.AttributeProto
    if a.type == kind.FLOAT:
        return f"{a.f:.6g}"
    if a.type == kind.INT:
        return str(a.i)
    if a.type == kind.STRING:
        return a.s.decode("utf-8", "replace")
    if a.type == kind.TENSOR:
        return f"tensor {type_text(_dtype_name(a.t.data_type), list(a.t.dims))}"
    if a.type == kind.GRAPH:
        return f"<graph {a.g.name}>"
    items = {kind.FLOATS: [f"{v:.6g}" for v in a.floats[:9]], kind.INTS: [str(v) for v in a.ints[:9]],
             kind.STRINGS: [v.decode("utf-8", "replace") for v in a.strings[:9]]}.get(a.type)
    if items is None:
        return kind.AttributeType.Name(a.type).lower()
    return "[" + ", ".join(items[:8]) + (", ..." if len(items) > 8 else "") + "]"


def _weights(info, names: list[str], types: dict) -> list[list]:
    """[[parameter name from the op's schema (or the value's), value name, type text, shape or None], ...]."""
    params = _parameters(info.op, info.node.domain)
    out = []
    for name in names:
        k = list(info.node.input).index(name)
        param = params[min(k, len(params) - 1)] if params else ""
        dtype, shape = types.get(name, ("", None))
        out.append([param or name, name, type_text(dtype, shape), shape])
    return out


_SCHEMA_INPUTS: dict[tuple[str, str], list[str]] = {}


def _parameters(op: str, domain: str) -> list[str]:
    key = (op, domain)
    if key not in _SCHEMA_INPUTS:
        try:
            _SCHEMA_INPUTS[key] = [p.name for p in onnx.defs.get_schema(op, domain=domain).inputs]
        except Exception:  # noqa: BLE001 - custom or unknown op: no parameter names
            _SCHEMA_INPUTS[key] = []
    return _SCHEMA_INPUTS[key]


def type_text(dtype: str, shape) -> str:
    """float32[1,3,224,224]; the dtype or the shape alone when only one is known."""
    dims = "" if shape is None else "[" + ",".join(str(d) for d in shape) + "]"
    return f"{dtype}{dims}"


def value_types(report, infos) -> dict[str, tuple[str, list | None]]:
    """{value name: (dtype, shape or None)} from onnx shape inference, best effort."""
    model = _model_file(report.model)
    if model is None:
        model = _rebuilt(report, infos)
    try:
        inferred = infer_shapes(model, strict_mode=False)
    except Exception:  # noqa: BLE001 - types are labels; a model inference rejects has none
        inferred = model
    g = inferred.graph
    out: dict[str, tuple[str, list | None]] = {}
    for t in g.initializer:
        out[t.name] = (_dtype_name(t.data_type), list(t.dims))
    for vi in [*g.input, *g.value_info, *g.output]:
        tt = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
        if tt is None or not tt.elem_type:
            continue
        shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tt.shape.dim] \
            if tt.HasField("shape") else None
        out[vi.name] = (_dtype_name(tt.elem_type), shape)
    for name, spec in report.inputs.items():  # what was fed
        out[name] = (spec.get("dtype", ""), spec.get("shape"))
    return out


def _model_file(label) -> onnx.ModelProto | None:
    if not isinstance(label, str) or not os.path.isfile(label):
        return None
    try:
        if os.path.getsize(label) > MAX_MODEL_BYTES:
            return None
        return onnx.load(label, load_external_data=False)
    except Exception:  # noqa: BLE001 - the report still renders without types
        return None


def _rebuilt(report, infos) -> onnx.ModelProto:
    """A model of the report's nodes, its fed inputs typed: enough for type propagation."""
    inputs = []
    for name, spec in report.inputs.items():
        try:
            elem = helper.np_dtype_to_tensor_dtype(np.dtype(spec["dtype"]))
        except Exception:  # noqa: BLE001,S112 - an input numpy cannot name stays untyped
            continue
        inputs.append(helper.make_tensor_value_info(name, elem, spec.get("shape")))
    graph = helper.make_graph([info.node for info in infos], "report", inputs, [])
    versions = {"": onnx.defs.onnx_opset_version()}
    for info in infos:
        domain = info.node.domain
        if domain not in ("", "ai.onnx"):
            try:
                since = onnx.defs.get_schema(info.op, domain=domain).since_version
            except Exception:  # noqa: BLE001 - a custom domain: inference skips its nodes
                since = 1
            versions[domain] = max(versions.get(domain, 1), since)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in versions.items()])


def _dtype_name(elem_type: int) -> str:
    try:
        return helper.tensor_dtype_to_np_dtype(elem_type).name
    except Exception:  # noqa: BLE001 - types numpy cannot name (strings, float8 without ml_dtypes)
        return onnx.TensorProto.DataType.Name(elem_type).lower()
