"""SimplifiedLayerNormalization (RMS normalization) in the default domain: onnxruntime registers this
contrib op there (version 1), and its transformer optimizer writes it into LLaMA-style models.
The kernel is com.microsoft's (ops/com_microsoft/_norm.py); see its docstring."""
from refruntime.ops.com_microsoft._norm import SimplifiedLayerNormalizationKernel


class SimplifiedLayerNormalization(SimplifiedLayerNormalizationKernel):
    __doc__ = SimplifiedLayerNormalizationKernel.__doc__
