"""numba-compiled loops used by the op files. Importing most modules here imports numba (blas.py,
bias.py, floats.py and scratch.py are numpy only).

Stale machine code. numba's on-disk cache (`cache=True`: files in this folder's __pycache__) is
keyed by the defining module's path and modification time only, so a loop that inlines a helper
from another module (jit.clamp, row_sums, erf's candidates, also in the generated chains of
refruntime/fused_elementwise.py) keeps its old machine code when only the helper changed: a fix to
jit.clamp still gave the old -0.0 until the cache was deleted by hand. So on import this package
compares the names, sizes and modification times of its modules with those recorded in each
cache folder (a numba-sources.txt beside the cached files) and, where they differ, deletes that
folder's cached numba files: everything compiles once again.
When __pycache__ is not writable numba caches elsewhere (its user-wide folder), which this does not
reach; an installed release does not change under it.
"""
from __future__ import annotations

import hashlib
import os


def _sources_signature(folder: str) -> str:
    digest = hashlib.sha1()
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.endswith(".py"):
            st = entry.stat()
            digest.update(f"{entry.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return digest.hexdigest()


def purge_stale_numba_cache(folder: str, cache_root: str) -> bool:
    """Delete the numba cache files of `folder`'s __pycache__ and of `cache_root`/fused/__pycache__
    whose recorded signature of `folder`'s modules (a file in that __pycache__) is not the current
    one; whether any was deleted. Each cache keeps its own record, so a process pointed at another
    refruntime cache folder never purges this copy's."""
    purged = False
    try:
        signature = _sources_signature(folder)
    except OSError:
        return False
    for cached in (os.path.join(folder, "__pycache__"), os.path.join(cache_root, "fused", "__pycache__")):
        record = os.path.join(cached, "numba-sources.txt")
        try:
            with open(record, encoding="utf-8") as f:
                if f.read() == signature:
                    continue
        except OSError:
            pass
        if not os.path.isdir(cached):
            continue  # nothing cached yet: the first process that finds it records the sources
        try:
            for entry in os.scandir(cached):
                if entry.name.endswith((".nbi", ".nbc")):
                    os.remove(entry.path)
                    purged = True
            temporary = f"{record}.{os.getpid()}.tmp"
            with open(temporary, "w", encoding="utf-8") as f:
                f.write(signature)
            os.replace(temporary, record)
        except OSError:
            pass  # read-only: numba's own checks are all there is
    return purged


def _purge_on_import() -> None:
    from refruntime.registry import cache_dir

    purge_stale_numba_cache(os.path.dirname(os.path.abspath(__file__)), cache_dir())


_purge_on_import()
