"""Chains of elementwise float32 ops as one generated numba loop: GELU, scalings, bias chains.

A transformer's activation is five to eight elementwise nodes (BERT's GELU: Div -> Erf -> Add ->
Mul -> Mul; GPT-2's: Pow -> Mul -> Add -> Mul, Tanh, Add -> Mul), each a numpy call and a pass
over the activations. `elementwise_chain` finds a chain of Add, Sub, Mul, Div, Pow by 2 or 3, Neg,
Sqrt, Reciprocal, Erf and Relu nodes where each value but the last has one reader, the next link;
`FusedElementwise` runs it as one loop over the elements, generated for the chain at its first run
and compiled by numba; the source goes to refruntime's cache folder, so that numba's disk cache
serves later processes (~0.4 s to compile a chain, ~10 ms to load it). Measured with
`tools/ab_fast_paths.py fusion`: 1.02-1.04x on BERT-tiny and GPT-2-tiny at sequence 16 and 128,
1.02x on the benchmark's Glue200 (200 -> 160 steps: on (1, 8, 4, 4) tensors a fused call costs
about what the three numpy calls it replaces cost).

Bitwise the unfused kernels (NaN payloads and signs aside, which IEEE leaves open; checked on
random graphs by tests/refruntime/test_fusion_differential.py): float32 +, -, *, / and sqrt
computed in float32 (numba without fast-math, numpy's error model, so x / 0 is inf as in numpy); Pow by a constant 2 or 3 as the
float64 product rounded once (op_elementwise_binary._small_power); Erf as kernels/erf.py's
erf_candidate, with erf_float32 for what it leaves undecided (see `_source`). Broadcasting
replicates values, so computing a chain over the output's shape gives each element the value the
unfused ops give it. At run time the chain is fused when every input is float32 and either a
scalar, a vector along the last axis, or of the output's shape; anything else runs the chain's own
kernels one after the other.
Transcendental ops other than Erf (Tanh, Exp, Sigmoid) end a chain: their kernels are numpy's
vectorized float32 functions, which a numba loop cannot reproduce bit for bit.
"""
from __future__ import annotations

import numpy as np

_FLOAT32 = np.dtype(np.float32)
_BINARY = {"Add_7": "+", "Sub_7": "-", "Mul_7": "*", "Div_7": "/"}
# Relu as np.maximum(x, 0) gives it: +0 for -0 and for 0, NaN for NaN
_UNARY = {"Neg_6": "-{0}", "Sqrt_6": "np.sqrt({0})", "Reciprocal_6": "np.float32(1.0) / {0}",
          "Erf_9": "ERF({0})", "Relu": "np.float32(0.0) if {0} <= 0 else {0}"}
_POWERS = {2.0: "np.float32(np.float64({0}) * np.float64({0}))",
           3.0: "np.float32(np.float64({0}) * np.float64({0}) * np.float64({0}))"}
#: ops whose kernel is a numpy float32 ufunc a numba loop cannot reproduce bit for bit: in a chain
#: they split the loop in two around a call of that very ufunc over the whole buffer
_NUMPY = {"Tanh": "tanh"}
_NUMPY_PREFIX = "NUMPY:"


def link(step, constant) -> str | None:
    """The expression template of `step` ({0}, {1}: its inputs) if it can be a link, else None."""
    kind = type(step.kernel).__name__
    if step.is_fallback or step.node.domain not in ("", "ai.onnx") or len(step.outputs) != 1 or not step.outputs[0]:
        return None
    if kind in _BINARY and len(step.inputs) == 2:
        return "{0} " + _BINARY[kind] + " {1}"
    if kind in _UNARY and len(step.inputs) == 1:
        return _UNARY[kind]
    if kind in _NUMPY and len(step.inputs) == 1:
        return _NUMPY_PREFIX + _NUMPY[kind]
    if kind == "Pow_7" and len(step.inputs) == 2:
        exponent = constant(step.inputs[1])
        if exponent is not None and exponent.size == 1 and exponent.dtype.kind in "fiu":
            return _POWERS.get(float(exponent.reshape(-1)[0]))
    return None


def elementwise_chain(step, constant, only_reader, feeder=None):
    """(chain steps, unit) of the longest chain of links starting at `step`, with the links that
    feed it (at least two links), or None. The unit reads the chain's outside inputs and writes the
    last link's output.

    The chain follows each value's one reader from `step`. `feeder(name)`, if given, is the step
    producing `name` when that step may join (plan_fusion: a later step, not yet fused): a link
    whose output only a chain link reads joins too, and so on backwards (GPT-2's GELU: the 0.5 * x
    beside the tanh path). Every value but the last is then read inside the chain only. At most one
    numpy link (Tanh), computed from another link's value."""
    first = link(step, constant)
    if first is None or first.startswith(_NUMPY_PREFIX):  # a numpy link needs its input from a link
        return None
    chain, templates = [step], {step.index: first}
    nxt = only_reader(step.outputs[0])
    while nxt is not None and (template := link(nxt, constant)) is not None:
        if template.startswith(_NUMPY_PREFIX) and any(t.startswith(_NUMPY_PREFIX) for t in templates.values()):
            break  # one numpy link per chain
        chain.append(nxt)
        templates[nxt.index] = template
        nxt = only_reader(nxt.outputs[0])
    linear = list(chain)
    pending = list(chain) if feeder is not None else []
    while pending:
        reader = pending.pop()
        for name in reader.inputs:
            source = feeder(name)
            if source is None or source.index in templates or only_reader(name) is not reader:
                continue
            template = link(source, constant)
            if template is not None:
                chain.append(source)
                templates[source.index] = template
                pending.append(source)
    fused = _chain_unit(sorted(chain, key=lambda s: s.index), templates)  # the plan's order is topological
    if fused is None and len(chain) > len(linear):  # the feeders brought a second numpy link, or one
        fused = _chain_unit(linear, templates)      # computed from an outside value
    return fused


def _chain_unit(chain, templates):
    """(chain, unit) for links in topological order, or None when they are fewer than two, a numpy
    link is not computed from another link or there are two, or an input is omitted."""
    if len(chain) < 2:
        return None
    inside = {s.outputs[0] for s in chain[:-1]}
    numpy_links = [s for s in chain if templates[s.index].startswith(_NUMPY_PREFIX)]
    if len(numpy_links) > 1 or any(s.inputs[0] not in inside for s in numpy_links):
        return None
    outside = list(dict.fromkeys(n for s in chain for n in s.inputs if n not in inside))
    if "" in outside:  # an omitted input: the kernels decide what it means
        return None
    fused = FusedElementwise(chain, [templates[s.index] for s in chain], outside)
    return chain, (chain[0], fused.run, tuple(outside), chain[-1].outputs[:1])


class FusedElementwise:
    """One chain: `run(*outside inputs)` -> (last link's output,)."""

    def __init__(self, chain, templates, outside):
        self.chain, self.templates, self.outside = chain, templates, outside
        self._layout: tuple = ()   # (input shapes, output shape, kinds) of the last fused call
        self._kernels: dict = {}   # kinds -> compiled loop
        #: the last fused call's (kernel, rows, cols, output shape, per input (shape, kind, the array
        #: if read-only, its kernel argument)): later calls whose inputs match skip the layout work,
        #: and an input that is the same read-only array (a constant) reuses its argument
        self._last: tuple | None = None

    def run(self, *inputs):
        last = self._last
        if last is not None:
            kernel, rows, cols, shape, seen = last
            args = []
            for x, (x_shape, kind, array, arg) in zip(inputs, seen):
                if x is array:
                    args.append(arg)
                elif type(x) is not np.ndarray or x.dtype is not _FLOAT32 or x.shape != x_shape:
                    break
                else:
                    args.append(_argument(x, kind, rows, cols))
            else:
                out = np.empty((rows, cols), np.float32)
                kernel(out, *args)
                return (out.reshape(shape),)
        shapes = tuple(getattr(x, "shape", None) for x in inputs)
        if self._layout and self._layout[0] == shapes and all(type(x) is np.ndarray and x.dtype is _FLOAT32
                                                               for x in inputs):
            shape, kinds = self._layout[1:]
        else:
            found = _layout(inputs)
            if found is None:
                return self.unfused(*inputs)
            shape, kinds = found
            self._layout = (shapes, shape, kinds)
        kernel = self._kernels.get(kinds)
        if kernel is None:
            kernel = self._kernels[kinds] = _compile(self.templates, self._operands(), kinds)
        out = np.empty(shape, np.float32)
        cols = shape[-1] if shape else 1
        rows = out.size // cols if cols else 0
        args = [_argument(x, kind, rows, cols) for x, kind in zip(inputs, kinds)]
        kernel(out.reshape(rows, cols), *args)
        # only read-only arrays (initializers, memoized shape values) are recognized by identity: a
        # writable one may hold other values next time, and its argument may be a copy
        self._last = (kernel, rows, cols, shape, tuple((x.shape, kind, None if x.flags.writeable else x, arg)
                                                       for x, kind, arg in zip(inputs, kinds, args)))
        return (out,)

    def unfused(self, *inputs):
        """The chain's own kernels, one after the other (any case the loop does not cover)."""
        values = dict(zip(self.outside, inputs))
        for step in self.chain:
            (values[step.outputs[0]],) = step.kernel.run(*[values[n] for n in step.inputs])[:1]
        return (values[self.chain[-1].outputs[0]],)

    def _operands(self) -> list[list[str]]:
        """Per link, where each input comes from: 'aK' (outside input K) or 'tJ' (link J's value)."""
        position = {name: k for k, name in enumerate(self.outside)}
        produced = {step.outputs[0]: j for j, step in enumerate(self.chain)}
        return [[f"t{produced[n]}" if n in produced else f"a{position[n]}" for n in step.inputs]
                for step in self.chain]


def _argument(x: np.ndarray, kind: str, rows: int, cols: int) -> np.ndarray:
    """The loop's argument for an input: (rows, cols) for one of the output's shape ('F'), flat for
    a scalar ('S') or a vector along the last axis ('V')."""
    if kind == "F":
        return np.ascontiguousarray(x).reshape(rows, cols)
    return np.ascontiguousarray(x).reshape(-1)


def _layout(inputs):
    """(output shape, kinds) when every input is a float32 array that is a scalar ('S'), a vector
    along the output's last axis ('V') or of the output's shape ('F'); else None."""
    if not all(type(x) is np.ndarray and x.dtype == _FLOAT32 for x in inputs):
        return None
    try:
        shape = np.broadcast_shapes(*(x.shape for x in inputs))
    except ValueError:
        return None  # the unfused kernels name the shapes that do not broadcast
    if 0 in shape:
        return None
    kinds = []
    for x in inputs:
        if x.shape == shape:
            kinds.append("F")
        elif x.size == 1:
            kinds.append("S")
        elif shape and x.shape[-1] == shape[-1] and x.size == shape[-1]:
            kinds.append("V")
        else:
            return None
    return tuple(shape), tuple(kinds)


_COMPILED: dict[str, object] = {}  # generated source -> compiled loop, shared by every chain alike


def _compile(templates, operands, kinds):
    """`kernel(out, *args)` of one chain for one tuple of input kinds: one numba loop, or for a
    chain with a numpy link two loops around that ufunc (`_segments`)."""
    last = len(templates) - 1
    split = next((j for j, t in enumerate(templates) if t.startswith(_NUMPY_PREFIX)), None)
    if split is None:
        return _loop(_source(templates, operands, kinds, range(len(templates)), last))
    ufunc = getattr(np, templates[split][len(_NUMPY_PREFIX):])
    before = _ancestors(operands, split)
    feeding = int(operands[split][0][1:])  # the link whose value the ufunc takes
    first = _loop(_source(templates, operands, kinds, before, feeding))
    if split == last:
        def kernel(out, *args):
            first(out, *args)
            ufunc(out, out=out)
        return kernel
    rest = [j for j in range(len(templates)) if j not in before and j != split]
    second = _loop(_source(templates, operands, kinds, rest, last, preloaded=split))

    def kernel(out, *args):
        buffer = np.empty_like(out)
        first(buffer, *args)
        ufunc(buffer, out=buffer)  # the unfused kernel's call; broadcasting only repeats values
        second(out, *args, buffer)
    return kernel


def _ancestors(operands, j: int) -> list[int]:
    """The links whose values link j needs (directly or not), in order."""
    needed, pending = set(), [j]
    while pending:
        for name in operands[pending.pop()]:
            if name.startswith("t") and int(name[1:]) not in needed:
                needed.add(int(name[1:]))
                pending.append(int(name[1:]))
    return sorted(needed)


def _loop(source: str):
    kernel = _COMPILED.get(source)
    if kernel is None:
        kernel = _COMPILED[source] = _load(source)
    return kernel


def _load(source: str):
    """The compiled `chain` of `source`, through a module file in refruntime's cache folder so that
    numba's on-disk cache keeps the machine code for the next process (compiling a chain takes
    ~0.4 s, loading it ~10 ms). Without a writable cache folder it is compiled in memory."""
    import hashlib
    import importlib.util
    import os
    import sys

    import numba

    from refruntime.registry import cache_dir

    erf = "from refruntime.kernels.erf import erf_candidate, erf_float32\n" if "erf_float32" in source else ""
    text = f"import numba\nimport numpy as np\n{erf}\n\n@numba.njit(cache=True, error_model='numpy')\n{source}"
    name = "chain_" + hashlib.sha1(text.encode()).hexdigest()[:20]
    path = os.path.join(cache_dir(), "fused", name + ".py")
    try:
        if not _holds(path, text):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            temporary = f"{path}.{os.getpid()}.tmp"
            with open(temporary, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(temporary, path)
        module_name = f"refruntime_fused_{name}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # numba's cached code finds its globals by module name
        spec.loader.exec_module(module)
        if _holds(path, text):  # what ran is what was generated
            return module.chain
    except OSError:
        pass
    scope = {"np": np}
    if erf:
        from refruntime.kernels.erf import erf_candidate, erf_float32

        scope.update(erf_candidate=erf_candidate, erf_float32=erf_float32)
    exec(compile(source, "<refruntime fused elementwise>", "exec"), scope)  # noqa: S102 - generated here
    return numba.njit(error_model="numpy")(scope["chain"])


def _holds(path: str, text: str) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read() == text
    except OSError:
        return False


def _source(templates, operands, kinds, compute, store: int, preloaded: int | None = None) -> str:
    """The loop's source: links `compute` (in order) per element, link `store`'s value written to
    out; with `preloaded`, that link's value is read from a last argument `p` (a numpy link's
    result). A chain with Erf computes each row with erf_candidate, which leaves NaN where the fast
    polynomial cannot decide the rounding; NaN goes through every link, so the row's NaN results
    are then recomputed, one by one, with the exact erf_float32 (genuine NaNs too)."""
    args = ", ".join([f"a{k}" for k in range(len(kinds))] + (["p"] if preloaded is not None else []))
    lines = [f"def chain(out, {args}):", "    rows, cols = out.shape"]
    lines += [f"    s{k} = a{k}[0]" for k, kind in enumerate(kinds) if kind == "S"]
    lines += ["    for r in range(rows):"]
    element = (templates, operands, kinds, compute, store, preloaded)
    if not any("ERF" in templates[j] for j in compute):
        lines += ["        for c in range(cols):", *_element(*element, "erf_float32", 12)]
        return "\n".join(lines) + "\n"
    lines += ["        unsure = 0", "        for c in range(cols):",
              *_element(*element, "erf_candidate", 12),
              f"            unsure += 0 if t{store} == t{store} else 1",
              "        if unsure:", "            for c in range(cols):", "                if out[r, c] != out[r, c]:",
              *_element(*element, "erf_float32", 20)]
    return "\n".join(lines) + "\n"


def _element(templates, operands, kinds, compute, store, preloaded, erf: str, indent: int) -> list[str]:
    """Lines computing out[r, c]: the inputs' values, the links of `compute`, the store."""
    pad = " " * indent
    loads = {"F": "a{k}[r, c]", "V": "a{k}[c]", "S": "s{k}"}
    lines = [f"{pad}a{k}v = {loads[kind].format(k=k)}" for k, kind in enumerate(kinds)]
    if preloaded is not None:
        lines.append(f"{pad}t{preloaded} = p[r, c]")
    for j in compute:
        values = [n + "v" if n.startswith("a") else n for n in operands[j]]
        lines.append(f"{pad}t{j} = np.float32({templates[j].replace('ERF', erf).format(*values)})")
    lines.append(f"{pad}out[r, c] = t{store}")
    return lines
