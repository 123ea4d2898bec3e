#!/usr/bin/env python3
"""Fixtures pinning Sources/Evaluation/DAVISMetrics.swift to the DAVIS 2017 toolkit (davis2017-evaluation).

The metrics are the toolkit's own functions, imported from a checkout given on the command line (nothing of
the toolkit is copied here): J is davis2017.metrics.db_eval_iou, F is davis2017.metrics.f_measure with
bound_th 0.008 (tolerance ceil(0.008 * ||(H, W)||) px, _seg2bmap boundaries, cv2.dilate with
skimage.morphology.disk), and a sequence's J and F are davis2017.utils.db_statistics' M (np.nanmean over
its frames).

Run by hand, never in CI, from the package root (written with davis2017-evaluation ac7c43f, numpy 2.4.6,
scikit-image 0.26.0, opencv-python-headless 5.1.0; seeded, so reruns give the same file):
    git clone https://github.com/davisvideochallenge/davis2017-evaluation /tmp/davis2017-evaluation
    pip install numpy scikit-image opencv-python-headless pillow
    python3 Tools/reference/make_davis_fixtures.py /tmp/davis2017-evaluation

Writes Tests/EvaluationTests/Fixtures/davis.npz (compressed). Per case <c> (one sequence of T frames H x W):
    <c>.gt      uint8 (T, H, W)  ground truth (0/1; the 'values255' case uses 0/255)
    <c>.pred    uint8 (T, H, W)  prediction
    <c>.J       float64 (T,)     db_eval_iou(gt[t], pred[t])
    <c>.F       float64 (T,)     f_measure(pred[t], gt[t]) (bound_th 0.008)
    <c>.JM      float64 ()       db_statistics(J)[0]
    <c>.FM      float64 ()       db_statistics(F)[0]
    <c>.bound   float64 ()       the dilation radius in pixels, ceil(0.008 * ||(H, W)||)
and disk.<r> uint8 (2r+1, 2r+1) = skimage.morphology.disk(float(r)) for r = 1 ... 10 (f_measure passes the
radius as numpy's float from np.ceil), and mean.<n>.values float64 (n,) with mean.<n>.mean = np.nanmean(values)
for lengths around numpy's pairwise-summation limits (8, 128).
"""
import os
import sys

if len(sys.argv) != 2 or not os.path.isfile(os.path.join(sys.argv[1], "davis2017", "metrics.py")):
    sys.exit("usage: make_davis_fixtures.py DAVIS2017_EVALUATION_CHECKOUT  "
             "(a clone of github.com/davisvideochallenge/davis2017-evaluation: the folder holding davis2017/metrics.py)")
sys.path.insert(0, os.path.abspath(sys.argv[1]))

import numpy as np  # noqa: E402
from skimage.morphology import disk  # noqa: E402
from davis2017.metrics import db_eval_iou, f_measure  # noqa: E402
from davis2017.utils import db_statistics  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                   "Tests", "EvaluationTests", "Fixtures", "davis.npz")
BOUND_TH = 0.008
rng = np.random.default_rng(2017)


def ellipse(h, w, cy, cx, ry, rx):
    y, x = np.mgrid[0:h, 0:w]
    return (((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1).astype(np.uint8)


def rectangle(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), np.uint8)
    m[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] = 1
    return m


def blobs(h, w, n, scale):
    """A few random ellipses: smooth shapes whose boundaries are long and curved."""
    m = np.zeros((h, w), np.uint8)
    for _ in range(n):
        m |= ellipse(h, w, rng.uniform(-0.1, 1.1) * h, rng.uniform(-0.1, 1.1) * w,
                     rng.uniform(0.05, scale) * h + 1, rng.uniform(0.05, scale) * w + 1)
    return m


def jitter(m, shift, flip=0.0):
    """m moved by up to `shift` pixels, with a share `flip` of its pixels flipped: a plausible prediction of m."""
    dy, dx = rng.integers(-shift, shift + 1, size=2)
    out = np.roll(np.roll(m, dy, axis=0), dx, axis=1)
    flips = rng.random(m.shape) < flip
    return (out ^ flips).astype(np.uint8)


def random_masks(t, h, w):
    return [(rng.random((h, w)) < rng.uniform(0.2, 0.8)).astype(np.uint8) for _ in range(t)]


cases = {}


def add(name, gts, preds):
    gt = np.stack(gts).astype(np.uint8)
    pred = np.stack(preds).astype(np.uint8)
    assert gt.shape == pred.shape and gt.ndim == 3, name
    j = np.array([float(db_eval_iou(g, p)) for g, p in zip(gt, pred)], np.float64)
    f = np.array([float(f_measure(p, g, bound_th=BOUND_TH)) for g, p in zip(gt, pred)], np.float64)
    cases[name] = dict(gt=gt, pred=pred, J=j, F=f,
                       JM=np.float64(db_statistics(j)[0]), FM=np.float64(db_statistics(f)[0]),
                       bound=np.float64(np.ceil(BOUND_TH * np.linalg.norm(gt.shape[1:]))))


# Random pixels at odd and even sizes (every boundary rule of _seg2bmap, many isolated pixels).
add("random_13x17", random_masks(5, 13, 17), random_masks(5, 13, 17))
add("random_40x30", random_masks(4, 40, 30), random_masks(4, 40, 30))
# Shapes and their jittered predictions; 240x427 and 480x854 give radii 4 and 8, as DAVIS's 480p frames do.
g = [blobs(120, 160, 3, 0.3) for _ in range(6)]
add("blobs_120x160", g, [jitter(m, 3, flip=0.01) for m in g])
g = [blobs(240, 427, 2, 0.25) for _ in range(3)]
add("blobs_240x427", g, [jitter(m, 6) for m in g])
g = [blobs(480, 854, 2, 0.2) for _ in range(2)]
add("blobs_480x854", g, [jitter(m, 12) for m in g])
# Empty prediction, empty ground truth, both empty (J = 1, F = 1), and full masks.
g = [blobs(48, 64, 2, 0.3) for _ in range(3)]
add("empty_pred_48x64", g, [np.zeros_like(m) for m in g])
add("empty_gt_48x64", [np.zeros_like(m) for m in g], g)
add("both_empty_31x29", [np.zeros((31, 29), np.uint8)] * 2, [np.zeros((31, 29), np.uint8)] * 2)
add("full_33x21", [np.ones((33, 21), np.uint8), np.ones((33, 21), np.uint8)],
    [np.ones((33, 21), np.uint8), blobs(33, 21, 2, 0.4)])
# Thin structures: one-pixel lines (straight and diagonal) against slightly shifted ones.
h, w = 97, 61
lines = []
for k in range(4):
    m = np.zeros((h, w), np.uint8)
    m[10 + k, :] = 1
    m[:, 30 - k] = 1
    for i in range(min(h, w)):
        m[i, (i + 3 * k) % w] = 1
    lines.append(m)
add("thin_97x61", lines, [np.roll(m, 1 + (i % 2), axis=i % 2) for i, m in enumerate(lines)])
# Masks touching the border: edges, corners, the last row and column (which _seg2bmap treats apart).
h, w = 64, 80
border_gt = [rectangle(h, w, 0, 20, 0, 30), rectangle(h, w, 40, 64, 50, 80), rectangle(h, w, 0, 64, 70, 80),
             rectangle(h, w, 63, 64, 0, 80), ellipse(h, w, 0, 0, 30, 40)]
border_pred = [rectangle(h, w, 0, 22, 0, 28), rectangle(h, w, 42, 64, 52, 80), rectangle(h, w, 0, 64, 75, 80),
               rectangle(h, w, 62, 64, 0, 80), ellipse(h, w, 63, 79, 30, 40)]
add("border_64x80", border_gt, border_pred)
# Degenerate sizes.
add("pixel_1x1", [np.ones((1, 1), np.uint8), np.zeros((1, 1), np.uint8), np.ones((1, 1), np.uint8)],
    [np.ones((1, 1), np.uint8), np.ones((1, 1), np.uint8), np.zeros((1, 1), np.uint8)])
add("row_1x9", random_masks(3, 1, 9), random_masks(3, 1, 9))
add("column_9x1", random_masks(3, 9, 1), random_masks(3, 9, 1))
add("square_2x2", random_masks(4, 2, 2), random_masks(4, 2, 2))
# Values other than 1 count as foreground.
g = [blobs(36, 52, 2, 0.3) for _ in range(2)]
add("values255_36x52", [m * 255 for m in g], [jitter(m, 2) * 255 for m in g])
# Long sequences: numpy's mean sums pairwise (8 accumulators from 8 values on, halves above 128).
add("frames20_24x32", random_masks(20, 24, 32), random_masks(20, 24, 32))
add("frames150_6x7", random_masks(150, 6, 7), random_masks(150, 6, 7))

arrays = {}
for name, c in cases.items():
    for key, value in c.items():
        arrays[f"{name}.{key}"] = value
for r in range(1, 11):
    arrays[f"disk.{r}"] = disk(np.float64(r)).astype(np.uint8)
# numpy's mean over lengths on each side of its pairwise-summation limits, values of wide range.
for n in [1, 7, 8, 9, 15, 16, 17, 127, 128, 129, 255, 300, 1000]:
    values = rng.random(n) * 10.0 ** rng.integers(-8, 9, size=n)
    arrays[f"mean.{n}.values"] = values
    arrays[f"mean.{n}.mean"] = np.float64(np.nanmean(values))
np.savez_compressed(OUT, **arrays)
print(f"wrote {os.path.normpath(OUT)}: {len(cases)} cases, {os.path.getsize(OUT)} bytes")
for name, c in cases.items():
    print(f"  {name:20s} T={c['gt'].shape[0]:3d} bound={c['bound']:.0f}  J={c['JM']:.6f}  F={c['FM']:.6f}")
