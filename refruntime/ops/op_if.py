import numpy as np

from refruntime.ops._subgraph import Subgraph
from refruntime.ops.base import OpRun


class If(OpRun):
    """Runs then_branch or else_branch; both are planned once and read outer-scope values."""

    needs_scope = True

    def prepare(self):
        for name in ("then_branch", "else_branch"):
            if name not in self.attributes:
                self.refuse(f"attribute '{name}' is required")
        self.then_branch = Subgraph(self, self.attributes["then_branch"])
        self.else_branch = Subgraph(self, self.attributes["else_branch"])
        for name, branch in (("then_branch", self.then_branch), ("else_branch", self.else_branch)):
            if len(branch.output_names) < self.num_outputs:
                self.refuse(f"attribute '{name}' has {len(branch.output_names)} outputs, the node {self.num_outputs}")

    def _run(self, cond, scope=None, then_branch=None, else_branch=None):
        flag = np.asarray(cond)
        if flag.size != 1:
            self.fail(f"cond must hold one element, it has shape {flag.shape}")
        branch = self.then_branch if bool(flag.reshape(())) else self.else_branch
        return tuple(branch.run({}, scope))
