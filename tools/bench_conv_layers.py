"""Benchmark (not a test): Conv's two im2col paths, layer by layer, on the shapes of the nets in
tools/bench_runtime.py (SimpleCNN, VGG19, ResNet50, SqueezeNet, DenseNet121). Prints, per layer, the NCHW path
and the channels-last path (refruntime/kernels/channels_last.py) with Relu fused, their ratio, and
which one `channels_last.applies` picks. This is how that function's thresholds were chosen.

    .venv/bin/python tools/bench_conv_layers.py [--repeats 9]
"""
from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np

from refruntime.kernels import channels_last
from refruntime.kernels.spatial import window_geometry
from refruntime.ops.op_conv import conv_nd

# (net, N, C, H, M, kernel, stride, pad)
LAYERS = [
    ("SimpleCNN", 1, 1, 28, 32, 3, 1, 1), ("SimpleCNN", 64, 1, 28, 32, 3, 1, 1),
    ("SimpleCNN", 1, 32, 14, 64, 3, 1, 1), ("SimpleCNN", 64, 32, 14, 64, 3, 1, 1),
    ("VGG19", 1, 3, 224, 64, 3, 1, 1), ("VGG19", 1, 64, 224, 64, 3, 1, 1),
    ("VGG19", 1, 128, 112, 128, 3, 1, 1), ("VGG19", 1, 256, 56, 256, 3, 1, 1),
    ("VGG19", 1, 512, 28, 512, 3, 1, 1), ("VGG19", 1, 512, 14, 512, 3, 1, 1),
    ("ResNet50", 1, 3, 224, 64, 7, 2, 3), ("ResNet50", 1, 64, 56, 64, 3, 1, 1),
    ("ResNet50", 1, 128, 28, 128, 3, 1, 1), ("ResNet50", 1, 256, 14, 256, 3, 1, 1),
    ("ResNet50", 1, 512, 7, 512, 3, 1, 1),
    ("SqueezeNet", 1, 16, 55, 64, 3, 1, 1), ("SqueezeNet", 8, 16, 55, 64, 3, 1, 1),
    ("SqueezeNet", 1, 64, 13, 256, 3, 1, 1),
    ("DenseNet121", 1, 128, 56, 32, 3, 1, 1), ("DenseNet121", 1, 128, 28, 32, 3, 1, 1),
    ("DenseNet121", 1, 128, 14, 32, 3, 1, 1), ("DenseNet121", 1, 128, 7, 32, 3, 1, 1),
]


class _Node:
    def fail(self, message):
        raise ValueError(message)


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{'net':<11}{'N':>3}{'C':>5}{'H':>5}{'M':>5}{'k':>3}{'s':>3}{'NCHW ms':>10}{'chan-last ms':>14}"
          f"{'ratio':>7}{'GFLOP/s':>9}  picks")
    for net, n, c, h, m, k, s, p in LAYERS:
        x = rng.standard_normal((n, c, h, h), dtype=np.float32)
        w = rng.standard_normal((m, c, k, k), dtype=np.float32)
        b = rng.standard_normal(m, dtype=np.float32)
        geometry = window_geometry(_Node(), (h, h), (k, k), [s, s], None, [p] * 4, "NOTSET")
        packed = channels_last.pack(w)
        run = partial(conv_nd, x, w, b, 1, geometry, clamp=(0.0, np.inf))
        nchw = median_ms(run, args.repeats)
        last = median_ms(partial(run, packed=packed), args.repeats)
        gflops = 2 * n * m * c * k * k * np.prod(geometry.out) / 1e6 / min(nchw, last)
        picks = "channels-last" if channels_last.applies(geometry, 1, x.shape, w.shape) else "NCHW"
        print(f"{net:<11}{n:>3}{c:>5}{h:>5}{m:>5}{k:>3}{s:>3}{nchw:>10.3f}{last:>14.3f}{last / nchw:>7.2f}"
              f"{gflops:>9.0f}  {picks}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
