#!/usr/bin/env python3
"""Fixtures pinning DenseCRF.swift to pydensecrf, and pydensecrf's time for `cmpc-video bench crf`.

Runs the dense CRF exactly as CMPC's test script did (trainval_model.py, test(), the dcrf branch):
    d = densecrf.DenseCRF2D(W, H, 2)
    unary = concatenate([-log(1 - sigma), -log(sigma)]).reshape(2, -1)     # float32, no clipping
    d.setUnaryEnergy(unary)
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=20, srgb=3, rgbim=rgb, compat=10)
    Q = d.inference(5)
on four synthetic scenes of different sizes, and writes to Tests/EvaluationTests/Fixtures/densecrf/:
    <name>_prob.npy   (H, W)    float32   the foreground probability map sigma
    <name>_rgb.npy    (H, W, 3) uint8     the image
    <name>_unary.npy  (2, H*W)  float32   the unary energies pydensecrf was given
    <name>_q.npy      (2, H*W)  float32   pydensecrf's Q after 5 iterations
Then it times the same call on the 320x320 scene `cmpc-video bench crf` uses (seed 7; the generator
below is the one in Sources/cmpc-video/BenchCRF.swift) and prints milliseconds of wall and process CPU
time (best of the repeats, argv[1], default 5) and the foreground count.

Run by hand, never in CI. To regenerate (pydensecrf 1.0rc3 from PyPI; its sdist ships C++ made by an old
Cython that no longer compiles for Python 3.11, so rebuild the wrapper with Cython 0.29):
    pip download --no-deps --no-binary :all: pydensecrf==1.0rc3 -d /tmp/pd && cd /tmp/pd
    tar xzf pydensecrf-1.0rc3.tar.gz && rm pydensecrf-1.0rc3/pydensecrf/{eigen,densecrf}.cpp
    pip install --target /tmp/pd/cy "cython<3"
    PYTHONPATH=/tmp/pd/cy pip install --no-build-isolation --target /tmp/pd/lib ./pydensecrf-1.0rc3
    cd <repo> && PYTHONPATH=/tmp/pd/lib python3 Tools/reference/make_densecrf_fixtures.py
"""
import os
import sys
import time

import numpy as np
from pydensecrf import densecrf

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                   "Tests", "EvaluationTests", "Fixtures", "densecrf")

# name, width, height, seed, colour divisor (the dark scene has near-black pixels, so the lattice vertices
# of pydensecrf's zero-feature padding points (61·37 is not a multiple of 4) touch real ones).
CASES = [("scene48x40", 48, 40, 1, 1), ("scene97x61", 97, 61, 2, 1), ("scene160x120", 160, 120, 3, 1),
         ("dark61x37", 61, 37, 4, 32)]
MASK64 = (1 << 64) - 1


def splitmix(z):
    """SplitMix64's output function on uint64 arrays (wrapping arithmetic)."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def noise(index, seed, salt):
    """Uniform [0, 1) per pixel from a hash of (seed, salt, pixel index)."""
    base = np.uint64(((seed * 1_000_003 + salt) * 0x632BE59BD9B4E019) & MASK64)
    return (splitmix(index + base) >> np.uint64(40)).astype(np.float64) / float(1 << 24)


def scene(width, height, seed):
    """A synthetic image (background ramp, an ellipse object, a distractor box, noise) and a noisy
    probability map of a shifted, enlarged ellipse. Mirrors `syntheticScene` in BenchCRF.swift."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    index = (np.arange(height * width, dtype=np.uint64)).reshape(height, width)
    cx, cy, rx, ry = 0.45 * width, 0.5 * height, 0.28 * width, 0.33 * height
    inside = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1
    box = (x >= 0.65 * width) & (x < 0.9 * width) & (y >= 0.15 * height) & (y < 0.55 * height)
    rgb = np.stack([40 + 120 * x / width, np.full_like(x, 90.0), 160 - 100 * y / height], axis=-1)
    rgb[box] = (70, 180, 90)
    rgb[inside] = (200, 60, 50)
    for c in range(3):
        rgb[..., c] += (noise(index, seed, c) - 0.5) * 40
    rgb = np.floor(np.clip(rgb, 0, 255) + 0.5).astype(np.uint8)
    s = ((x - cx - 0.04 * width) / (1.1 * rx)) ** 2 + ((y - cy) / (1.1 * ry)) ** 2
    logit = 3 * (1 - s) + (noise(index, seed, 3) - 0.5) * 6
    prob = (1 / (1 + np.exp(-logit))).astype(np.float32)
    return prob, np.ascontiguousarray(rgb)


def crf(prob, rgb):
    h, w = prob.shape
    d = densecrf.DenseCRF2D(w, h, 2)
    u = np.expand_dims(-np.log(prob), axis=0)
    u_ = np.expand_dims(-np.log(1 - prob), axis=0)
    unary = np.concatenate((u_, u), axis=0).reshape((2, -1))
    d.setUnaryEnergy(unary)
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=20, srgb=3, rgbim=rgb, compat=10)
    q = np.ascontiguousarray(np.array(d.inference(5), dtype=np.float32))
    return unary, q


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, w, h, seed, divisor in CASES:
        prob, rgb = scene(w, h, seed)
        rgb = rgb // divisor
        unary, q = crf(prob, rgb)
        assert unary.dtype == np.float32 and q.shape == (2, w * h)
        np.save(os.path.join(OUT, name + "_prob.npy"), prob)
        np.save(os.path.join(OUT, name + "_rgb.npy"), rgb)
        np.save(os.path.join(OUT, name + "_unary.npy"), unary)
        np.save(os.path.join(OUT, name + "_q.npy"), q)
        labels = np.argmax(q, axis=0)
        before = (prob.reshape(-1) > 0.5).astype(np.int64)
        print(f"{name}: {w}x{h}, foreground {labels.sum()} (threshold 0.5: {before.sum()}), "
              f"changed {(labels != before).sum()}")

    prob, rgb = scene(320, 320, 7)
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    crf(prob, rgb)
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        _, q = crf(prob, rgb)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    labels = np.argmax(q, axis=0)
    print(f"pydensecrf crf-320: {best * 1000:.1f} ms (best of {repeats}), cpu {best_cpu * 1000:.1f} ms, "
          f"foreground {labels.sum()}")

if __name__ == "__main__":
    main()
