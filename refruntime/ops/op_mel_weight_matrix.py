"""MelWeightMatrix (opset 17): the [dft_length // 2 + 1, num_mel_bins] matrix of triangular
filters that maps a one-sided linear spectrum (right-multiplied) to num_mel_bins mel bands.

mel(f) = 2595 log10(1 + f / 700). The spec's text gives only that scale; the bin edges follow
the pseudocode of the spec's example (onnx's MelWeightMatrix node case, which is also what
onnxruntime computes):

    step    = (mel(upper_edge_hertz) - mel(lower_edge_hertz)) / (num_mel_bins + 2)
    hz[i]   = mel^-1(mel(lower_edge_hertz) + i * step),              i = 0 .. num_mel_bins + 1
    edge[i] = floor((dft_length + 1) * hz[i] / sample_rate)          (an index of a DFT bin)

Band i rises linearly from 0 at edge[i] to 1 at edge[i + 1], then falls back towards 0 at
edge[i + 2] (exclusive): W[j, i] = (j - edge[i]) / (edge[i+1] - edge[i]) on
[edge[i], edge[i+1]] and (edge[i+2] - j) / (edge[i+2] - edge[i+1]) on [edge[i+1], edge[i+2]).
When edge[i] == edge[i+1], W[edge[i+1], i] = 1. Every other entry is 0; the peak is 1.

The edges are computed in float64 and the values rounded once to output_datatype (default
float; integer types truncate). An edge outside [0, dft_length // 2] (a lower/upper edge
beyond the Nyquist bin of the spectrogram) is a KernelError, as it is in onnxruntime.
"""
import math

import numpy as np

from refruntime.kernels.signal import output_dtype, round_to, scalar_float, scalar_int
from refruntime.ops._common import check_alloc
from refruntime.ops.base import OpRun


def _mel(hz: float) -> float:
    return 2595.0 * math.log10(1.0 + hz / 700.0)


def _hz(mel: float) -> float:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


class MelWeightMatrix_17(OpRun):
    def prepare(self):
        self._dtype = output_dtype(self, self.attributes.get("output_datatype", 1))

    def _run(self, num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz,
             output_datatype=1):
        bands = scalar_int(self, num_mel_bins, "num_mel_bins")
        n = scalar_int(self, dft_length, "dft_length")
        rate = scalar_int(self, sample_rate, "sample_rate")
        lower = scalar_float(self, lower_edge_hertz, "lower_edge_hertz")
        upper = scalar_float(self, upper_edge_hertz, "upper_edge_hertz")
        if bands <= 0 or n <= 0 or rate <= 0:
            self.fail(f"num_mel_bins, dft_length and sample_rate must be > 0, got {bands}, {n}, {rate}")
        if not 0.0 <= lower <= upper:
            self.fail(f"expected 0 <= lower_edge_hertz <= upper_edge_hertz, got {lower} and {upper}")
        spectrum_bins = n // 2 + 1
        check_alloc(self, (spectrum_bins, bands), self._dtype)

        low_mel = _mel(lower)
        step = (_mel(upper) - low_mel) / (bands + 2)
        edges = [math.floor((n + 1) * _hz(low_mel + i * step) / rate) for i in range(bands + 2)]
        if edges[0] < 0 or edges[-1] >= spectrum_bins:
            self.fail(f"the mel bands span DFT bins {edges[0]}..{edges[-1]}, outside the "
                      f"{spectrum_bins} bins of dft_length {n} at sample_rate {rate} "
                      f"(lower_edge_hertz {lower}, upper_edge_hertz {upper})")

        w = np.zeros((spectrum_bins, bands), dtype=np.float64)
        for i in range(bands):
            left, center, right = edges[i], edges[i + 1], edges[i + 2]
            if center == left:
                w[center, i] = 1.0
            else:
                for j in range(left, center + 1):
                    w[j, i] = (j - left) / (center - left)
            for j in range(center, right):
                w[j, i] = (right - j) / (right - center)
        return (round_to(w, self._dtype),)
