"""The inputs a model is fed, for every command that makes them (`run`, `verify`, `simplify/fold
--verify`, quantization's random calibration): from the caller (a dict), a file (.npz by input
name, or .npy for a model with one input), or seeded random data.

    feeds = make_feeds(model)                                   # N(0, 1) floats, seed 0
    prepared = prepare_feeds(model, shapes={"x": (2, 3, 32, 32)}, val_ranges={"ids": ValRange(0, 4)})
    prepared.feeds, prepared.sources["ids"], prepared.notes

Random values: floats ~ N(0, 1); integers from [0, 9]; booleans fair coins. `--val-range
[LO,HI]` draws floats uniformly from [LO, HI) and integers from LO..HI (both ends, as Polygraphy).
An integer input that (through Cast/Reshape/Unsqueeze... ) feeds the indices of a Gather gets
0..rows-1 of the table it indexes by default, so an Embedding(5, 4) never reads row 7.
Unknown dims take their `--shape` value, else 1 (a note names the non-batch ones).

Loaded values: a float64 array for a float input, or an int64 array for an int32 input (numpy's
defaults) is cast to the model's type with a note; arrays checked against `--shape` when both are
given. Every problem is a UsageError naming the input, before anything runs.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import onnx

from graphkit.errors import UsageError
from graphkit.summary import type_text

MAX_RANDOM_INPUT_BYTES = 1 << 31  # a model declaring a huge input must not make us allocate it
DEFAULT_INT_RANGE = (0, 9)


@dataclass(frozen=True)
class ValRange:
    """Bounds of random values: floats uniform in [lo, hi), integers lo..hi (both included)."""

    lo: float
    hi: float
    why: str = "--val-range"

    def text(self) -> str:
        return f"[{_num(self.lo)}, {_num(self.hi)}]"


@dataclass
class PreparedFeeds:
    feeds: dict[str, np.ndarray]
    sources: dict[str, str] = field(default_factory=dict)   # input -> where its values come from
    notes: list[str] = field(default_factory=list)           # casts, filled dims, defaults chosen


# -- command-line notation ------------------------------------------------------------------------
def parse_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """'x=1,3,224,224' (or 1x3x224x224) -> ('x', (1, 3, 224, 224)); UsageError if malformed."""
    name, sep, dims = text.rpartition("=")
    try:
        shape = tuple(int(d) for d in dims.replace("x", ",").split(",") if d.strip()) if dims.strip() else ()
    except ValueError:
        shape = None
    if not sep or not name or shape is None or any(d < 0 for d in shape):
        raise UsageError(f"--shape {text!r}: expected NAME=D1,D2,... with non-negative integers")
    return name, shape


def parse_shapes(texts) -> dict[str, tuple[int, ...]]:
    if not texts:
        return {}
    if isinstance(texts, Mapping):
        return {k: tuple(int(d) for d in v) for k, v in texts.items()}
    return dict(parse_shape(t) for t in texts)


def parse_val_range(text: str) -> tuple[str | None, ValRange]:
    """'ids:[0,4]' -> ('ids', ValRange(0, 4)); a bare '[-1,1]' (None, ...) applies to every input."""
    name, sep, bounds = text.rpartition(":")
    if sep and not bounds.strip().startswith("["):  # a ':' inside the name, no bounds after it
        name, bounds = "", text
    bounds = bounds.strip()
    parts = bounds[1:-1].split(",") if bounds.startswith("[") and bounds.endswith("]") else []
    try:
        lo, hi = (float(p) for p in parts) if len(parts) == 2 else (math.nan, math.nan)
    except ValueError:
        lo = hi = math.nan
    if not (lo <= hi) or math.isinf(lo) or math.isinf(hi) or (sep and not name):
        raise UsageError(f"--val-range {text!r}: expected [LO,HI] or NAME:[LO,HI] with finite LO <= HI")
    return (name or None), ValRange(lo, hi)


def parse_val_ranges(texts) -> dict[str | None, ValRange]:
    if not texts:
        return {}
    if isinstance(texts, Mapping):
        return {k: v if isinstance(v, ValRange) else ValRange(*v) for k, v in texts.items()}
    return dict(parse_val_range(t) for t in texts)


# -- what the graph says about its inputs ----------------------------------------------------------
# Ops that pass an integer input's values through unchanged (only moved, copied or converted).
_VALUE_PRESERVING = {"Cast", "Identity", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Expand", "Transpose",
                     "Tile", "Slice", "Concat", "Split", "Gather", "GatherElements", "GatherND", "CastLike"}


def index_ranges(graph: onnx.GraphProto) -> dict[str, ValRange]:
    """Default ranges of integer inputs that index a table: an input whose values reach (through
    value-preserving ops) the indices of a Gather/GatherElements whose table has a known size gets
    0..rows-1 (the smallest table when several)."""
    dims = {t.name: list(t.dims) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            for attr in node.attribute:
                if attr.name == "value" and attr.HasField("t"):
                    dims[node.output[0]] = list(attr.t.dims)
    for vi in [*graph.value_info, *graph.input]:
        tt = vi.type.tensor_type
        if vi.name not in dims and tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
            dims[vi.name] = [d.dim_value for d in tt.shape.dim]
    readers: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name:
                readers.setdefault(name, []).append((node, i))
    inits = {t.name for t in graph.initializer}
    out: dict[str, ValRange] = {}
    for vi in graph.input:
        tt = vi.type.tensor_type
        if vi.name in inits or not tt.elem_type or _kind(tt.elem_type) not in "iu":
            continue
        best: tuple[int, str] | None = None
        seen, stack = {vi.name}, [vi.name]
        while stack:
            name = stack.pop()
            for node, i in readers.get(name, ()):
                if node.op_type in ("Gather", "GatherElements") and i == 1 and node.input[0] in dims:
                    table = dims[node.input[0]]
                    axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
                    if table and -len(table) <= axis < len(table) and table[axis] > 0:
                        rows = table[axis]
                        if best is None or rows < best[0]:
                            best = (rows, (f"indices of {node.op_type} {node.name or node.output[0]!r}, "
                                          f"{rows} rows"))
                    continue
                if node.op_type in _VALUE_PRESERVING and (i == 0 or node.op_type == "Concat"):
                    for o in node.output:
                        if o and o not in seen:
                            seen.add(o)
                            stack.append(o)
        if best is not None:
            out[vi.name] = ValRange(0, best[0] - 1, best[1])
    return out


def _kind(elem_type: int) -> str:
    from onnx import helper

    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).kind
    except Exception:  # noqa: BLE001 - unknown enum values raise KeyError/ValueError
        return "?"


# -- feeds ----------------------------------------------------------------------------------------
def make_feeds(model: onnx.ModelProto, inputs=None, seed: int = 0, shapes: Mapping[str, tuple] | None = None,
               val_ranges: Mapping[str | None, ValRange] | None = None) -> dict[str, np.ndarray]:
    """Feeds for the data inputs of `model` (see the module doc; `prepare_feeds` also says where
    each came from)."""
    return prepare_feeds(model, inputs, seed, shapes, val_ranges).feeds


def prepare_feeds(model: onnx.ModelProto, inputs=None, seed: int = 0, shapes: Mapping[str, tuple] | None = None,
                  val_ranges: Mapping[str | None, ValRange] | None = None) -> PreparedFeeds:
    """Feeds for the data inputs of `model`, where they come from, and notes worth a line.

    inputs: None (seeded random), a dict of arrays, or a path to an .npz (or .npy) file.
    shapes: {input: dims}; random inputs take these shapes, given ones must have them.
    val_ranges: {input or None (every input): ValRange} for random values.
    """
    from refruntime.feeds import graph_input_specs

    specs = [s for s in graph_input_specs(model.graph) if not s.optional]
    shapes = dict(shapes or {})
    val_ranges = dict(val_ranges or {})
    names = [s.name for s in specs]
    for what, given in (("--shape", shapes), ("--val-range", val_ranges)):
        unknown = sorted(k for k in given if k is not None and k not in names)
        if unknown:
            raise UsageError(f"{what} for unknown input(s) {', '.join(unknown)}; the model's inputs are "
                             f"{', '.join(names) or '(none)'}")
    for s in specs:
        if s.name in shapes and s.shape is not None and len(shapes[s.name]) != len(s.shape):
            raise UsageError(f"--shape {s.name}={','.join(map(str, shapes[s.name]))} has rank "
                             f"{len(shapes[s.name])}, but the model declares {s.name}: {type_text(s.dtype, s.shape)}")
    if inputs is not None:
        return _given(specs, inputs, shapes)
    rng = np.random.default_rng(seed)
    defaults = index_ranges(model.graph)
    prepared = PreparedFeeds({})
    for s in specs:
        if s.dtype is None:
            raise UsageError(f"input {s.name!r} is not a tensor of known type; pass its value with --inputs")
        shape = shapes.get(s.name)
        if shape is None:
            if s.shape is None:
                raise UsageError(f"input {s.name!r} has no declared shape; pass --shape {s.name}=D1,D2,...")
            shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in s.shape)
            filled = [str(d or "?") for i, d in enumerate(s.shape) if i > 0 and not (isinstance(d, int) and d > 0)]
            if filled:
                prepared.notes.append(f"input {s.name!r}: unknown dims {', '.join(filled)} set to 1 "
                                      f"(pass --shape {s.name}=D1,D2,... for other sizes)")
        chosen = val_ranges.get(s.name) or val_ranges.get(None) or defaults.get(s.name)
        prepared.feeds[s.name], prepared.sources[s.name] = _random(rng, s.name, s.dtype, shape, chosen)
        if chosen is not None and chosen.why != "--val-range":
            prepared.notes.append(f"input {s.name!r}: random integers in {chosen.text()} ({chosen.why}); "
                                  f"--val-range {s.name}:[LO,HI] to change")
    return prepared


def _random(rng: np.random.Generator, name: str, dtype: np.dtype, shape: tuple, chosen: ValRange | None):
    dtype = np.dtype(dtype)
    # numpy draws in 64 bits (128 for complex) before casting: that is what must fit, not the
    # input's own size (a bfloat16 input of 1e9 values needs 8 GB on the way)
    nbytes = max(dtype.itemsize, 16 if dtype.kind == "c" else 8) * math.prod(int(d) for d in shape)
    if nbytes > MAX_RANDOM_INPUT_BYTES:
        raise UsageError(f"random input {name!r} of shape {list(shape)} would need {nbytes} bytes "
                         f"(limit {MAX_RANDOM_INPUT_BYTES}); pass a smaller --shape or --inputs")
    kind = "f" if dtype.name == "bfloat16" or dtype.name.startswith("float") else dtype.kind
    if kind == "f":
        if chosen is None:
            return rng.standard_normal(shape).astype(dtype), "random N(0, 1)"
        return rng.uniform(chosen.lo, chosen.hi, size=shape).astype(dtype), f"random uniform in {chosen.text()}"
    if kind in "iu":
        lo, hi = (DEFAULT_INT_RANGE if chosen is None else (math.ceil(chosen.lo), math.floor(chosen.hi)))
        info = np.iinfo(dtype)
        if lo > hi or lo < info.min or hi > info.max:
            raise UsageError(f"--val-range for {name!r} ({dtype}): no integer in [{_num(lo)}, {_num(hi)}] "
                             f"within {dtype}'s range [{info.min}, {info.max}]")
        return rng.integers(lo, hi, size=shape, endpoint=True).astype(dtype), f"random integers in [{lo}, {hi}]"
    if kind == "b":
        return rng.random(shape) < 0.5, "random booleans"
    if kind == "c":
        value = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
        return value.astype(dtype), "random complex N(0, 1)"
    raise UsageError(f"cannot make random values of type {dtype} for input {name!r}; pass it with --inputs")


def _given(specs, inputs, shapes: dict) -> PreparedFeeds:
    path = os.fspath(inputs) if isinstance(inputs, (str, os.PathLike)) else None
    label = path or "the given inputs"
    arrays = load_arrays(inputs, what="--inputs")
    names = [s.name for s in specs]
    if list(arrays) == [None]:  # one bare .npy array
        if len(specs) != 1:
            raise UsageError(f"--inputs {label} holds one array, but the model has {len(specs)} inputs "
                             f"({', '.join(names)}); give an .npz with one array per input name")
        arrays = {names[0]: arrays[None]}
    where = f"--inputs {path}" if path else label
    unknown = sorted(set(arrays) - set(names))
    strangers = f"{', '.join(unknown)}: not inputs of the model"
    missing = [s for s in specs if s.name not in arrays]
    if missing:
        raise UsageError(f"{where} lacks input(s) " + ", ".join(f"{s.name}: {type_text(s.dtype, s.shape)}"
                                                              for s in missing)
                         + (f"; {strangers}" if unknown else ""))
    if unknown:
        raise UsageError(f"{where} has {strangers} (its inputs are {', '.join(names) or 'none'})")
    prepared = PreparedFeeds({}, {n: f"from {label}" for n in arrays})
    for s in specs:
        value = arrays[s.name]
        if s.name in shapes and tuple(value.shape) != tuple(shapes[s.name]):
            raise UsageError(f"--shape {s.name}={','.join(map(str, shapes[s.name]))}, but --inputs {label} gives "
                             f"{s.name}: {type_text(value.dtype, value.shape)}")
        value = _conform(s, value, prepared.notes)
        _check_given(s, value, label, overridden=s.name in shapes)
        prepared.feeds[s.name] = value
    return prepared


def _check_given(spec, value, label: str, overridden: bool) -> None:
    """A given array against the input's declared type (and static dims unless --shape replaces
    them), in graphkit's notation, before a runtime refuses it in its own."""
    if spec.dtype is None or not isinstance(value, np.ndarray):
        return
    wrong = value.dtype != spec.dtype
    if not overridden and spec.shape is not None:
        wrong = wrong or value.ndim != len(spec.shape) or any(
            isinstance(d, int) and d > 0 and d != n for d, n in zip(spec.shape, value.shape))
    if wrong:
        raise UsageError(f"input {spec.name!r}: the model takes {type_text(spec.dtype, spec.shape)}, --inputs {label} "
                         f"gives {type_text(value.dtype, value.shape)}")


def _conform(spec, value: np.ndarray, notes: list[str]) -> np.ndarray:
    """numpy's default dtypes cast to the model's: float64 to its float type, int64 to a narrower
    integer type when every value fits. Anything else is left for the runtime to refuse."""
    want = spec.dtype
    if want is None or not isinstance(value, np.ndarray) or value.dtype == want:
        return value
    want = np.dtype(want)
    want_kind = "f" if want.name == "bfloat16" or want.name.startswith("float") else want.kind
    if value.dtype == np.float64 and want_kind == "f":
        notes.append(f"input {spec.name!r}: float64 cast to the model's {want}")
        return value.astype(want)
    if value.dtype.kind in "iu" and want_kind in "iu" and value.dtype.itemsize >= want.itemsize:
        info = np.iinfo(want)
        if value.size == 0 or (int(value.min()) >= info.min and int(value.max()) <= info.max):
            notes.append(f"input {spec.name!r}: {value.dtype} cast to the model's {want}")
            return value.astype(want)
    return value


def load_arrays(source, what: str = "--inputs") -> dict:
    """Arrays by name from a dict, an .npz file, or an .npy file ({None: array})."""
    if isinstance(source, Mapping):
        return {k: np.asarray(v) for k, v in source.items()}
    if not isinstance(source, (str, os.PathLike)):
        raise UsageError(f"{what} must be a dict of arrays or an .npz path, got {type(source).__name__}")
    path = os.fspath(source)
    if os.path.isdir(path):
        raise UsageError(f"{what} {path} is a folder, not an .npz or .npy file")
    if not os.path.isfile(path):
        raise UsageError(f"{what} {path}: file not found")
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.ndarray):
            return {None: data}
        with data:
            return {k: data[k] for k in data.files}
    except Exception as exc:  # noqa: BLE001 - zip/npy/pickle errors come in many types
        raise UsageError(f"{what} {path}: not a readable .npz or .npy file ({_first_line(exc)})") from None


def save_feeds(path: str, feeds: Mapping[str, np.ndarray]) -> None:
    """Feeds (or outputs) as an .npz that `--inputs` / `--load-outputs` read back. `path` is written
    as given (numpy would append .npz to a name without it)."""
    from graphkit.atomic import atomic_open

    with atomic_open(path, "wb") as f:
        np.savez(f, **{k: np.asarray(v) for k, v in feeds.items()})


def check_writable(path: str, what: str) -> None:
    """UsageError now, before any work, if `path` cannot be written later."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"{what} {path} is a folder; give a file name")
    if not os.path.isdir(folder):
        raise UsageError(f"{what} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{what} {path}: folder {folder} is not writable")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
