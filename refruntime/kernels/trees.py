"""Tree ensembles of ai.onnx.ml (TreeEnsembleClassifier/Regressor 1 and 3, TreeEnsemble 5).

Plan time: the node attributes are parsed, checked and flattened once into a `Forest` (one row per
node: feature, threshold, comparison, true and false successor; leaves point to themselves and
carry their weights in CSR form). Everything a malformed model can get wrong is refused there
with a ModelError naming the node and the attribute: list lengths that differ, ids that name no
node, trees with no root or several, node ids that form a cycle, class/target ids out of range.
The longest root-to-leaf path is measured then (and a cycle found in as many steps), so the walk
below is bounded.

Run time: all samples walk all trees at once. The walk keeps, for every (sample, tree) pair not
yet at a leaf, its current node; each step is a handful of numpy operations over those pairs
(gather the feature, compare, pick the successor), so the Python loop runs once per tree level,
never per sample or per node. Samples are processed in chunks of at most CHUNK pairs.

Comparisons are those of onnxruntime (tree_ensemble_common.h): `x <= threshold` etc., NaN compares
false (so BRANCH_NEQ sends NaN to the true branch) unless `nodes_missing_value_tracks_true` sends
it there anyway. Integer inputs are compared as C++ compares them with a float threshold: converted
to the threshold's type first (float32 for the FLOATS attributes).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEQ, LT, GTE, GT, EQ, NEQ, MEMBER, LEAF = range(8)
MODE_NAMES = ("BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ",
              "BRANCH_MEMBER", "LEAF")
_COMPARE = {LEQ: np.less_equal, LT: np.less, GTE: np.greater_equal, GT: np.greater, EQ: np.equal,
            NEQ: np.not_equal}
CHUNK = 1 << 18          # (sample, tree) pairs walked together
AGGREGATES = ("AVERAGE", "SUM", "MIN", "MAX")  # ai.onnx.ml 5 numbers them in this order


@dataclass
class Forest:
    feature: np.ndarray          # int64 (n,): feature each branch node tests (0 for leaves)
    threshold: np.ndarray        # float64 (n,)
    mode: np.ndarray             # uint8 (n,): LEQ..MEMBER, LEAF
    true_next: np.ndarray        # int64 (n,): successor when the test holds (a leaf: itself)
    false_next: np.ndarray       # int64 (n,)
    missing_true: np.ndarray     # bool (n,): NaN goes to the true branch
    roots: np.ndarray            # int64 (trees,)
    depth: int                   # branch steps on the longest root-to-leaf path
    weight_start: np.ndarray     # int64 (n + 1,): weights of node i are [start[i], start[i + 1])
    weight_target: np.ndarray    # int64: class or target index of each weight
    weight_value: np.ndarray     # float64
    n_targets: int
    threshold_dtype: np.dtype    # how integer inputs are converted before comparing
    members: tuple | None = None  # BRANCH_MEMBER sets: (sorted unique values, sorted node*len+rank keys)
    n_features: int = 0          # 1 + the largest feature id a branch node tests

    @property
    def is_leaf(self) -> np.ndarray:
        return self.mode == LEAF

    @property
    def n_trees(self) -> int:
        return len(self.roots)


# -- plan time ---------------------------------------------------------------------------------
def forest_from_ids(kernel, *, tree_ids, node_ids, feature_ids, modes, values, true_ids, false_ids,
                    missing_tracks, hitrates, weight_tree_ids, weight_node_ids, weight_targets, weight_values,
                    n_targets: int, prefix: str, values_name: str, threshold_dtype) -> Forest:
    """The Forest of a TreeEnsembleClassifier/Regressor (ai.onnx.ml 1, 3): nodes named by (tree id,
    node id), `prefix` is "class" or "target" (the weight attributes' names)."""
    tree_ids, node_ids = _ints(tree_ids), _ints(node_ids)
    n = len(node_ids)
    columns = {"nodes_nodeids": node_ids, "nodes_treeids": tree_ids, "nodes_featureids": _ints(feature_ids),
               "nodes_modes": list(modes or []), values_name: values if values is not None else np.zeros(0),
               "nodes_truenodeids": _ints(true_ids), "nodes_falsenodeids": _ints(false_ids)}
    optional = {"nodes_missing_value_tracks_true": missing_tracks, "nodes_hitrates": hitrates}
    _same_lengths(kernel, columns, {k: v for k, v in optional.items() if v is not None and len(v)},
                  "the nodes_* attributes describe one node per position")
    weights = {f"{prefix}_ids": _ints(weight_targets), f"{prefix}_nodeids": _ints(weight_node_ids),
               f"{prefix}_treeids": _ints(weight_tree_ids),
               f"{prefix}_weights": weight_values if weight_values is not None else np.zeros(0)}
    _same_lengths(kernel, weights, {}, f"the {prefix}_* attributes describe one weight per position")

    unknown = sorted({m for m in columns["nodes_modes"] if m not in MODE_NAMES or m == "BRANCH_MEMBER"})
    if unknown:
        kernel.refuse(f"attribute 'nodes_modes' has unknown mode(s) {unknown}; expected BRANCH_LEQ, BRANCH_LT, "
                      "BRANCH_GTE, BRANCH_GT, BRANCH_EQ, BRANCH_NEQ or LEAF")
    mode = np.array([MODE_NAMES.index(m) for m in columns["nodes_modes"]], dtype=np.uint8)
    leaf = mode == LEAF
    feature = np.where(leaf, 0, columns["nodes_featureids"])
    if np.any(feature < 0):
        i = int(np.flatnonzero(feature < 0)[0])
        kernel.refuse(f"attribute 'nodes_featureids': node {node_ids[i]} of tree {tree_ids[i]} tests feature "
                      f"{feature[i]}; feature ids start at 0")

    if n == 0:
        if len(weights[f"{prefix}_ids"]):
            kernel.refuse(f"attribute '{prefix}_nodeids' names nodes, but the ensemble has no nodes")
        return _finish(kernel, feature=np.zeros(0, np.int64), threshold=np.zeros(0), mode=mode,
                       true_next=np.zeros(0, np.int64), false_next=np.zeros(0, np.int64), missing=np.zeros(0, bool),
                       roots=np.zeros(0, np.int64), depth=0, weight_node=np.zeros(0, np.int64),
                       weight_target=np.zeros(0, np.int64), weight_value=np.zeros(0), n_targets=n_targets,
                       threshold_dtype=threshold_dtype)
    # (tree id, node id) -> position, vectorized: trees and node ids ranked, keys sorted
    tree_values, tree = np.unique(tree_ids, return_inverse=True)
    node_values = np.unique(node_ids)
    width = max(len(node_values), 1)
    keys = tree * width + np.searchsorted(node_values, node_ids)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    twice = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1])
    if twice.size:
        i = int(order[twice[0]])
        kernel.refuse(f"attribute 'nodes_nodeids': node {node_ids[i]} of tree {tree_ids[i]} is described twice")

    def find(trees: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Positions of the nodes (trees[k], ids[k]), -1 where there is none."""
        rank = np.searchsorted(node_values, ids)
        known = (rank < len(node_values)) & (node_values[np.minimum(rank, len(node_values) - 1)] == ids)
        key = trees * width + rank
        at = np.minimum(np.searchsorted(sorted_keys, key), n - 1)
        return np.where(known & (sorted_keys[at] == key), order[at], -1)

    branch = np.flatnonzero(~leaf)
    true_next, false_next = np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64)
    for name, target, successor in (("nodes_truenodeids", columns["nodes_truenodeids"], true_next),
                                    ("nodes_falsenodeids", columns["nodes_falsenodeids"], false_next)):
        at = find(tree[branch], target[branch])
        if np.any(at < 0):
            i = int(branch[np.flatnonzero(at < 0)[0]])
            kernel.refuse(f"attribute {name!r}: node {node_ids[i]} of tree {tree_ids[i]} points to node "
                          f"{target[i]}, which tree {tree_ids[i]} does not have")
        successor[branch] = at

    has_parent = np.zeros(n, dtype=bool)
    has_parent[true_next[branch]] = True
    has_parent[false_next[branch]] = True
    root_count = np.bincount(tree[~has_parent], minlength=len(tree_values))
    if np.any(root_count == 0):
        t = tree_values[int(np.flatnonzero(root_count == 0)[0])]
        kernel.refuse(f"attributes 'nodes_truenodeids'/'nodes_falsenodeids': every node of tree {t} is the child "
                      "of another node, so the tree has no root: its node ids form a cycle")
    if np.any(root_count > 1):
        k = int(np.flatnonzero(root_count > 1)[0])
        tops = node_ids[(tree == k) & ~has_parent]
        kernel.refuse(f"attributes 'nodes_truenodeids'/'nodes_falsenodeids': tree {tree_values[k]} has "
                      f"{len(tops)} nodes that are no node's child ({_few(tops)}); a tree has one root")
    roots = np.empty(len(tree_values), dtype=np.int64)  # by tree rank (sorted tree ids)
    roots[tree[~has_parent]] = np.flatnonzero(~has_parent)
    # one root per tree and no cycle: every node hangs below its tree's root
    depth = _depth(kernel, leaf, true_next, false_next,
                   lambda at: f"nodes {_few(node_ids[at])} of tree {tree_ids[at[0]]}")

    # weights: attached to the nodes they name (only those at leaves are ever used)
    w_target = weights[f"{prefix}_ids"]
    w_tree, w_node = weights[f"{prefix}_treeids"], weights[f"{prefix}_nodeids"]
    w_tree_rank = np.searchsorted(tree_values, w_tree)
    known_tree = (w_tree_rank < len(tree_values)) & (tree_values[np.minimum(w_tree_rank, len(tree_values) - 1)]
                                                      == w_tree) if len(tree_values) else np.zeros(len(w_tree), bool)
    at = np.where(known_tree, find(np.where(known_tree, w_tree_rank, 0), w_node), -1)
    if np.any(at < 0):
        j = int(np.flatnonzero(at < 0)[0])
        kernel.refuse(f"attributes '{prefix}_treeids'/'{prefix}_nodeids': weight {j} names node {w_node[j]} of tree "
                      f"{w_tree[j]}, which does not exist")
    _check_targets(kernel, f"{prefix}_ids", w_target, n_targets)
    values = np.asarray(columns[values_name], dtype=np.float64)
    return _finish(kernel, feature=feature, threshold=values, mode=mode, true_next=true_next, false_next=false_next,
                   missing=_missing(missing_tracks, n), roots=roots, depth=depth, weight_node=at,
                   weight_target=w_target, weight_value=np.asarray(weights[f"{prefix}_weights"], dtype=np.float64),
                   n_targets=n_targets, threshold_dtype=threshold_dtype)


def forest_from_v5(kernel, *, featureids, modes, splits, truenodeids, falsenodeids, trueleafs, falseleafs,
                   missing_tracks, hitrates, leaf_targetids, leaf_weights, tree_roots, membership_values,
                   n_targets) -> Forest:
    """The Forest of a TreeEnsemble (ai.onnx.ml 5): interior nodes are positions in the nodes_*
    attributes, leaves positions in the leaf_* attributes; the Forest numbers the M interior nodes
    first and the leaves after them."""
    modes = np.asarray(modes if modes is not None else [], dtype=np.int64).reshape(-1)
    columns = {"nodes_featureids": _ints(featureids), "nodes_modes": modes,
               "nodes_splits": np.asarray(splits, dtype=np.float64).reshape(-1),
               "nodes_truenodeids": _ints(truenodeids), "nodes_falsenodeids": _ints(falsenodeids),
               "nodes_trueleafs": _ints(trueleafs), "nodes_falseleafs": _ints(falseleafs)}
    optional = {"nodes_missing_value_tracks_true": missing_tracks, "nodes_hitrates": hitrates}
    _same_lengths(kernel, columns, {k: np.asarray(v).reshape(-1) for k, v in optional.items()
                                    if v is not None and np.asarray(v).size},
                  "the nodes_* attributes describe one node per position")
    leaves = {"leaf_targetids": _ints(leaf_targetids), "leaf_weights": np.asarray(leaf_weights).reshape(-1)}
    _same_lengths(kernel, leaves, {}, "the leaf_* attributes describe one leaf per position")
    m, n_leaves = len(modes), len(leaves["leaf_targetids"])
    if np.any((modes < 0) | (modes > MEMBER)):
        i = int(np.flatnonzero((modes < 0) | (modes > MEMBER))[0])
        kernel.refuse(f"attribute 'nodes_modes': node {i} has mode {modes[i]}; expected 0 (BRANCH_LEQ) .. 6 "
                      "(BRANCH_MEMBER)")
    if np.any(columns["nodes_featureids"] < 0):
        i = int(np.flatnonzero(columns["nodes_featureids"] < 0)[0])
        kernel.refuse(f"attribute 'nodes_featureids': node {i} tests feature {columns['nodes_featureids'][i]}; "
                      "feature ids start at 0")
    successors = []
    for side in ("true", "false"):
        ids, to_leaf = columns[f"nodes_{side}nodeids"], columns[f"nodes_{side}leafs"] != 0
        limit = np.where(to_leaf, n_leaves, m)
        bad = (ids < 0) | (ids >= limit)
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            what = f"leaf {ids[i]}, but there are {n_leaves} leaves" if to_leaf[i] else \
                f"node {ids[i]}, but there are {m} nodes"
            kernel.refuse(f"attribute 'nodes_{side}nodeids': node {i} points to {what} (nodes_{side}leafs[{i}] = "
                          f"{int(to_leaf[i])})")
        successors.append(np.where(to_leaf, m + ids, ids))
    roots = _ints(tree_roots)
    if np.any((roots < 0) | (roots >= m)):
        r = roots[(roots < 0) | (roots >= m)][0]
        kernel.refuse(f"attribute 'tree_roots': root {r} is not a node (there are {m} nodes)")
    _check_targets(kernel, "leaf_targetids", leaves["leaf_targetids"], n_targets)
    mode = np.concatenate([modes.astype(np.uint8), np.full(n_leaves, LEAF, np.uint8)])
    own = np.arange(m + n_leaves, dtype=np.int64)
    true_next = np.concatenate([successors[0], own[m:]])
    false_next = np.concatenate([successors[1], own[m:]])
    leaf = mode == LEAF
    depth = _depth(kernel, leaf, true_next, false_next, lambda at: f"node positions {_few(at)}")
    members = _members(kernel, modes, membership_values)
    return _finish(kernel, feature=np.concatenate([columns["nodes_featureids"], np.zeros(n_leaves, np.int64)]),
                   threshold=np.concatenate([columns["nodes_splits"], np.zeros(n_leaves)]), mode=mode,
                   true_next=true_next, false_next=false_next,
                   missing=np.concatenate([_missing(missing_tracks, m), np.zeros(n_leaves, bool)]), roots=roots,
                   depth=depth, weight_node=own[m:], weight_target=leaves["leaf_targetids"],
                   weight_value=np.asarray(leaves["leaf_weights"], dtype=np.float64), n_targets=n_targets,
                   threshold_dtype=np.dtype(np.float64), members=members)


def _finish(kernel, *, feature, threshold, mode, true_next, false_next, missing, roots, depth, weight_node,
            weight_target, weight_value, n_targets, threshold_dtype, members=None) -> Forest:
    n = len(mode)
    order = np.argsort(weight_node, kind="stable")  # keeps each node's weights in attribute order
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(weight_node, minlength=n), out=start[1:])
    used = mode != LEAF
    return Forest(feature=np.asarray(feature, np.int64), threshold=threshold, mode=mode, true_next=true_next,
                  false_next=false_next, missing_true=missing, roots=np.asarray(roots, np.int64), depth=depth,
                  weight_start=start, weight_target=weight_target[order], weight_value=weight_value[order],
                  n_targets=n_targets, threshold_dtype=np.dtype(threshold_dtype), members=members,
                  n_features=int(feature[used].max()) + 1 if used.any() else 0)


def _depth(kernel, leaf, true_next, false_next, describe) -> int:
    """Branch steps on the longest path through the trees, or a refusal when the branches form a
    cycle. Kahn's layering: peel off the nodes no remaining branch points to, layer after layer
    (so a node several branches share, as converters write set membership, is fine); nodes left
    over lie on a cycle or below one. One numpy step per layer."""
    n = len(leaf)
    branch = np.flatnonzero(~leaf)
    children = np.concatenate([true_next[branch], false_next[branch]])
    pending = np.bincount(children, minlength=n)  # branches still pointing at each node
    frontier = np.flatnonzero(pending == 0)
    done, depth, layer = 0, 0, 0
    while frontier.size:
        done += frontier.size
        parents = frontier[~leaf[frontier]]
        if parents.size:
            depth = layer + 1
        released = np.concatenate([true_next[parents], false_next[parents]])
        np.subtract.at(pending, released, 1)
        frontier = np.unique(released[pending[released] == 0])
        layer += 1
    if done < n:
        stuck = np.flatnonzero(pending > 0)
        kernel.refuse(f"attributes 'nodes_truenodeids'/'nodes_falsenodeids': {describe(stuck)} form a cycle (or "
                      "hang below one)")
    return depth


def _members(kernel, modes, membership_values):
    """BRANCH_MEMBER sets, in node order, from `membership_values` (one NaN-terminated list per such
    node), as (sorted unique values, sorted keys node * len(values) + rank)."""
    member_nodes = np.flatnonzero(modes == MEMBER)
    if not member_nodes.size:
        return None
    if membership_values is None:
        kernel.refuse(f"attribute 'membership_values' is missing; nodes {_few(member_nodes)} are BRANCH_MEMBER nodes")
    values = np.asarray(membership_values, dtype=np.float64).reshape(-1)
    ends = np.flatnonzero(np.isnan(values))
    if len(ends) != len(member_nodes):
        kernel.refuse(f"attribute 'membership_values' holds {len(ends)} NaN-terminated sets; there are "
                      f"{len(member_nodes)} BRANCH_MEMBER nodes")
    owner = np.repeat(member_nodes, np.diff(np.concatenate([[-1], ends])) - 1)
    present = values[~np.isnan(values)]
    uniques = np.unique(present)
    keys = np.unique(owner * max(len(uniques), 1) + np.searchsorted(uniques, present))
    return uniques, keys


def _same_lengths(kernel, required: dict, optional: dict, why: str) -> None:
    lengths = {name: len(v) for name, v in {**required, **optional}.items()}
    first = next(iter(required))
    for name, length in lengths.items():
        if length != lengths[first]:
            kernel.refuse(f"attribute {name!r} has {length} values and {first!r} has {lengths[first]}: {why}")


def _check_targets(kernel, name: str, targets: np.ndarray, n_targets: int) -> None:
    bad = (targets < 0) | (targets >= n_targets)
    if np.any(bad):
        j = int(np.flatnonzero(bad)[0])
        kernel.refuse(f"attribute {name!r}: entry {j} is {targets[j]}, outside [0, {n_targets})")


def _missing(tracks, n: int) -> np.ndarray:
    if tracks is None or not len(tracks):
        return np.zeros(n, dtype=bool)
    return np.asarray(tracks).reshape(-1) != 0


def _ints(values) -> np.ndarray:
    return np.asarray(values if values is not None else [], dtype=np.int64).reshape(-1)


def _few(values, limit: int = 5) -> str:
    values = [int(v) for v in np.asarray(values).reshape(-1)]
    return ", ".join(map(str, values[:limit])) + (", ..." if len(values) > limit else "")


# -- run time ----------------------------------------------------------------------------------
def as_features(kernel, forest: Forest, x: np.ndarray) -> np.ndarray:
    """X as the (N, F) float64 matrix the walk compares: a 1-D X is one row; integers are first
    converted to the thresholds' type, as C++ compares them."""
    if x.ndim == 1:
        x = x.reshape(1, -1)
    elif x.ndim != 2:
        kernel.fail(f"input X must be 1-D or 2-D, got shape {tuple(x.shape)}")
    if x.dtype.kind in "iu":
        x = x.astype(forest.threshold_dtype)
    elif x.dtype.kind != "f":
        kernel.fail(f"input X must be numeric, got {x.dtype}")
    if x.shape[1] < forest.n_features:
        kernel.fail(f"input X has {x.shape[1]} features per row; the trees test feature {forest.n_features - 1}")
    return x.astype(np.float64, copy=False)


def leaves(forest: Forest, x: np.ndarray) -> np.ndarray:
    """(N, trees) int64: the leaf each sample reaches in each tree (x from `as_features`)."""
    n, trees = x.shape[0], forest.n_trees
    out = np.empty((n, trees), dtype=np.int64)
    if not n or not trees:
        return out
    step = max(1, CHUNK // trees)
    for begin in range(0, n, step):  # chunks of samples, for memory: not a loop per sample
        out[begin:begin + step] = _walk(forest, x[begin:begin + step])
    return out


def _walk(forest: Forest, x: np.ndarray) -> np.ndarray:
    n, trees = x.shape[0], forest.n_trees
    width = x.shape[1]
    flat_x = np.ascontiguousarray(x).reshape(-1)
    position = np.tile(forest.roots, n)
    row_start = np.repeat(np.arange(n, dtype=np.int64) * width, trees)
    is_leaf = forest.is_leaf
    active = np.flatnonzero(~is_leaf[position])
    modes = np.unique(forest.mode[~is_leaf])
    any_missing = bool(forest.missing_true.any())
    for _ in range(forest.depth):
        if not active.size:
            break
        node = position[active]
        value = flat_x[row_start[active] + forest.feature[node]]
        if len(modes) == 1 and modes[0] != MEMBER:
            go = _COMPARE[int(modes[0])](value, forest.threshold[node])
        else:
            go = _compare_mixed(forest, node, value)
        if any_missing:
            go |= forest.missing_true[node] & np.isnan(value)
        following = np.where(go, forest.true_next[node], forest.false_next[node])
        position[active] = following
        active = active[~is_leaf[following]]
    return position.reshape(n, trees)


def _compare_mixed(forest: Forest, node: np.ndarray, value: np.ndarray) -> np.ndarray:
    mode = forest.mode[node]
    go = np.zeros(node.shape, dtype=bool)
    for m in np.unique(mode):
        where = mode == m
        if m == MEMBER:
            go[where] = _is_member(forest, node[where], value[where])
        else:
            go[where] = _COMPARE[int(m)](value[where], forest.threshold[node[where]])
    return go


def _is_member(forest: Forest, node: np.ndarray, value: np.ndarray) -> np.ndarray:
    uniques, keys = forest.members
    if not uniques.size:
        return np.zeros(node.shape, dtype=bool)
    rank = np.searchsorted(uniques, value)
    clipped = np.minimum(rank, len(uniques) - 1)
    key = node * len(uniques) + clipped
    at = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
    return (uniques[clipped] == value) & (keys[at] == key)


def aggregate(forest: Forest, reached: np.ndarray, function: str = "SUM") -> tuple[np.ndarray, np.ndarray]:
    """(scores, has_score), both (N, n_targets): per sample and target, the SUM/AVERAGE/MIN/MAX of
    the weights of the leaves reached (AVERAGE divides the sum by the number of trees), and whether
    any leaf reached carried a weight for that target (a score without one is 0)."""
    n, targets = reached.shape[0], forest.n_targets
    leaf = reached.reshape(-1)
    start = forest.weight_start[leaf]
    count = forest.weight_start[leaf + 1] - start
    sample = np.repeat(np.arange(n, dtype=np.int64), forest.n_trees)
    if np.all(count == 1):
        index, owner = start, sample
    else:
        total = int(count.sum())
        first = np.cumsum(count) - count
        index = np.repeat(start - first, count) + np.arange(total, dtype=np.int64)
        owner = np.repeat(sample, count)
    cell = owner * targets + forest.weight_target[index]
    value = forest.weight_value[index]
    has = np.bincount(cell, minlength=n * targets).reshape(n, targets) > 0
    if function in ("SUM", "AVERAGE"):
        scores = np.bincount(cell, weights=value, minlength=n * targets).reshape(n, targets)
        if function == "AVERAGE":
            with np.errstate(invalid="ignore", divide="ignore"):
                scores = scores / forest.n_trees
        return scores, has
    scores = np.full(n * targets, np.inf if function == "MIN" else -np.inf)
    (np.minimum if function == "MIN" else np.maximum).at(scores, cell, value)
    return np.where(has, scores.reshape(n, targets), 0.0), has
