"""Kernels of the ai.onnx.ml domain (classical machine learning: trees, SVMs, linear models,
encoders, ZipMap), one op per file, following onnx's operator docs for that domain."""
DOMAIN = "ai.onnx.ml"
