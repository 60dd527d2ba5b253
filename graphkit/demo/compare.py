"""Run one exported model on several runtimes, time them, and compare their outputs.

    runners = runtimes(path, net)                  # {"ref": fn, "ort": fn, "torch": fn}, fn(x) -> array
    runners = runtimes(path, net, converted)       # + "tf", "tflite": the files graphkit convert wrote
    measured = run_interleaved(runners, x)          # outputs, median latency, errors per runtime
    result = compare(measured.outputs["ref"], measured.outputs["ort"])  # max_abs, max_rel, ok

Tolerance: a and b agree where |a - b| <= atol + rtol * |b| (numpy.isclose's rule, b the trusted
side). max_rel is max |a - b| / |b| over the elements with |b| >= atol, so that exact zeros (ReLU
outputs) do not turn it into infinity; those elements are judged by atol alone.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from graphkit.demo.export import INPUT, OUTPUT
from graphkit.demo.nets import INPUT_SHAPE

ATOL, RTOL = 1e-5, 1e-4
PAIRS = (("ref", "ort"), ("ref", "torch"), ("ort", "torch"), ("ref", "tf"), ("ref", "tflite"))

Runner = Callable[[np.ndarray], np.ndarray]


def make_input(batch: int, seed: int = 0) -> np.ndarray:
    """Seeded N(0, 1) images, float32 [batch, 1, 28, 28]; batch 1 is the first image of batch 64."""
    return np.random.default_rng(seed).standard_normal((batch, *INPUT_SHAPE), dtype=np.float32)


def ref_runner(path: str) -> Runner:
    from refruntime import Session

    session = Session(path)

    def run(x):
        return next(iter(session.run({INPUT: x}).values()))

    run.fallback_ops = sorted({s.node.op_type for s in session.plan.steps if s.is_fallback})
    return run


def ort_runner(path: str, spinning: bool = True) -> Runner:
    """onnxruntime as users run it: default session options (its own thread count, spinning
    threads). `spinning=False` is the separate "ort-nospin" column of the benchmark."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {INPUT: x})[0]


def torch_runner(net) -> Runner:
    import torch

    def run(x):
        with torch.inference_mode():
            return net(torch.from_numpy(x)).numpy()

    return run


def tf_runner(converted) -> Runner:
    """The SavedModel `graphkit convert --to tf` wrote (a ConversionResult), its serving signature."""
    from graphkit.convert.tfenv import quiet_native, tensorflow

    tf = tensorflow()
    with quiet_native():
        serve = tf.saved_model.load(converted.path).signatures["serving_default"]
    key_in, key_out = converted.inputs[INPUT], converted.outputs[OUTPUT]
    return lambda x: serve(**{key_in: tf.constant(x)})[key_out].numpy()


def tflite_runner(converted) -> Runner:
    """The .tflite file `graphkit convert --to tflite` wrote, in TFLite's interpreter with its
    defaults (XNNPACK on CPU); a new batch size resizes the input."""
    from graphkit.convert.tfenv import tensorflow
    from graphkit.verification.runtimes.tflite import interpreter

    with open(converted.path, "rb") as f:
        runner = interpreter(tensorflow(), f.read()).get_signature_runner()
    key_in, key_out = converted.inputs[INPUT], converted.outputs[OUTPUT]
    return lambda x: runner(**{key_in: x})[key_out]


def runtimes(path: str, net, converted: dict | None = None) -> dict[str, Runner]:
    """The runtimes of the demo, each a function of the input batch: ref, ort, torch, and tf /
    tflite for the files `converted` names ({"tf": ConversionResult, "tflite": ...}).

    A runtime that cannot even load the model gets a runner that raises that error, so the failure
    shows up in the table like any other."""
    makers = {"ref": lambda: ref_runner(path), "ort": lambda: ort_runner(path),
              "torch": lambda: torch_runner(net)}
    converted = converted or {}
    if "tf" in converted:
        makers["tf"] = lambda: tf_runner(converted["tf"])
    if "tflite" in converted:
        makers["tflite"] = lambda: tflite_runner(converted["tflite"])
    runners = {}
    for name, make in makers.items():
        try:
            runners[name] = make()
        except Exception as exc:  # noqa: BLE001 - reported per run by run_interleaved
            runners[name] = _raising(exc)
    return runners


def _raising(exc: Exception) -> Runner:
    def run(x):
        raise exc

    return run


@dataclass
class Measured:
    outputs: dict[str, np.ndarray]  # the warm-up call's output of each runtime that worked
    latency: dict[str, float]  # median seconds of the timed calls
    first_call: dict[str, float]  # seconds of the very first call (includes compile/warm-up)
    errors: dict[str, str]  # runtime -> one-line message, for those that raised
    spread: dict[str, tuple[float, float]] = field(default_factory=dict)  # min and max of the block medians


BLOCK_SECONDS = 0.1   # a block of back-to-back calls lasts about this long
BLOCK_CALLS = 200     # and has at most this many calls
QUIET_SECONDS = 0.3   # the longest wait for the previous runtime's threads to stop spinning


def wait_until_quiet(limit_s: float = QUIET_SECONDS, probe_s: float = 0.002) -> float:
    """Sleep until no thread of this process is busy (during a `probe_s` sleep of the caller the
    process used under a fifth of one core), at most `limit_s`; the seconds waited.

    ORT's worker threads spin ~40 ms after its last call (measured: 41 ms of process CPU during a
    100 ms sleep that follows a block of BERT-tiny calls). When the OS put the caller's thread on
    the core one of them is pinned to, that spin slows the next runtime's block."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        cpu, wall = time.process_time(), time.perf_counter()
        time.sleep(probe_s)
        if time.process_time() - cpu < 0.2 * (time.perf_counter() - wall):
            break
    return time.perf_counter() - start


def run_interleaved(runners: dict[str, Runner], x: np.ndarray, repeats: int = 5, warmup: int = 1,
                    budget_s: float = 3.0, slow: frozenset = frozenset(), block: int = BLOCK_CALLS,
                    block_seconds: float = BLOCK_SECONDS) -> Measured:
    """Warm up each runner, then time `repeats` rounds of alternating blocks.

    In a round each runner in turn waits until the previous runner's threads have stopped
    spinning (`wait_until_quiet`: ORT's spin ~40 ms after its last call), makes one untimed call
    (its caches refilled after the other runtimes') and then a block of timed calls back to back
    (up to `block` calls, about `block_seconds` in all): one runtime's spinning threads then cost
    it, not the runtime timed next. A block's length comes from a warm call (the warm-up's last),
    not the first call: sized by a first call that includes numba's compile, refruntime's blocks
    held 2-5 calls, each just after the switch (BERT-tiny: 0.43 ms against 0.34 ms in long blocks).
    `latency` is the median over every timed
    call; `spread` the lowest and highest block median (how much the rounds disagree). Runners
    named in `slow` get no warm-up (their first call is timed) and one call per round. A runner
    stops early once its timed calls have used `budget_s` seconds. A runner that raises is
    reported in `errors`, never raised.
    """
    m = Measured({}, {}, {}, {})
    times: dict[str, list[float]] = {}
    blocks: dict[str, list[float]] = {}
    warm: dict[str, float] = {}  # seconds of a call after the first: what sizes the blocks
    for name, fn in runners.items():
        try:
            for i in range(1 if name in slow else max(warmup, 1) + 1):
                start = time.perf_counter()
                m.outputs[name] = fn(x)
                seconds = time.perf_counter() - start
                if i == 0:
                    m.first_call[name] = seconds
                warm[name] = seconds
            times[name] = [m.first_call[name]] if name in slow else []
            blocks[name] = []
        except Exception as exc:  # noqa: BLE001 - a runtime failure is a result to show
            m.errors[name] = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
    for _ in range(repeats):
        for name, spent in times.items():
            if sum(spent) > budget_s:
                continue
            calls = 1
            wait_until_quiet()
            if name not in slow:
                runners[name](x)  # refill the caches after the other runtimes' calls
                calls = max(1, min(block, int(block_seconds / max(warm[name], 1e-6))))
            block_times = []
            for _ in range(calls):
                start = time.perf_counter()
                runners[name](x)
                block_times.append(time.perf_counter() - start)
            spent.extend(block_times)
            blocks[name].append(statistics.median(block_times))
    m.latency = {name: statistics.median(spent) for name, spent in times.items() if spent}
    m.spread = {name: (min(b), max(b)) for name, b in blocks.items() if b}
    return m


@dataclass
class Comparison:
    max_abs: float
    max_rel: float
    ok: bool
    note: str = ""


def compare(a: np.ndarray, b: np.ndarray, atol: float = ATOL, rtol: float = RTOL) -> Comparison:
    """How far `a` is from the trusted `b`; ok when every element is within atol + rtol*|b|."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return Comparison(float("nan"), float("nan"), False, f"shape {a.shape} vs {b.shape}")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    diff = np.abs(a64 - b64)
    if diff.size == 0:
        return Comparison(0.0, 0.0, True)
    if not np.all(np.isfinite(diff)):
        return Comparison(float("inf"), float("inf"), False, "NaN or Inf in the outputs")
    big = np.abs(b64) >= atol
    max_rel = float((diff[big] / np.abs(b64[big])).max()) if big.any() else 0.0
    ok = bool(np.all(diff <= atol + rtol * np.abs(b64)))
    return Comparison(float(diff.max()), max_rel, ok)


@dataclass
class Row:
    model: str
    exporter: str
    batch: int
    pair: tuple[str, str]
    result: Comparison
    latency: dict[str, float]  # median seconds per runtime


def compare_pairs(model: str, exporter: str, batch: int, measured: Measured,
                  atol: float = ATOL, rtol: float = RTOL) -> list[Row]:
    """One Row per pair of PAIRS whose runtimes both ran (or failed); a pair with a failed runtime
    is a failing row. Without TensorFlow the tf/tflite pairs are absent, not failing."""
    rows = []
    ran = set(measured.outputs) | set(measured.errors)
    for a, b in PAIRS:
        if a not in ran or b not in ran:
            continue
        failed = [n for n in (a, b) if n in measured.errors]
        if failed:
            result = Comparison(float("nan"), float("nan"), False, f"{failed[0]} failed")
        else:
            result = compare(measured.outputs[a], measured.outputs[b], atol, rtol)
        rows.append(Row(model, exporter, batch, (a, b), result, measured.latency))
    return rows
