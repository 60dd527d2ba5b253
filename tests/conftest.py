"""Suite-wide pytest hooks: the report says how many ONNX conformance cases ran natively."""
from __future__ import annotations

_CONFORMANCE = "test_conformance.py::test_conformance_case"


def pytest_terminal_summary(terminalreporter):
    counts = {}
    for outcome in ("passed", "failed", "skipped"):
        counts[outcome] = sum(1 for r in terminalreporter.stats.get(outcome, [])
                              if _CONFORMANCE in r.nodeid and r.when in ("call", "setup"))
    if any(counts.values()):
        from tests.refruntime.test_conformance import _all_cases

        terminalreporter.write_line(
            f"ONNX conformance on native kernels: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['skipped']} excluded (tests/refruntime/conformance_exclusions.py), "
            f"of {len(_all_cases())} node cases in onnx {__import__('onnx').__version__}")
