"""Fuzz graphkit + refruntime with hostile model files for a while (a tool, not a test).

    python tools/fuzz.py --minutes 10                    # seed 0, findings saved to fuzz-findings/
    python tools/fuzz.py --minutes 60 --seed 7 --out /tmp/findings

Alternates mutated model files (byte-level and structured mutations of seed models, see
tests/fuzzing.py) and random small graphs. Every case runs in a worker process with a per-case
timeout; a case that raises anything but the project's own errors, hangs, or kills the worker is
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

from tests.fuzzing import Finding, Runner, cases, random_graph_model

FLOATS = [0.0, 1.0, -1.0, 0.5, 1e30, float("nan")]


def random_graphs(seed: int):
    i = 0
    while True:
        rng = random.Random(seed * 7_919 + i)
        model = random_graph_model(rng.randint, rng.choice, lambda r=rng: r.choice(FLOATS))
        yield f"random graph #{i} (seed {seed}): {[n.op_type for n in model.graph.node]}", model.SerializeToString()
        i += 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="fuzz-findings", help="folder for crashing inputs")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-case timeout in seconds")
    args = parser.parse_args(argv)

    runner = Runner(timeout=args.timeout)
    mutated, graphs = cases(args.seed, None), random_graphs(args.seed)
    deadline = time.monotonic() + args.minutes * 60
    total, kinds, seen = 0, Counter(), set()
    try:
        while time.monotonic() < deadline:
            label, data = next(graphs) if total % 3 == 2 else next(mutated)
            result = runner.check(data)
            total += 1
            kinds["random graph" if label.startswith("random graph") else "mutated file"] += 1
            if result is not None:
                stage, error = result
                finding = Finding(label, stage, error, data)
                path = finding.save(args.out)
                key = (stage, error.split("[")[0][:120])
                if key not in seen:
                    seen.add(key)
                    print(f"FINDING at {stage}: {error}\n    {label}\n    saved {path}", flush=True)
            if total % 1000 == 0:
                print(f"... {total} cases", flush=True)
    finally:
        runner.close()
    print(f"{total} cases ({dict(kinds)}); {len(seen)} distinct finding(s)")
    print("outcomes of the cases that behaved:", dict(runner.outcomes.most_common()))
    return 1 if seen else 0


if __name__ == "__main__":
    sys.exit(main())
