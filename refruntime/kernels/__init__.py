"""numba-compiled loops used by the op files. Importing any module here imports numba."""
