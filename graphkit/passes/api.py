"""The functional API of the passes: `gk.fold_constants(model)`, `gk.simplify(model, verify=True)`, ...

Each mutates the model in place and returns its Report. (They live here, not in passes/__init__,
so that `graphkit.passes.fuse` stays the module of the fuse pass.)
"""
from __future__ import annotations

from graphkit.passes.base import Pass, Report
from graphkit.passes.fold_constants import DEFAULT_SIZE_LIMIT, FoldConstants
from graphkit.passes.fuse import Fuse
from graphkit.passes.prune import Prune
from graphkit.passes.simplify import Simplify
from graphkit.passes.toposort import Toposort


def run_pass(pass_: Pass, model, *, verify: bool = False, atol: float | None = None,
             rtol: float | None = None, seed: int = 0) -> Report:
    """Run a pass on `model` in place; with verify=True compare outputs before/after (raises
    VerificationError). The verification result is in `report.verification`."""
    from graphkit.ir.model import Model

    if not isinstance(model, Model):
        from graphkit.errors import UsageError

        raise UsageError(f"{pass_.name} needs a graphkit Model (gk.load(...)), got {type(model).__name__}")
    before = None
    if verify:
        from graphkit.passes.check import snapshot

        before = snapshot(model)
    report = pass_(model).report
    report.verification = None
    if verify:
        from graphkit.passes.check import ATOL, RTOL, verify_equivalent

        report.verification = verify_equivalent(before, model, atol=ATOL if atol is None else atol,
                                                 rtol=RTOL if rtol is None else rtol, seed=seed,
                                                 what=pass_.name)
    return report


def fold_constants(model, *, size_limit: float = DEFAULT_SIZE_LIMIT, fold_dequantize: bool = False,
                   verify: bool = False, **kw) -> Report:
    """Evaluate constant subexpressions (see graphkit.passes.fold_constants). Quantization nodes
    (QuantizeLinear/DequantizeLinear of weights) are kept unless `fold_dequantize=True`."""
    return run_pass(FoldConstants(size_limit=int(size_limit), fold_dequantize=fold_dequantize), model,
                    verify=verify, **kw)


def prune(model, *, verify: bool = False, **kw) -> Report:
    """Remove dead nodes, identities, inference Dropout, unused/duplicate initializers."""
    return run_pass(Prune(), model, verify=verify, **kw)


def fuse(model, *, verify: bool = False, **kw) -> Report:
    """Conv+BN, Conv+Mul/Add, BN+Mul/Add, MatMul+Add -> Gemm."""
    return run_pass(Fuse(), model, verify=verify, **kw)


def toposort(model, *, verify: bool = False, **kw) -> Report:
    """Stable topological order of every graph (GraphError naming a cycle)."""
    return run_pass(Toposort(), model, verify=verify, **kw)


def simplify(model, *, size_limit: float = DEFAULT_SIZE_LIMIT, fold_dequantize: bool = False,
             target: str | None = None, ort_model_type: str = "bert", verify: bool = False, **kw) -> Report:
    """Rounds of fold (constants, shapes) -> fuse -> prune (no-ops, layout chains, dead nodes,
    duplicates) until nothing changes (quantization kept: see fold_constants). `target="ort"` then applies
    onnxruntime's transformer fusions for `ort_model_type` ("bert", "gpt2", "vit", ...), checked on
    onnxruntime: the result needs onnxruntime's com.microsoft ops (see graphkit.passes.ort_fusion)."""
    return run_pass(Simplify(size_limit=int(size_limit), fold_dequantize=fold_dequantize, target=target,
                             ort_model_type=ort_model_type), model, verify=verify, **kw)


__all__ = ["fold_constants", "fuse", "prune", "run_pass", "simplify", "toposort"]
