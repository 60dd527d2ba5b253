"""DFT: the discrete Fourier transform of a real ([..., 1]) or complex ([..., 2]) signal along
one axis, the last dimension holding (real, imaginary).

    forward  y[k] = sum_n x[n] exp(-2 pi j k n / N)
    inverse  x[n] = 1/N sum_k y[k] exp(+2 pi j k n / N)

N is dft_length (default: the axis dimension). The signal is zero-padded up to N along the axis,
or only its first N values are used. The four modes:

- onesided=0, inverse=0: the full complex spectrum, N values along the axis, output [..., 2]
  (real input is the complex signal with imaginary part 0).
- onesided=0, inverse=1: the full inverse, scaled by 1/N, output [..., 2].
- onesided=1, inverse=0 (RFFT): real input only; the N // 2 + 1 non-redundant bins, [..., 2].
- onesided=1, inverse=1 (IRFFT): complex input only, read as the one-sided spectrum of a real
  signal of length N (default 2 * (axis dimension - 1)); output the real signal [..., 1]. The
  input bins are zero-padded / truncated as the spec says, so only bins 0..N // 2 count and the
  imaginary parts of bin 0 (and of bin N / 2 for even N) are ignored (numpy.fft.irfft,
  torch.fft.irfft).

Opset 17 (and 19) take `axis` as an attribute (default 1); opset 20 takes it as an optional
input (default -2, the last signal axis). Accepted axes: [-r, -2] and [0, r-2], r = rank.

Precision: computed in complex128 (numpy.fft) whatever the input float type, rounded once to it.

Measured departures (onnxruntime 1.32 CPU): with IRFFT and an explicit dft_length other than
2 * (bins - 1) or 2 * bins - 1, onnxruntime returns neither the spec's padded/truncated reading
nor any Hermitian extension we tried (7 input bins, dft_length 4: max |diff| 0.61 vs
numpy.fft.irfft; dft_length 20: 0.12); this kernel follows the spec text (= numpy/torch irfft).
onnxruntime refuses dft_length 0 and the invalid onesided/complex combinations, as we do.
"""
import numpy as np

from refruntime.kernels.signal import check_flag, scalar_int
from refruntime.ops._common import check_alloc
from refruntime.ops.base import OpRun


class _DFTBase(OpRun):
    def prepare(self):
        check_flag(self, "inverse", self.attributes.get("inverse", 0))
        check_flag(self, "onesided", self.attributes.get("onesided", 0))

    def _dft(self, x, dft_length, axis, inverse, onesided):
        if x.ndim < 2 or x.shape[-1] not in (1, 2):
            self.fail(f"input must have rank >= 2 and a last dimension of 1 (real) or 2 (complex), "
                      f"got shape {x.shape}")
        r = x.ndim
        if not (-r <= axis <= -2 or 0 <= axis <= r - 2):
            self.fail(f"axis {axis} is outside [-{r}, -2] and [0, {r - 2}] for an input of rank {r} "
                      "(the last dimension holds real/imaginary parts)")
        ax = axis + r if axis < 0 else axis
        is_complex = x.shape[-1] == 2
        if onesided and not inverse and is_complex:
            self.fail(f"onesided=1 (RFFT) needs a real input [..., 1], got shape {x.shape}")
        if onesided and inverse and not is_complex:
            self.fail(f"onesided=1 with inverse=1 (IRFFT) needs a complex input [..., 2], got shape {x.shape}")
        dim = x.shape[ax]
        if dft_length is not None:
            n = scalar_int(self, dft_length, "dft_length")
        else:
            n = 2 * (dim - 1) if (onesided and inverse) else dim
        if n <= 0:
            self.fail(f"dft_length must be > 0, got {n} (axis {axis} has dimension {dim})")

        x64 = x.astype(np.float64)
        signal = x64[..., 0] + 1j * x64[..., 1] if is_complex else x64[..., 0]
        if onesided and inverse:
            bins = n // 2 + 1
            out_shape = x.shape[:ax] + (n,) + x.shape[ax + 1:-1] + (1,)
            check_alloc(self, out_shape, x.dtype)
            signal = _fit(signal, ax, bins)  # the spec's padding/truncation of the input bins
            return (np.fft.irfft(signal, n=n, axis=ax)[..., None].astype(x.dtype),)
        if onesided:
            out_len = n // 2 + 1
        else:
            out_len = n
        out_shape = x.shape[:ax] + (out_len,) + x.shape[ax + 1:-1] + (2,)
        check_alloc(self, out_shape, x.dtype)
        if onesided:
            y = np.fft.rfft(signal, n=n, axis=ax)
        elif inverse:
            y = np.fft.ifft(signal, n=n, axis=ax)
        else:
            y = np.fft.fft(signal, n=n, axis=ax)
        out = np.stack((y.real, y.imag), axis=-1)
        return (np.ascontiguousarray(out.astype(x.dtype)),)


def _fit(a: np.ndarray, axis: int, length: int) -> np.ndarray:
    """a zero-padded or truncated to `length` along `axis`."""
    have = a.shape[axis]
    if have >= length:
        return np.take(a, np.arange(length), axis=axis)
    pad = [(0, 0)] * a.ndim
    pad[axis] = (0, length - have)
    return np.pad(a, pad)


class DFT_17(_DFTBase):
    def prepare(self):
        super().prepare()
        if self.attributes.get("axis", 1) == -1:
            self.refuse("axis -1 is the real/imaginary dimension, not a signal axis")

    def _run(self, input, dft_length=None, axis=1, inverse=0, onesided=0):
        return self._dft(input, dft_length, axis, inverse, onesided)


class DFT_20(_DFTBase):
    def check_constants(self, constants):
        axis = constants.get(2)
        if axis is not None and (axis.size != 1 or axis.ndim > 1):
            self.refuse(f"axis must be a scalar, got shape {axis.shape}", 2)

    def _run(self, input, dft_length=None, axis=None, inverse=0, onesided=0):
        ax = -2 if axis is None else scalar_int(self, axis, "axis")
        return self._dft(input, dft_length, ax, inverse, onesided)
