"""The one place that lists ONNX conformance cases refruntime's native kernels do not run, and why.

A case is run when every node in its model (subgraphs included) has a native kernel. Cases listed
here are skipped with their reason shown in the test report. Keep each reason specific.
"""

_NARROW_FLOAT_ROUNDING = (
    "expected data is onnx.reference's output, which rounds every intermediate of the expanded "
    "Attention to fp16/bf16; refruntime computes narrow floats in float32 and rounds once (as ORT's "
    "CPU EP does). Measured on the fp16 case: our Softmax is 1.5e-4 from the float64 truth, the output "
    "differs from the expected by 4.9e-4 (1-2 ulps), beyond the case's rtol 1e-3 for small values"
)

# case name -> reason
EXCLUDED: dict[str, str] = {
    name: _NARROW_FLOAT_ROUNDING
    for name in (
        "test_attention_3d_causal_bf16_expanded",
        "test_attention_4d_attn_mask_causal_bf16_expanded",
        "test_attention_4d_causal_bf16_expanded",
        "test_attention_4d_causal_fp16_expanded",
        "test_attention_4d_causal_padded_kv_bf16_expanded",
        "test_attention_4d_padded_kv_bf16_expanded",
    )
}

_BF16_ATTENTION_EXPECTED = (
    "expected data is onnx.reference's Attention, which rounds Q*sqrt(scale), the scores, the bias sum and the "
    "softmax to bfloat16; the native Attention (ops/op_attention.py) computes in float32 and rounds Y once. "
    "Measured against the float64 formula: ours is within 0.50 ulp (correctly rounded), the expected data "
    "1.2-1.7 ulps away, beyond the case's rtol 1e-3 (a bfloat16 ulp is 2^-8 relative). The fp16 cases pass"
)
EXCLUDED.update({
    name: _BF16_ATTENTION_EXPECTED
    for name in (
        "test_attention_3d_causal_bf16",
        "test_attention_4d_attn_mask_causal_bf16",
        "test_attention_4d_causal_bf16",
        "test_attention_4d_causal_padded_kv_bf16",
        "test_attention_4d_padded_kv_bf16",
    )
})

# case-name prefixes excluded as a family (reason applies to every case starting with it)
EXCLUDED_PREFIXES: dict[str, str] = {
}


_DFT_INVERSE_EXPECTED = (
    "expected data is a float32 FFT's result: where the exact inverse DFT is 0 (imaginary parts of the "
    "case's real-valued sums) it holds 1.9e-7, above the case's atol 1e-7 with rtol 1e-3 of 0; the native "
    "DFT (ops/op_dft.py) computes in complex128 and rounds once, -7e-16 there. Measured against numpy's "
    "float64 ifft of the same input: expected data off by up to 1.5e-6, ours by float32 rounding only"
)
EXCLUDED.update({name: _DFT_INVERSE_EXPECTED for name in ("test_dft_inverse", "test_dft_inverse_opset19")})


def exclusion_reason(case_name: str) -> str | None:
    if case_name in EXCLUDED:
        return EXCLUDED[case_name]
    for prefix, reason in EXCLUDED_PREFIXES.items():
        if case_name.startswith(prefix):
            return reason
    return None
