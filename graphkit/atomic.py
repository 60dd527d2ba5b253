"""Atomic file writes: a file is either its old self or wholly the new one, never half written.

    with atomic_open("report.html", "w", encoding="utf-8") as f:
        f.write(text)

The data goes to a hidden temporary file in the destination's folder (same file system, so
`os.replace` is a rename), is flushed to disk, and replaces the destination only when the block
ends without an exception; otherwise the temporary file is removed and the destination is
untouched. The new file keeps the mode of the one it replaces (or what open() would give).
Models and their external data have their own two-file protocol in graphkit/io/save.py.
"""
from __future__ import annotations

import contextlib
import os
import tempfile

_UMASK: int | None = None


def file_mode(dest: str | os.PathLike) -> int:
    """Mode of the file being replaced, else what open() would give under the current umask."""
    try:
        return os.stat(dest).st_mode & 0o7777
    except OSError:
        global _UMASK
        if _UMASK is None:
            _UMASK = os.umask(0o022)
            os.umask(_UMASK)
        return 0o666 & ~_UMASK


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None):
    """A file object for writing `path` atomically (mode "w" or "wb")."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', got {mode!r}")
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        os.chmod(tmp, file_mode(path))  # mkstemp makes 0600 files
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
