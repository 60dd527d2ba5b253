"""Fuzzing: hostile model files through load -> inspect -> save -> simplify -> Session -> run.

Every case must succeed or raise the project's own errors; a foreign exception, a hang (per-case
timeout), a crash of the worker process (segfault, OOM) or a CLI exit other than 0/2 fails the test
with the case's description and a saved reproducer. The budget is fixed and seeded, so CI runs the
same cases every time (well under two minutes). Longer runs: `python tools/fuzz.py --minutes 10`.
"""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzzing import Runner, all_seeds, cases, random_graph_model

SEED = 20240601
MUTATION_CASES = int(os.environ.get("GK_FUZZ_CASES", "2500"))
HYPOTHESIS_EXAMPLES = int(os.environ.get("GK_FUZZ_EXAMPLES", "300"))


@pytest.fixture(scope="module")
def runner():
    r = Runner(timeout=30.0)
    yield r
    r.close()


def _report(findings, tmp_path) -> str:
    lines = []
    for label, stage, error, data in findings[:10]:
        path = tmp_path / f"repro_{len(lines)}.onnx"
        path.write_bytes(data)
        lines.append(f"{label}\n    stage {stage}: {error}\n    reproducer: {path}")
    return f"{len(findings)} case(s) misbehaved:\n" + "\n".join(lines)


def test_seed_models_behave(runner, tmp_path):
    """The unmutated seeds themselves (a baseline: most of them run)."""
    findings = []
    for name, data in all_seeds().items():
        result = runner.check(data)
        if result is not None:
            findings.append((name, *result, data))
    assert not findings, _report(findings, tmp_path)


def test_mutated_models_raise_only_project_errors(runner, tmp_path):
    findings = []
    for label, data in cases(SEED, MUTATION_CASES):
        result = runner.check(data)
        if result is not None:
            findings.append((label, *result, data))
    assert not findings, _report(findings, tmp_path)
    assert sum(runner.outcomes.values()) >= MUTATION_CASES  # every case was answered
    assert runner.outcomes["ran"] > 0  # the mutations do not all stop at the parser


@settings(max_examples=HYPOTHESIS_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.data())
def test_random_graphs_raise_only_project_errors(runner, tmp_path_factory, data):
    model = random_graph_model(
        lambda lo, hi: data.draw(st.integers(lo, hi)),
        lambda seq: data.draw(st.sampled_from(list(seq))),
        lambda: data.draw(st.sampled_from([0.0, 1.0, -1.0, 0.5, 1e30, float("nan")])),
    )
    blob = model.SerializeToString()
    result = runner.check(blob)
    if result is not None:
        folder = tmp_path_factory.mktemp("repro")
        pytest.fail(_report([(str(model.graph.node), *result, blob)], folder))
