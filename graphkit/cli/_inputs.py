"""What the commands that feed a model share (`run`, `verify`, the transforming commands'
`--verify`): the input arguments, their checks before any work, the model proto they read the
inputs' types from, and the comparison against saved (golden) outputs.

    --inputs FILE.npz|FILE.npy   --seed N   --shape NAME=D1,D2,...   --val-range [NAME:][LO,HI]
    --save-inputs FILE.npz       --load-outputs GOLDEN.npz

The feeds themselves come from graphkit/verification/feeds.py, the one implementation every
command (and gk.verify, and quantization's random calibration) uses.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field


def add_input_arguments(parser, *, golden: bool = True, save_inputs: bool = True, exclusive_seed: bool = False,
                        inputs_help: str = "input values: an .npz by input name, or an .npy for a one-input model "
                                           "(default: seeded random)") -> None:
    if exclusive_seed:
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--inputs", metavar="FILE.npz", help=inputs_help)
        source.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    else:
        parser.add_argument("--inputs", metavar="FILE.npz", help=inputs_help)
        parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    parser.add_argument("--shape", action="append", default=[], metavar="NAME=D1,D2,...",
                        help="shape of an input (repeatable): fills symbolic dims, overrides the declared shape; "
                             "given --inputs must have it")
    parser.add_argument("--val-range", action="append", default=[], metavar="[NAME:][LO,HI]",
                        help="range of random values (repeatable): NAME:[LO,HI] for one input, [LO,HI] for every "
                             "input; floats uniform in [LO,HI), integers LO..HI. Default: floats N(0,1), integers "
                             "0..9, or 0..rows-1 for indices into a table (a Gather)")
    if save_inputs:
        parser.add_argument("--save-inputs", metavar="FILE.npz", help="write the inputs used to an .npz "
                            "(feed them back with --inputs)")
    if golden:
        parser.add_argument("--load-outputs", metavar="GOLDEN.npz",
                            help="compare the outputs with saved ones (an .npz by output name, e.g. from "
                                 "--save-outputs); exit 1 when one is out of tolerance")


def add_tolerance_arguments(parser, *, atol_help: str | None = None, rtol_help: str | None = None) -> None:
    parser.add_argument("--atol", type=float, default=None, help=atol_help or
                        "absolute tolerance for every float type (default per dtype: float32 1e-5, float16 1e-3)")
    parser.add_argument("--rtol", type=float, default=None, help=rtol_help or
                        "relative tolerance for every float type (default per dtype: float32 1e-4, float16 1e-2)")
    parser.add_argument("--tol", action="append", default=[], metavar="NAME=ATOL,RTOL",
                        help="tolerance of one output (repeatable)")
    parser.add_argument("--check-error-stat", default="max", metavar="max|mean|median|QUANTILE",
                        help="statistic of the elementwise error that must be within tolerance (default max)")


@dataclass
class InputRequest:
    """The input arguments, parsed and checked before any work."""

    shapes: dict = field(default_factory=dict)
    val_ranges: dict = field(default_factory=dict)
    golden: dict | None = None     # output name -> array (--load-outputs)


def check_inputs(args, *, writes: tuple[str, ...] = (), input_file: bool = True) -> InputRequest:
    """Parse --shape/--val-range, check that input files exist and output files can be written
    (`writes`: names of more file arguments), load --load-outputs: UsageError before any work.
    `input_file=False`: `args.inputs` is not a file (extract's value names)."""
    from graphkit.verification.feeds import check_writable, load_arrays, parse_shapes, parse_val_ranges

    request = InputRequest(parse_shapes(getattr(args, "shape", None)),
                           parse_val_ranges(getattr(args, "val_range", None)))
    inputs = getattr(args, "inputs", None) if input_file else None
    if inputs:
        load_arrays(inputs)  # readable now, not after the model has loaded
    for attr in ("save_inputs", *writes):
        path = getattr(args, attr, None)
        if path:
            check_writable(path, "--" + attr.replace("_", "-"))
    golden = getattr(args, "load_outputs", None)
    if golden:
        arrays = load_arrays(golden, what="--load-outputs")
        if None in arrays:
            from graphkit.errors import UsageError

            raise UsageError(f"--load-outputs {golden} is one .npy array; give an .npz with one array per output name")
        from graphkit.values import from_npz

        request.golden = from_npz(arrays)  # sequences and maps saved by --save-outputs come back whole
    return request


def load_model_proto(path: str):
    """The model's proto without its external data (inputs' types and shapes, tables' sizes)."""
    from graphkit.proto_files import read_proto

    return read_proto(path)


class ModelFile:
    """A proto (its weights still in their files) and the file it came from, in the form refruntime's
    Session takes a graphkit Model: external data resolves next to `source_path`."""

    def __init__(self, proto, path: str):
        self.proto, self.source_path = proto, os.path.abspath(path)

    def to_proto(self):
        return self.proto


def prepare(args, proto, request: InputRequest):
    """(the proto with --shape applied, PreparedFeeds); --save-inputs written at once."""
    from graphkit.verification.feeds import prepare_feeds, save_feeds
    from graphkit.verification.graph import with_input_shapes

    prepared = prepare_feeds(proto, getattr(args, "inputs", None), getattr(args, "seed", 0), request.shapes,
                             request.val_ranges)
    shaped = with_input_shapes(proto, request.shapes) if request.shapes else proto
    if getattr(args, "save_inputs", None):
        save_feeds(args.save_inputs, prepared.feeds)
    return shaped, prepared


def check_golden_names(golden: dict, output_names: list[str], path: str) -> list[str]:
    """UsageError for arrays that are not outputs; returns notes for outputs the file lacks."""
    from graphkit.errors import UsageError

    unknown = sorted(set(golden) - set(output_names))
    if unknown:
        raise UsageError(f"--load-outputs {path} has {', '.join(unknown)}, not an output of the model; its "
                         f"outputs are {', '.join(output_names)}")
    missing = [n for n in output_names if n not in golden]
    return [f"--load-outputs {path} has no {', '.join(missing)}: not compared"] if missing else []


def tolerances(args, graph=None):
    from graphkit.verification.tolerance import Tolerances, parse_tol

    tols = Tolerances(getattr(args, "atol", None), getattr(args, "rtol", None),
                      getattr(args, "check_error_stat", "max"),
                      dict(parse_tol(t) for t in getattr(args, "tol", []) or []))
    return tols.with_model(graph) if graph is not None else tols


def golden_report(model: str, golden_path: str, golden: dict, outputs: dict, tols, runtime: str = "ref"):
    """A verification Report of `outputs` (what `runtime` computed) against the saved ones: the
    same table, tolerances and verdict as `graphkit verify`."""
    from graphkit.verification.report import OutputComparison, Report

    report = Report(model, ["golden", runtime], "golden", tols)
    report.notes.append(f"golden: {golden_path}")
    for name, expected in golden.items():
        report.outputs.append(OutputComparison(name, runtime, tols.compare(name, expected, outputs.get(name))))
    return report


def golden_table(report) -> str:
    """The terminal view of `golden_report()`: one row per output, then the verdict."""
    from graphkit.verification.compare import json_float

    def num(x) -> str:
        x = json_float(x)
        return x if isinstance(x, str) else f"{x:.3g}"

    golden = next((n[len("golden: "):] for n in report.notes if n.startswith("golden: ")), "golden outputs")
    lines = [f"compared with {golden}: tolerance {report.tolerance.describe()}",
             f"{'output':<28} {'max_abs':>10} {'max_rel':>10} {'mean_abs':>10} {'cosine':>9} {'out%':>7}  status"]
    for o in report.outputs:
        s = o.stats
        status = "ok" if s.within else "MISMATCH" + (f" ({s.note})" if s.note else "")
        lines.append(f"{o.name[:28]:<28} {num(s.max_abs):>10} {num(s.max_rel):>10} {num(s.mean_abs):>10} "
                     f"{s.cosine:>9.6f} {100 * s.frac_out:>6.2f}%  {status}")
    lines += [f"note: {n}" for n in report.notes if not n.startswith("golden: ")]
    lines.append(f"verdict: {report.verdict.upper()}")
    return "\n".join(lines)


def saved_outputs_runtime(proto, path: str, golden: dict):
    """`--load-outputs` for `graphkit verify`: the saved outputs as a runtime named 'golden' (it runs
    nothing; its outputs are the file's arrays)."""
    from graphkit.verification.runtimes.base import Runtime

    class SavedOutputs(Runtime):
        has_intermediates = False

        def __init__(self):
            super().__init__("golden", proto)
            self.output_names = [n for n in self.output_names if n in golden]
            self.path = path

        def _run(self, feeds, names):
            return dict(golden) if names is None else {}

    return SavedOutputs()
