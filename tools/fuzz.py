"""Fuzz graphkit + refruntime with hostile model files for a while (a tool, not a test).

    python tools/fuzz.py --minutes 10                    # seed 0, findings saved to fuzz-findings/
    python tools/fuzz.py --minutes 60 --seed 7 --out /tmp/findings
    python tools/fuzz.py --minutes 5 --commands run,verify      # only these CLI commands
    python tools/fuzz.py --minutes 5 --no-cli                   # the in-process pipeline only
    python tools/fuzz.py --minutes 5 --no-cli --conformance test_roialign,test_dft   # those ops' models

Alternates mutated model files (byte-level and structured mutations of the seed corpus: models
built in code, one of each family the project runs, files of the onnx package; see
tests/fuzzing.py) and random small graphs. Every case runs through the in-process pipeline in a
worker process with a per-case timeout, and through one `graphkit` command in a subprocess of its
own (the commands take turns: inspect, simplify, run, verify, verify --per-node, quantize, convert
when it exists). A case that raises anything but the project's own errors, hangs, kills its process,
or makes a command answer other than exit 0/1/2 with one stderr line on exit 2 and no traceback, is
saved as <out>/<hash>.onnx with a .txt describing it. Same seed, same cases.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.fuzzing import (
    CLI_BOUND,
    CLI_TIMEOUT,
    CliRunner,
    Finding,
    Runner,
    all_seeds,
    cases,
    cli_commands,
    family_failures,
    random_graph_model,
)

FLOATS = [0.0, 1.0, -1.0, 0.5, 1e30, float("nan")]


def random_graphs(seed: int):
    i = 0
    while True:
        rng = random.Random(seed * 7_919 + i)
        model = random_graph_model(rng.randint, rng.choice, lambda r=rng: r.choice(FLOATS))
        yield f"random graph #{i} (seed {seed}): {[n.op_type for n in model.graph.node]}", model.SerializeToString()
        i += 1


def conformance_seeds(prefixes: list[str]) -> dict[str, bytes]:
    """onnx's node conformance models (built in memory) whose names start with a prefix; the
    `_expanded` function-body variants left out."""
    import warnings

    from onnx.backend.test.case.node import collect_testcases

    prefixes = tuple(p.strip() for p in prefixes if p.strip())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {f"node/{c.name}": c.model.SerializeToString() for c in collect_testcases(None)
                if c.kind == "node" and c.model is not None and c.name.startswith(prefixes)
                and "expanded" not in c.name}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="fuzz-findings", help="folder for crashing inputs")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-case timeout in seconds (in-process)")
    parser.add_argument("--cli-timeout", type=float, default=CLI_TIMEOUT,
                        help=f"--timeout given to run/verify (default {CLI_TIMEOUT:g})")
    parser.add_argument("--cli-bound", type=float, default=CLI_BOUND,
                        help=f"seconds a command may take before it counts as a hang (default {CLI_BOUND:g})")
    parser.add_argument("--commands", default=None,
                        help="comma-separated CLI commands to drive (default: all of "
                             f"{', '.join(cli_commands())})")
    parser.add_argument("--no-cli", action="store_true", help="only the in-process pipeline")
    parser.add_argument("--conformance", metavar="PREFIX,...", default=None,
                        help="seed corpus: onnx's node conformance models whose case names start with one of "
                             "these prefixes (e.g. test_roialign,test_dft), instead of the usual corpus")
    args = parser.parse_args(argv)

    commands = cli_commands(args.cli_timeout)
    if args.commands:
        wanted = [c.strip() for c in args.commands.split(",") if c.strip()]
        unknown = [c for c in wanted if c not in commands]
        if unknown:
            parser.error(f"unknown command(s) {unknown}; choose from {', '.join(commands)}")
        commands = {c: commands[c] for c in wanted}
    turns = [] if args.no_cli else list(commands)

    seeds = conformance_seeds(args.conformance.split(",")) if args.conformance else all_seeds()
    missing = [] if args.conformance else family_failures()
    print(f"corpus: {len(seeds)} seeds ({sum(n.startswith('family/') for n in seeds)} family models"
          + (f"; not built: {missing}" if missing else "") + f"); CLI commands: {', '.join(turns) or 'none'}",
          flush=True)
    runner = Runner(timeout=args.timeout)
    cli = CliRunner(bound=args.cli_bound, commands=commands)
    mutated, graphs = cases(args.seed, None, seeds), random_graphs(args.seed)
    start = time.monotonic()
    deadline = start + args.minutes * 60
    total, kinds, seen, findings, ran = 0, Counter(), set(), Counter(), Counter()
    try:
        while time.monotonic() < deadline:
            kind = "random graph" if total % 3 == 2 else "mutated file"
            label, data = next(graphs) if kind == "random graph" else next(mutated)
            results = [runner.check(data)]
            if turns:  # each kind of case takes the commands in turn (a shared counter would pair them)
                command = turns[kinds[kind] % len(turns)]
                ran[kind, command] += 1
                results.append(cli.check(data, command))
            kinds[kind] += 1
            total += 1
            for result in results:
                if result is None:
                    continue
                stage, error = result
                findings[stage] += 1
                path = Finding(label, stage, error, data).save(args.out)
                key = (stage, error.split("[")[0][:120])
                if key not in seen:
                    seen.add(key)
                    print(f"FINDING at {stage}: {error}\n    {label}\n    saved {path}", flush=True)
            if total % 500 == 0:
                print(f"... {total} cases, {time.monotonic() - start:.0f} s", flush=True)
    finally:
        runner.close()
    elapsed = time.monotonic() - start
    print(f"{total} cases in {elapsed / 60:.1f} min ({dict(kinds)}); {sum(findings.values())} finding(s), "
          f"{len(seen)} distinct" + (f": {dict(findings)}" if findings else ""))
    print("in-process outcomes of the cases that behaved:", dict(runner.outcomes.most_common()))
    if turns:
        print("CLI commands run (mutated files + random graphs):",
              {c: f"{ran['mutated file', c]}+{ran['random graph', c]}" for c in turns},
              "seconds:", {c: round(cli.seconds[c]) for c in turns})
        print("CLI outcomes of the answers that behaved:", dict(cli.outcomes.most_common()))
        print(f"CLI runs stopped by --timeout {args.cli_timeout:g}: {len(cli.slow)}")
        for command, line in cli.slow[:10]:
            print(f"    {command}: {line}")
    return 1 if seen else 0


if __name__ == "__main__":
    sys.exit(main())
