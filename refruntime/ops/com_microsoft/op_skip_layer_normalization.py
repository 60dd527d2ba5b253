"""com.microsoft SkipLayerNormalization (onnxruntime docs/ContribOperators.md,
"com.microsoft.SkipLayerNormalization", version 1): a residual add fused with LayerNormalization.

    sum = input + skip (+ bias)          input (B, S, D) or (tokens, D); skip the same shape or
                                         (1, S, D) / (S, D), broadcast; gamma, beta, bias (D,)
    output = (sum - mean) / sqrt(var + epsilon) * gamma (+ beta)    over the last axis D
    mean, inv_std_var (optional outputs, float32, shape (..., 1)); input_skip_bias_sum = sum

epsilon defaults to 1e-12. Precision: float64, each output rounded once (refruntime/ops/
com_microsoft/_norm.py); onnxruntime computes var as mean(sum^2) - mean^2 in float32/float64,
within a few float32 ulps of the exact result on ordinary activations. For float16 both round the
sum output once from the exact sum.
"""
from refruntime.ops.com_microsoft._norm import SkipNormKernel


class SkipLayerNormalization(SkipNormKernel):
    def _run(self, x, skip, gamma, beta=None, bias=None, epsilon=1e-12):
        return self.normalize(x, skip, gamma, beta, bias, epsilon)
