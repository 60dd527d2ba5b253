"""STFT (opset 17): the short-time Fourier transform of a real [batch, length, 1] or complex
[batch, length, 2] signal.

Frames of frame_length samples start every frame_step samples; there are
(signal_length - frame_length) // frame_step + 1 of them (frames that would run past the end
are dropped, no padding). Each frame is multiplied by `window` (default: all ones) and
transformed with the DFT of size frame_length:

    output[b, f, k] = sum_n signal[b, f * frame_step + n] * window[n] * exp(-2 pi j k n / frame_length)

Output [batch, frames, bins, 2], bins = frame_length // 2 + 1 when onesided=1 (default),
frame_length otherwise. frame_length, when omitted, is window.shape[0], else signal_length;
when both are given they must agree.

Precision: computed in complex128 (numpy.fft) whatever the input float type, rounded once.

Where the spec leaves it open, this follows onnxruntime (1.32 CPU, measured): onesided=1 on a
complex signal returns the first frame_length // 2 + 1 bins of the full DFT (the spec says a
onesided output "is not possible"). Departure measured: with neither window nor frame_length,
onnxruntime fails (negative shape) where the spec says frame_length = signal_length (one frame);
this kernel follows the spec.
"""
import numpy as np

from refruntime.kernels.signal import check_flag, scalar_int
from refruntime.ops._common import check_alloc
from refruntime.ops.base import OpRun


class STFT_17(OpRun):
    def prepare(self):
        check_flag(self, "onesided", self.attributes.get("onesided", 1))

    def _run(self, signal, frame_step, window=None, frame_length=None, onesided=1):
        if signal.ndim != 3 or signal.shape[-1] not in (1, 2):
            self.fail(f"signal must be [batch, signal_length, 1 or 2], got shape {signal.shape}")
        length = signal.shape[1]
        step = scalar_int(self, frame_step, "frame_step")
        if step <= 0:
            self.fail(f"frame_step must be > 0, got {step}")
        if window is not None and window.ndim != 1:
            self.fail(f"window must be 1-D, got shape {window.shape}")
        if frame_length is not None:
            size = scalar_int(self, frame_length, "frame_length")
            if window is not None and window.shape[0] != size:
                self.fail(f"window has {window.shape[0]} values, frame_length is {size}: they must be equal")
        elif window is not None:
            size = window.shape[0]
        else:
            size = length
        if size <= 0:
            self.fail(f"frame_length must be > 0, got {size}")
        if size > length:
            self.fail(f"frame_length {size} is larger than the signal length {length}")
        frames = (length - size) // step + 1
        bins = size // 2 + 1 if onesided else size
        check_alloc(self, (signal.shape[0], frames, bins, 2), signal.dtype)

        x = signal.astype(np.float64)
        x = x[..., 0] + 1j * x[..., 1] if signal.shape[-1] == 2 else x[..., 0]
        index = np.arange(frames)[:, None] * step + np.arange(size)[None, :]
        chunks = x[:, index]  # [batch, frames, frame_length]
        if window is not None:
            chunks = chunks * window.astype(np.float64)
        if onesided and signal.shape[-1] == 1:
            y = np.fft.rfft(chunks, axis=-1)
        else:
            y = np.fft.fft(chunks, axis=-1)[..., :bins]
        out = np.stack((y.real, y.imag), axis=-1)
        return (np.ascontiguousarray(out.astype(signal.dtype)),)
