"""ort_fusion (`graphkit simplify --target ort`, `gk.simplify(model, target="ort")`): after graphkit's
own simplification, onnxruntime's transformer optimizer (onnxruntime.transformers.optimizer) fuses
attention, SkipLayerNormalization, BiasGelu, FastGelu, EmbedLayerNormalization... into the
com.microsoft ops that only onnxruntime (and refruntime) run.

This delegates to onnxruntime's optimizer: its Python fusions only (opt_level 0; no onnxruntime
session optimizations, which are node-level and machine-specific), for `model_type` ("bert" fits
BERT-like encoders and ViT; "gpt2", "t5", "bart", "vit", ... as onnxruntime names them).
The domains of the ops it writes are imported (it leaves com.microsoft out, which onnxruntime
tolerates and the checker does not). Its pattern fusions are checked, not trusted: the fused model and the model before it are run on
onnxruntime with the same seeded inputs, at two sizes of every symbolic dim; when an output
differs beyond tolerance the fusion is dropped (the model stays as graphkit simplified it) and
the report notes why ("ort_fusion_rejected").
"""
from __future__ import annotations

import numpy as np

from graphkit.errors import UsageError
from graphkit.passes.base import Pass, Report

ATOL, RTOL = 1e-4, 1e-3
_TWO_GIB = 2 ** 31


class OrtFusion(Pass):
    name = "ort_fusion"

    def __init__(self, model_type: str = "bert", check: bool = True, seed: int = 0):
        self.model_type, self.check, self.seed = model_type, check, seed

    def run(self, model, report: Report) -> None:
        try:
            from onnxruntime.transformers import optimizer
        except ImportError as exc:
            raise UsageError(f"--target ort needs onnxruntime (with its transformers tools): {exc}") from None
        if self.model_type not in optimizer.MODEL_TYPES:
            raise UsageError(f"unknown onnxruntime model type {self.model_type!r}; one of: "
                             f"{', '.join(sorted(optimizer.MODEL_TYPES))}")
        before = _inline_proto(model)
        import logging

        quiet = logging.getLogger("onnxruntime.transformers")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            optimized = optimizer.optimize_model(before, model_type=self.model_type, opt_level=0,
                                                 use_gpu=False, only_onnxruntime=False)
        except Exception as exc:  # noqa: BLE001 - onnxruntime's optimizer failing is a note, not a crash
            report.note("ort_fusion_failed", error=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300])
            return
        finally:
            quiet.setLevel(level)
        fused = optimized.model
        stats = {k: v for k, v in (optimized.get_fused_operator_statistics() or {}).items() if v}
        if not stats and len(fused.graph.node) == len(before.graph.node):
            return
        if self.check:
            problem = _compare(before, fused, self.seed)
            if problem is not None:
                report.note("ort_fusion_rejected", model_type=self.model_type, reason=problem)
                return
        _replace_model(model, fused)
        for op, count in sorted(stats.items()):
            report.counts[f"ort_{op}"] += int(count)
            report.details.append({"action": f"ort_{op}", "count": int(count), "model_type": self.model_type})
        if not stats:
            report.add("ort_rewrote", model_type=self.model_type)


def _inline_proto(model):
    from graphkit.io.to_proto import model_to_proto

    proto = model_to_proto(model, lambda name, t: t.to_proto(name, inline=True))
    if proto.ByteSize() >= _TWO_GIB:
        raise UsageError("--target ort needs the model in memory as one protobuf (under 2 GiB)")
    return proto


def _replace_model(model, proto) -> None:
    from graphkit.ir.model import Model

    new = Model.from_proto(proto)
    used = {n.domain for n in new.graph.walk()} - {"", "ai.onnx"}
    for domain in used:  # onnxruntime's optimizer writes com.microsoft nodes without importing the domain
        new.opset_imports.setdefault(domain, 1)
    for slot in Model.__slots__:
        if slot != "source_path":
            setattr(model, slot, getattr(new, slot))


def _feeds(proto, size: int, seed: int) -> dict:
    """Seeded inputs; the k-th distinct symbolic dim is size + k (so batch and sequence differ)."""
    from onnx import helper

    inits = {t.name for t in proto.graph.initializer}
    rng = np.random.default_rng(seed)
    feeds, sizes = {}, {}
    for vi in proto.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type))
        shape = [d.dim_value if d.HasField("dim_value") else sizes.setdefault(d.dim_param or f"?{vi.name}{i}",
                                                                               size + len(sizes))
                 for i, d in enumerate(tt.shape.dim)]
        if dtype.kind == "f":
            feeds[vi.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            feeds[vi.name] = np.ones(shape, bool)
        elif "mask" in vi.name:
            feeds[vi.name] = np.ones(shape, dtype)  # a 0/1 attention mask: all attended
        else:
            feeds[vi.name] = rng.integers(0, 2, size=shape).astype(dtype)
    return feeds


def _compare(before, after, seed: int) -> str | None:
    """None if `after` gives `before`'s outputs on onnxruntime at two sizes, else what differs."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    from graphkit.verification.runtimes.ort import check_for_ort

    try:
        for m in (before, after):
            check_for_ort(m)
        sessions = [ort.InferenceSession(m.SerializeToString(), options, providers=["CPUExecutionProvider"])
                    for m in (before, after)]
    except Exception as exc:  # noqa: BLE001
        return f"onnxruntime cannot load it: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
    names = [o.name for o in before.graph.output]
    for size in (2, 3):
        feeds = _feeds(before, size, seed)
        try:
            want, got = (s.run(names, feeds) for s in sessions)
        except Exception as exc:  # noqa: BLE001
            return f"onnxruntime cannot run it: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        for name, a, b in zip(names, want, got):
            if a.shape != b.shape:
                return f"output {name!r}: shape {list(a.shape)} -> {list(b.shape)}"
            if a.dtype.kind == "f":
                if not np.allclose(b, a, atol=ATOL, rtol=RTOL, equal_nan=True):
                    return f"output {name!r}: max error {float(np.nanmax(np.abs(a - b))):.3g} at size {size}"
            elif not np.array_equal(a, b):
                return f"output {name!r} differs at size {size}"
    return None
