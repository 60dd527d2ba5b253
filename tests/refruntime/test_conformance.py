"""The official ONNX node conformance cases, for every op refruntime implements natively.

Cases are built in memory by onnx.backend.test.case.node.collect_testcases; each is run with
fallback disabled, so a pass proves the native kernel, at the case's own rtol/atol.
"""
from __future__ import annotations

import functools
import warnings

import numpy as np
import onnx
import pytest

from refruntime import Session
from refruntime.plan import node_subgraphs
from refruntime.registry import find_native, normalize_domain
from tests.refruntime.conformance_exclusions import exclusion_reason


@functools.lru_cache(maxsize=1)
def _all_cases():
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {c.name: c for c in collect_testcases(None) if c.kind == "node" and c.model is not None}


def _all_native(graph: onnx.GraphProto, opsets: dict[str, int]) -> bool:
    for node in graph.node:
        domain = normalize_domain(node.domain)
        if domain not in opsets or find_native(domain, node.op_type, opsets[domain]) is None:
            return False
        if not all(_all_native(g, opsets) for g in node_subgraphs(node)):
            return False
    return True


def native_case_names() -> list[str]:
    names = []
    for name, case in sorted(_all_cases().items()):
        opsets = {normalize_domain(o.domain): o.version for o in case.model.opset_import}
        if _all_native(case.model.graph, opsets):
            names.append(name)
    return names


def as_numpy(value):
    """Case data may be TensorProtos (bfloat16, float8, int4... built with make_tensor) or lists."""
    if isinstance(value, onnx.TensorProto):
        return onnx.numpy_helper.to_array(value)
    if isinstance(value, list):
        return [as_numpy(v) for v in value]
    return value


def assert_matches(name: str, got, expected, rtol: float, atol: float) -> None:
    if isinstance(expected, list):  # sequence outputs
        assert isinstance(got, list) and len(got) == len(expected), f"{name}: sequence length differs"
        for g, e in zip(got, expected):
            assert_matches(name, g, e, rtol, atol)
        return
    if expected is None:
        assert got is None, f"{name}: expected an empty optional"
        return
    expected = np.asarray(expected)
    got = np.asarray(got)
    assert got.shape == expected.shape, f"{name}: shape {got.shape} != expected {expected.shape}"
    if expected.dtype.kind in "OSU":
        np.testing.assert_array_equal(got, expected, err_msg=name)
        return
    assert got.dtype == expected.dtype, f"{name}: dtype {got.dtype} != expected {expected.dtype}"
    if expected.dtype.kind in "biu":
        np.testing.assert_array_equal(got, expected, err_msg=name)
    else:
        np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64),
                                   rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("case_name", native_case_names())
def test_conformance_case(case_name):
    reason = exclusion_reason(case_name)
    if reason:
        pytest.skip(reason)
    case = _all_cases()[case_name]
    session = Session(case.model, allow_fallback=False)
    input_names = [i.name for i in case.model.graph.input]
    for inputs, outputs in case.data_sets:
        feeds = {n: as_numpy(v) for n, v in zip(input_names, inputs)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            got = session.run(feeds)
        for out_name, expected in zip(session.output_names, outputs):
            assert_matches(f"{case_name}:{out_name}", got[out_name], as_numpy(expected), case.rtol, case.atol)


def test_conformance_coverage_is_reported():
    """Prints how many conformance cases run natively (shown with -rA / in the CI log)."""
    total = len(_all_cases())
    native = native_case_names()
    excluded = [n for n in native if exclusion_reason(n)]
    print(f"\nconformance: {len(native) - len(excluded)} of {total} cases run on native kernels "
          f"({len(excluded)} excluded)")
    assert len(native) > 0
