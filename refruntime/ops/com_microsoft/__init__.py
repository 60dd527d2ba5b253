"""Kernels of onnxruntime's contrib ops (domain com.microsoft), one op per file.

Semantics follow onnxruntime's docs/ContribOperators.md; each kernel's docstring says which
version of that text it implements and what it does where the text is silent.
"""
DOMAIN = "com.microsoft"
