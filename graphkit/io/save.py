"""gk.save: Model -> .onnx file (+ optional external data file), written atomically.

Atomicity: the model (and its data file) are written to temporary files in the destination
folder, then moved into place with os.replace — data file first, model last. On any failure the
temporaries are removed and the destination is untouched. The pair is swapped as one step: the
data file it replaces is kept (hard-linked, else renamed) until the model file is in place, and put
back if moving the model fails, so a failed save never leaves a new data file next to an old model.
Only a crash of the machine between the two renames can still leave a new data file next to the
old model; saving again repairs it.

Overwriting policy:
* The path you name is overwritten if it exists (`overwrite=False` refuses instead) — this
  includes the file the model was loaded from: its graph is fully in memory, so that is safe.
* What is never allowed is clobbering **external data the model still reads from**: tensors of a
  loaded model are lazy views of their source data file, so replacing that file would change or
  break them. Saving with a data file name equal to a source data file raises SaveError; pick
  another `location=` (or save to another folder).

External data: `external_data=True` moves every initializer of at least `size_threshold` bytes
to `location` (default "<model file name>.data") next to the model; False keeps everything inline
(SaveError if that exceeds protobuf's 2 GB); None (default) uses external data when the model
already has external tensors or its tensors total more than ~1.8 GB.
"""
from __future__ import annotations

import gc
import os
import tempfile
import uuid

import onnx

from graphkit.atomic import file_mode as _file_mode
from graphkit.errors import SaveError
from graphkit.io.external_data import Writer, check_save_location
from graphkit.io.to_proto import model_to_proto
from graphkit.ir.model import Model

PROTOBUF_LIMIT = 2**31 - 1
AUTO_EXTERNAL_BYTES = int(1.8 * 2**30)


def _all_tensors(graph, out: list) -> list:
    """Initializer tensors of `graph` and of all its subgraphs."""
    out.extend(v._const for v in graph.initializers.values() if v._const is not None)
    for node in graph:
        if node._attrs is not None:
            for sub in node.subgraphs():
                _all_tensors(sub, out)
    return out


def save(model: Model, path: str | os.PathLike, *, external_data: bool | None = None,
         size_threshold: int = 1024, location: str | None = None, overwrite: bool = True) -> None:
    """Write `model` to `path` atomically. See the module docstring for the policies."""
    if not isinstance(model, Model):
        raise SaveError(f"gk.save needs a graphkit Model, got {type(model).__name__}")
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise SaveError(f"cannot save to {path}: folder {folder} does not exist")
    if os.path.isdir(path):
        raise SaveError(f"cannot save to {path}: it is a folder")
    if not overwrite and os.path.exists(path):
        raise SaveError(f"{path} exists (pass overwrite=True to replace it)")

    tensors = _all_tensors(model.graph, [])
    total = sum(t._approx_bytes() for t in tensors)
    sources = {os.path.realpath(t.external_path) for t in tensors if t.is_external}
    use_external = external_data if external_data is not None else bool(sources) or total > AUTO_EXTERNAL_BYTES
    if os.path.realpath(path) in sources:
        raise SaveError(f"refusing to overwrite {path}: the model's tensors still read external data from it")
    data_path = None
    if use_external:
        location = location or os.path.basename(path) + ".data"
        check_save_location(location)
        data_path = os.path.join(folder, location)
        if os.path.realpath(data_path) in sources:
            raise SaveError(f"refusing to overwrite external data file {data_path}: the model's tensors still "
                            f"read from it; save with another location= or to another folder")
        if not overwrite and os.path.exists(data_path):
            raise SaveError(f"{data_path} exists (pass overwrite=True to replace it)")
    elif total > PROTOBUF_LIMIT:
        raise SaveError(f"tensors total {total / 2**30:.2f} GiB, over protobuf's 2 GiB limit; "
                        f"save with external_data=True")

    temps: list[str] = []
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        hook = None
        data_fh = None
        if use_external:
            data_fh = _temp(folder, location, temps)
            writer = Writer(data_fh, location)

            def hook(name, tensor):
                if tensor.nbytes >= size_threshold and tensor.elem_type != onnx.TensorProto.STRING:
                    return writer.add(tensor, name)
                return tensor.to_proto(name, inline=True)

        else:
            def hook(name, tensor):
                return tensor.to_proto(name, inline=True)

        try:
            proto = model_to_proto(model, tensor_hook=hook)
        except UnicodeDecodeError as exc:  # upb hands invalid UTF-8 string fields back as bytes
            raise SaveError(f"cannot save {path}: a name or text field of the model is not valid UTF-8 "
                            f"({exc.object[:40]!r}); the file it was loaded from is malformed") from None
        finally:
            if data_fh is not None:
                _close(data_fh)
        try:
            blob = proto.SerializeToString()
        except ValueError as exc:
            raise SaveError(f"cannot serialize the model ({exc}); try external_data=True") from None
        with _temp(folder, os.path.basename(path), temps) as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        if data_path is None:
            os.replace(temps[-1], path)
        else:
            _replace_pair(temps[0], data_path, temps[-1], path, temps)
        temps.clear()
    except SaveError:
        raise
    except OSError as exc:
        raise SaveError(f"cannot save {path}: {exc.strerror or exc}") from None
    finally:
        for tmp in temps:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if was_enabled:
            gc.enable()


def _replace_pair(data_tmp: str, data_path: str, model_tmp: str, model_path: str, temps: list[str]) -> None:
    """Move the data file then the model file into place; if the model move fails, restore the
    previous data file (or remove the new one) before re-raising."""
    backup = None
    if os.path.lexists(data_path):
        backup = os.path.join(os.path.dirname(data_path),
                              f".{os.path.basename(data_path)}.{uuid.uuid4().hex}.old")
        try:
            os.link(data_path, backup, follow_symlinks=False)
        except OSError:
            os.replace(data_path, backup)  # no hard links here: move it aside instead
        temps.append(backup)  # removed on the way out, whatever happens
    os.replace(data_tmp, data_path)
    try:
        os.replace(model_tmp, model_path)
    except BaseException:
        try:
            if backup is not None:
                os.replace(backup, data_path)
            else:
                os.unlink(data_path)
        except OSError:
            pass
        raise
    if backup is not None:
        try:
            os.unlink(backup)
        except OSError:
            pass


def _temp(folder: str, stem: str, temps: list[str]):
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp", dir=folder)
    temps.append(tmp)
    os.chmod(tmp, _file_mode(os.path.join(folder, stem)))  # mkstemp makes 0600 files
    return os.fdopen(fd, "wb")




def _close(fh) -> None:
    fh.flush()
    os.fsync(fh.fileno())
    fh.close()
