"""Constant: the value comes from exactly one of value, sparse_value, value_float(s),
value_int(s), value_string(s); it is built once at plan time."""
import numpy as np

from refruntime.ops.base import OpRun

_FORMS = ("value", "sparse_value", "value_float", "value_floats", "value_int", "value_ints",
          "value_string", "value_strings")


def _densify(sparse) -> np.ndarray:
    """Dense array of a sparse tensor (values at linear or per-dimension COO indices)."""
    shape = tuple(int(d) for d in sparse.shape)
    dense = np.zeros(shape, dtype=sparse.values.dtype)
    indices = np.asarray(sparse.indices, dtype=np.int64)
    if indices.ndim == 1:  # linearized indices
        dense.reshape(-1)[indices] = sparse.values
    else:  # [nnz, rank] coordinates
        dense[tuple(indices.T)] = sparse.values
    return dense


class Constant(OpRun):
    def prepare(self):
        given = [k for k in _FORMS if k in self.attributes]
        if len(given) != 1:
            self.fail(f"needs exactly one of {', '.join(_FORMS)}; got {given or 'none'}")
        key = given[0]
        value = self.attributes[key]
        if key == "value":
            value = np.asarray(value)
        elif key == "sparse_value":
            value = _densify(value)
        elif key in ("value_float", "value_floats"):
            value = np.array(value, dtype=np.float32)
        elif key in ("value_int", "value_ints"):
            value = np.array(value, dtype=np.int64)
        else:
            value = np.array(value, dtype=object)
        self.value = value

    def run(self, *inputs, scope=None):
        return (self.value,)

    def _run(self, **attributes):  # pragma: no cover - run() returns the prepared value
        return (self.value,)
