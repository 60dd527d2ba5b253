"""The one place that lists ONNX conformance cases refruntime's native kernels do not run, and why.

A case is run when every node in its model (subgraphs included) has a native kernel. Cases listed
here are skipped with their reason shown in the test report. Keep each reason specific.
"""

# case name -> reason
EXCLUDED: dict[str, str] = {}

# case-name prefixes excluded as a family (reason applies to every case starting with it)
EXCLUDED_PREFIXES: dict[str, str] = {
}


def exclusion_reason(case_name: str) -> str | None:
    if case_name in EXCLUDED:
        return EXCLUDED[case_name]
    for prefix, reason in EXCLUDED_PREFIXES.items():
        if case_name.startswith(prefix):
            return reason
    return None
