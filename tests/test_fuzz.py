"""Fuzzing: hostile model files through load -> inspect -> save -> simplify -> Session -> run.

Every case must succeed or raise the project's own errors; a foreign exception, a hang (per-case
timeout), a crash of the worker process (segfault, OOM) or a CLI exit other than 0/2 fails the test
with the case's description and a saved reproducer. The budget is fixed and seeded, so CI runs the
same cases every time (well under two minutes). Longer runs: `python tools/fuzz.py --minutes 10`.

The commands a user types are driven too, each in a subprocess (tests/fuzzing.py CliRunner): the
family seeds unmutated through `run` and `verify` (they must pass), then a few mutated models per
command (GK_FUZZ_CLI_CASES) that must answer exit 0/1/2, one stderr line on exit 2, no traceback.
"""
from __future__ import annotations

import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzzing import (
    CliRunner,
    Runner,
    all_seeds,
    built_seeds,
    cases,
    family_failures,
    family_seeds,
    mutate,
    random_graph_model,
)

SEED = 20240601
MUTATION_CASES = int(os.environ.get("GK_FUZZ_CASES", "2500"))
HYPOTHESIS_EXAMPLES = int(os.environ.get("GK_FUZZ_EXAMPLES", "300"))
CLI_CASES = int(os.environ.get("GK_FUZZ_CLI_CASES", "3"))  # mutated models per CLI command


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


# -- the CLI, in subprocesses -------------------------------------------------------------------------
def test_every_family_builds():
    """One model of each family the project runs is in the corpus (the libraries are dev extras)."""
    assert not family_failures(), family_failures()
    assert {name.split("/")[1] for name in family_seeds()} >= {
        "quant_qdq", "quant_qoperator", "bert_contrib", "sklearn_forest", "sklearn_svm", "float16"}


@pytest.mark.parametrize("command", ["run", "verify"])
def test_family_seeds_pass_through_the_cli(tmp_path, command):
    cli = CliRunner()
    for name, data in family_seeds().items():
        assert cli.check(data, command) is None, name
    assert set(cli.outcomes) == {f"{command}: exit 0"}, cli.outcomes


def test_cli_commands_answer_mutated_models_with_one_line(tmp_path):
    """A few mutated models (built seeds and families, taking turns) through every command."""
    cli = CliRunner()
    seeds = {name: m.SerializeToString() for name, m in built_seeds().items()}
    seeds.update(family_seeds())
    names = sorted(seeds)
    findings, count = [], 0
    for k, command in enumerate(cli.commands):
        for j in range(1 if command == "convert" else CLI_CASES):  # convert imports TensorFlow: seconds
            name = names[(k * CLI_CASES + j) % len(names)]
            data, what = mutate(seeds[name], random.Random(SEED + 1_009 * k + j))
            result = cli.check(data, command)
            count += 1
            if result is not None:
                findings.append((f"{name}: {what}", *result, data))
    assert not findings, _report(findings, tmp_path)
    assert sum(cli.outcomes.values()) == count
