"""Native kernels, one op per file (`op_<name>.py`), discovered by refruntime.registry."""
