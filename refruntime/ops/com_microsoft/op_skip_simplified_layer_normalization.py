"""com.microsoft SkipSimplifiedLayerNormalization (onnxruntime docs/ContribOperators.md,
"com.microsoft.SkipSimplifiedLayerNormalization", version 1): a residual add fused with RMS
normalization (the T5/LLaMA "RMSNorm").

    sum = input + skip (+ bias)          input (B, S, D) or (tokens, D); skip the same shape or
                                         broadcast to it; gamma, bias (D,)
    output = sum / sqrt(mean(sum^2) + epsilon) * gamma     over the last axis D
    inv_std_var (optional, float32, (..., 1)); input_skip_bias_sum = sum; the `mean` output is 0,
    as onnxruntime leaves it (an RMS norm has no mean)

epsilon defaults to 1e-12. Precision: float64, each output rounded once (_norm.py).
"""
from refruntime.ops.com_microsoft._norm import SkipNormKernel


class SkipSimplifiedLayerNormalization(SkipNormKernel):
    SIMPLIFIED = True

    def _run(self, x, skip, gamma, bias=None, epsilon=1e-12):
        return self.normalize(x, skip, gamma, None, bias, epsilon)
