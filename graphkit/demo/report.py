"""Text output of the demo: a one-line model summary and the cross-runtime table. No torch here."""
from __future__ import annotations

import math

from graphkit.summary import summarize

RUNTIMES = ("ref", "ort", "torch", "tf", "tflite")


def one_line(name: str, model) -> str:
    """`name  opset 18  9 nodes: Conv x2, Relu x3, ...  421,642 params  input[batch,1,28,28] -> output[batch,10]`."""
    s = summarize(model)
    opset = s["opsets"].get("ai.onnx", "?")
    ops = ", ".join(op if n == 1 else f"{op} x{n}" for op, n in s["ops"].items())

    def io(v):
        shape = "?" if v["shape"] is None else ",".join(str(d) for d in v["shape"])
        return f"{v['name']}[{shape}]"

    inputs = ", ".join(io(v) for v in s["inputs"])
    outputs = ", ".join(io(v) for v in s["outputs"])
    return (f"{name}  opset {opset}  {s['nodes']} nodes: {ops}  {s['parameters']:,} params  "
            f"{inputs} -> {outputs}")


def _num(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.1e}"


def _ms(latency: dict, name: str) -> str:
    return f"{latency[name] * 1e3:.2f}" if name in latency else "-"


COLUMNS = ("model", "exporter", "batch", "pair", "max abs", "max rel", "result")
HEADER = (*COLUMNS, *(f"{r} ms" for r in RUNTIMES))


def format_table(rows, atol: float, rtol: float, repeats: int) -> str:
    """The table of `compare.compare_pairs` rows; latencies are shown on each group's first row,
    one column per runtime that ran (tf/tflite only when TensorFlow is installed)."""
    shown = [r for r in RUNTIMES if any(r in row.latency or r in row.pair for row in rows)] or list(RUNTIMES[:3])
    header = (*COLUMNS, *(f"{r} ms" for r in shown))
    cells, previous = [], None
    for row in rows:
        group = (row.model, row.exporter, row.batch)
        latencies = [_ms(row.latency, r) for r in shown] if group != previous else [""] * len(shown)
        previous = group
        verdict = "PASS" if row.result.ok else "FAIL" + (f" ({row.result.note})" if row.result.note else "")
        cells.append((row.model, row.exporter, str(row.batch), f"{row.pair[0]} vs {row.pair[1]}",
                      _num(row.result.max_abs), _num(row.result.max_rel), verdict, *latencies))
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header))]
    right = {2, 4, 5, *range(len(COLUMNS), len(header))}

    def line(c):
        return "  ".join(v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(c, widths)))

    title = (f"pass: |a - b| <= {atol:.0e} + {rtol:.0e} * |b| for every element (b = the pair's second "
             f"runtime); latency: median of {repeats} rounds of alternating ~0.1 s blocks of calls; ort = onnxruntime CPU, "
             f"default session options; tf / tflite = the SavedModel / .tflite file graphkit convert wrote, in "
             f"TensorFlow / TFLite's interpreter (XNNPACK), default threads")
    rule = "-" * len(line(header))
    return "\n".join([title, rule, line(header), rule, *(line(c).rstrip() for c in cells), rule])
