"""Loop: a for / while / for-while loop over a body graph.

Body inputs: (iteration_num, condition, loop-carried...); body outputs: (condition,
loop-carried..., scan outputs...). Node outputs: the final loop-carried values, then each scan
output stacked over the iterations. `Options.max_loop_iterations` bounds both the trip count and
a while-loop whose condition stays true (LimitError naming the node); it also bounds the
iterations of all Loop nodes of one run together, so nested loops cannot multiply past it.
"""
import numpy as np

from refruntime.ops._subgraph import Subgraph
from refruntime.ops.base import OpRun


class Loop(OpRun):
    needs_scope = True

    def prepare(self):
        if "body" not in self.attributes:
            self.refuse("attribute 'body' is required")
        self.body = Subgraph(self, self.attributes["body"])
        n_carried = len(self.node.input) - 2
        if n_carried < 0:
            self.refuse(f"has {len(self.node.input)} inputs; expected M, cond and the loop-carried values")
        if len(self.body.input_names) != n_carried + 2:
            self.refuse(f"attribute 'body' has {len(self.body.input_names)} inputs; expected {n_carried + 2} "
                        "(iteration_num, condition and one per loop-carried value)")
        if len(self.body.output_names) < n_carried + 1:
            self.refuse(f"attribute 'body' has {len(self.body.output_names)} outputs; expected at least "
                        f"{n_carried + 1} (condition and one per loop-carried value)")
        self.n_carried = n_carried
        self.n_scan = len(self.body.output_names) - 1 - n_carried
        if self.num_outputs > n_carried + self.n_scan:
            self.refuse(f"has {self.num_outputs} outputs, but attribute 'body' makes {n_carried} loop-carried "
                        f"value(s) and {self.n_scan} scan output(s)")

    def _limit(self, message: str):
        from refruntime.errors import LimitError

        name = self.node.name or (self.node.output[0] if self.node.output else "?")
        raise LimitError(f"node {name!r} (Loop): {message}")

    def _run(self, M=None, cond=None, *carried, scope=None, body=None):
        limit = getattr(self.options, "max_loop_iterations", None)
        trip = None if M is None or np.size(M) == 0 else int(np.asarray(M).reshape(-1)[0])
        keep_going = True if cond is None or np.size(cond) == 0 else bool(np.asarray(cond).reshape(-1)[0])
        if trip is not None and limit is not None and trip > limit:
            self._limit(f"trip count M={trip} exceeds max_loop_iterations={limit}")
        body_in = self.body.input_names
        values = list(carried)
        scans = [[] for _ in range(self.n_scan)]
        max_bytes = getattr(self.options, "max_tensor_bytes", None)
        scan_bytes = [0] * self.n_scan
        i = 0
        context = self.context
        while keep_going and (trip is None or i < trip):
            if trip is None and limit is not None and i >= limit:
                self._limit(f"the loop condition is still true after max_loop_iterations={limit} "
                            "iterations")
            if limit is not None and context is not None:
                context.loop_iterations += 1
                if context.loop_iterations > limit:
                    self._limit(f"the run's loops together passed max_loop_iterations={limit} iterations "
                                "(nested loops count together)")
            feeds = {body_in[0]: np.array(i, dtype=np.int64), body_in[1]: np.array(keep_going)}
            feeds.update(zip(body_in[2:], values))
            outs = self.body.run(feeds, scope)
            keep_going = bool(np.asarray(outs[0]).reshape(-1)[0])
            values = outs[1:1 + self.n_carried]
            for k, v in enumerate(outs[1 + self.n_carried:]):
                scans[k].append(v)
                scan_bytes[k] += getattr(v, "nbytes", 0)
                if max_bytes is not None and scan_bytes[k] > max_bytes:
                    self._limit(f"scan output {k} grows past max_tensor_bytes={max_bytes} after {i + 1} "
                                "iterations")
            i += 1
        stacked = []
        for k, items in enumerate(scans):
            if items:
                first = np.asarray(items[0])
                if any(np.shape(v) != first.shape for v in items):
                    shapes = sorted({tuple(np.shape(v)) for v in items})
                    self.fail(f"scan output {k} changes shape across iterations: {shapes}")
                stacked.append(np.stack([np.asarray(v) for v in items]))
            else:
                stacked.append(self.body.output_template(1 + self.n_carried + k))
        return tuple(values) + tuple(stacked)
