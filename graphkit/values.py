"""Sequences and maps as values (ZipMap's list of dicts, SplitToSequence's list of tensors): how
graphkit writes their types, prints them, and saves them in an .npz beside plain tensors.

An .npz holds arrays only, so a non-tensor value is stored under derived names that
`from_npz` turns back into the value:
    NAME::0, NAME::1, ...        a sequence of tensors (element i)
    NAME::keys, NAME::values     a map (its keys and values, in the map's order)
    NAME::keys, NAME::rows       a sequence of maps with the same keys (ZipMap): the keys once and
                                 one row of values per map
"""
from __future__ import annotations

import re

import numpy as np

SEP = "::"
_ITEM = re.compile(r"^(?P<name>.+)::(?P<part>\d+|keys|values|rows)$")


def type_text(tp, nested: bool = False) -> str:
    """ONNX TypeProto as text: float32[batch, 3], seq(map(int64, float32)), optional(...) (a tensor
    inside a sequence or map without a declared shape is written by its type alone)."""
    from graphkit.summary import dtype_name, shape_text

    kind = tp.WhichOneof("value")
    if kind == "tensor_type":
        tt = tp.tensor_type
        dims = None
        if tt.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tt.shape.dim]
        elif nested:
            return dtype_name(tt.elem_type)
        return dtype_name(tt.elem_type) + shape_text(dims)
    if kind == "sequence_type":
        return f"seq({type_text(tp.sequence_type.elem_type, True)})"
    if kind == "map_type":
        return f"map({dtype_name(tp.map_type.key_type)}, {type_text(tp.map_type.value_type, True)})"
    if kind == "optional_type":
        return f"optional({type_text(tp.optional_type.elem_type, True)})"
    return kind or "unknown"


def describe(value, limit: int = 3) -> str:
    """One line for a sequence or a map: its length, and its first elements."""
    if isinstance(value, dict):
        items = list(value.items())[:limit]
        shown = ", ".join(f"{k!r}: {_scalar(v)}" for k, v in items)
        return f"map of {len(value)} {{{shown}{', ...' if len(value) > limit else ''}}}"
    if isinstance(value, (list, tuple)):
        first = describe(value[0], limit) if value and isinstance(value[0], (dict, list, tuple)) else (
            _array_text(value[0]) if value else "")
        return f"seq of {len(value)}" + (f", first: {first}" if value else "")
    return _array_text(value)


def _scalar(v) -> str:
    return f"{float(v):.6g}" if isinstance(v, (float, np.floating)) else repr(v)


def _array_text(v) -> str:
    a = np.asarray(v)
    return f"{a.dtype}{list(a.shape)}"


def to_npz(values: dict) -> dict[str, np.ndarray]:
    """Arrays to write: tensors as they are, sequences and maps under derived names (module doc)."""
    out = {}
    for name, value in values.items():
        if isinstance(value, dict):
            out[f"{name}{SEP}keys"] = np.asarray(list(value.keys()))
            out[f"{name}{SEP}values"] = np.asarray(list(value.values()))
        elif isinstance(value, (list, tuple)):
            if value and all(isinstance(v, dict) for v in value) and all(list(v) == list(value[0]) for v in value):
                out[f"{name}{SEP}keys"] = np.asarray(list(value[0].keys()))
                out[f"{name}{SEP}rows"] = np.asarray([list(v.values()) for v in value])
            else:
                for i, element in enumerate(value):
                    out[f"{name}{SEP}{i}"] = np.asarray(element)
        else:
            out[name] = np.asarray(value)
    return out


def from_npz(arrays: dict) -> dict:
    """The inverse of to_npz: derived names turned back into sequences and maps."""
    plain, parts = {}, {}
    for key, array in arrays.items():
        m = _ITEM.match(key) if SEP in key else None
        if m is None:
            plain[key] = array
        else:
            parts.setdefault(m["name"], {})[m["part"]] = array
    for name, p in parts.items():
        if "rows" in p and "keys" in p:
            keys = [_plain(k) for k in p["keys"]]
            plain[name] = [dict(zip(keys, (_plain(v) for v in row))) for row in p["rows"]]
        elif "values" in p and "keys" in p:
            plain[name] = dict(zip((_plain(k) for k in p["keys"]), (_plain(v) for v in p["values"])))
        else:
            plain[name] = [p[i] for i in sorted((k for k in p if k.isdigit()), key=int)]
    return plain


def _plain(v):
    """A numpy scalar as the Python value a runtime hands back (int key, float probability)."""
    return v.item() if isinstance(v, np.generic) else v
