"""Scan (opset 9+ semantics): iterate a body over slices of the scan inputs.

Inputs: N initial state values then M scan inputs (M = num_scan_inputs), each sliced along its
scan_input_axes entry, forward or reversed per scan_input_directions. Body: (N states, M slices)
-> (N states, K scan outputs). Node outputs: final states, then each scan output stacked along
its scan_output_axes entry (reversed per scan_output_directions).
"""
import numpy as np

from refruntime.ops._common import normalize_axis
from refruntime.ops._subgraph import Subgraph
from refruntime.ops.base import OpRun


class Scan_9(OpRun):
    needs_scope = True

    def prepare(self):
        a = self.attributes
        if "body" not in a or "num_scan_inputs" not in a:
            self.refuse("attributes 'body' and 'num_scan_inputs' are required")
        self.m = a["num_scan_inputs"]
        if not 1 <= self.m <= len(self.node.input):
            self.refuse(f"attribute 'num_scan_inputs' is {self.m}; the node has {len(self.node.input)} inputs, "
                        "of which the last num_scan_inputs (at least 1) are scanned")
        self.body = Subgraph(self, a["body"])
        self.n = len(self.node.input) - self.m
        self.k = len(self.body.output_names) - self.n
        if self.k < 0 or len(self.body.input_names) != self.n + self.m:
            self.refuse(f"attribute 'body' with {len(self.body.input_names)} inputs and {len(self.body.output_names)} "
                        f"outputs does not fit {len(self.node.input)} node inputs with num_scan_inputs={self.m} "
                        f"(body inputs: one per state and scan input; outputs: one per state, then scan outputs)")
        if self.num_outputs > self.n + self.k:
            self.refuse(f"has {self.num_outputs} outputs, but attribute 'body' makes {self.n} state(s) and "
                        f"{self.k} scan output(s)")
        self.in_axes = a.get("scan_input_axes", [0] * self.m)
        self.in_dirs = a.get("scan_input_directions", [0] * self.m)
        self.out_axes = a.get("scan_output_axes", [0] * self.k)
        self.out_dirs = a.get("scan_output_directions", [0] * self.k)
        for name, vals, n in (("scan_input_axes", self.in_axes, self.m),
                              ("scan_input_directions", self.in_dirs, self.m),
                              ("scan_output_axes", self.out_axes, self.k),
                              ("scan_output_directions", self.out_dirs, self.k)):
            if len(vals) != n:
                self.refuse(f"attribute '{name}' has {len(vals)} values, expected {n}")
        for name, vals in (("scan_input_directions", self.in_dirs), ("scan_output_directions", self.out_dirs)):
            if any(v not in (0, 1) for v in vals):
                self.refuse(f"attribute '{name}' is {vals}; each direction is 0 (forward) or 1 (reverse)")

    def _run(self, *inputs, scope=None, body=None, num_scan_inputs=None, scan_input_axes=None,
             scan_input_directions=None, scan_output_axes=None, scan_output_directions=None):
        states = list(inputs[:self.n])
        scan_inputs = []
        length = None
        for j, x in enumerate(inputs[self.n:]):
            ax = normalize_axis(self, self.in_axes[j], x.ndim, "scan_input_axes entry")
            x = np.moveaxis(x, ax, 0)
            if self.in_dirs[j]:
                x = x[::-1]
            if length is not None and x.shape[0] != length:
                self.fail(f"scan inputs disagree on the sequence length: {length} vs {x.shape[0]} "
                          f"(input {self.node.input[self.n + j]!r})")
            length = x.shape[0]
            scan_inputs.append(x)
        length = length or 0
        names = self.body.input_names
        outputs = [[] for _ in range(self.k)]
        max_bytes = getattr(self.options, "max_tensor_bytes", None)
        sizes = [0] * self.k
        for t in range(length):
            feeds = dict(zip(names[:self.n], states))
            feeds.update((names[self.n + j], x[t]) for j, x in enumerate(scan_inputs))
            outs = self.body.run(feeds, scope)
            states = outs[:self.n]
            for k, v in enumerate(outs[self.n:]):
                outputs[k].append(np.asarray(v))
                sizes[k] += outputs[k][-1].nbytes
                if max_bytes is not None and sizes[k] > max_bytes:
                    from refruntime.errors import LimitError

                    name = self.node.name or self.node.output[0]
                    raise LimitError(f"node {name!r} (Scan): scan output {k} grows past "
                                     f"max_tensor_bytes={max_bytes} after {t + 1} iterations")
        results = []
        for k, items in enumerate(outputs):
            if not items:
                results.append(self.body.output_template(self.n + k))
                continue
            if self.out_dirs[k]:
                items = items[::-1]
            stacked = np.stack(items)
            ax = normalize_axis(self, self.out_axes[k], stacked.ndim, "scan_output_axes entry")
            results.append(np.moveaxis(stacked, 0, ax))
        return tuple(states) + tuple(results)
