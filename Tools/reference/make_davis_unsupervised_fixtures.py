#!/usr/bin/env python3
"""Fixture pinning Sources/Evaluation/DAVISUnsupervised.swift (and LinearSumAssignment.swift) to the DAVIS 2017
toolkit's unsupervised evaluation, the evaluation ReferFormer's eval_davis.py runs for Ref-DAVIS17.

It writes a tiny DAVIS 2017 folder (JPEGImages/480p, Annotations_unsupervised/480p palette PNGs,
ImageSets/2017/val.txt) and a results folder (<seq>/<frame>.png label maps), runs the toolkit's own
DAVISEvaluation(davis_root, task='unsupervised', gt_set='val').evaluate(results) on them, and stores the label
maps and the toolkit's numbers. The toolkit is imported from a checkout given on the command line; nothing of it
is copied here.

Run by hand, never in CI, from the package root (written with davis2017-evaluation ac7c43f, numpy 2.4.6,
scipy 1.17.1, scikit-image 0.26.0, opencv-python-headless 5.1.0, pillow, tqdm; seeded, so reruns give the same
file):
    git clone https://github.com/davisvideochallenge/davis2017-evaluation /tmp/davis2017-evaluation
    pip install numpy scipy scikit-image opencv-python-headless pillow tqdm
    python3 Tools/reference/make_davis_unsupervised_fixtures.py /tmp/davis2017-evaluation

Writes Tests/EvaluationTests/Fixtures/davis_unsupervised.npz (compressed). Sequences are evaluated in the sorted
order of their names (val.txt lists them so). Per sequence <s> (T frames H x W):
    <s>.gt    uint8 (T, H, W)   the annotation PNGs' indices (0 background, k object k, 255 void)
    <s>.res   uint8 (T, H, W)   the result PNGs' values (0 background, k proposal k)
    <s>.J     float64 (G,)      J['M_per_object'][<s>_1 ... <s>_G], the toolkit's order
    <s>.F     float64 (G,)      F['M_per_object'][...]
and over all sequences:
    all.J     float64 ()        np.mean(J['M'])
    all.F     float64 ()        np.mean(F['M'])
    all.JF    float64 ()        (np.mean(J['M']) + np.mean(F['M'])) / 2, eval_davis.py's J&F-Mean
and scipy.optimize.linear_sum_assignment itself on cost matrices with ties, wide and tall, integer and real:
    lsap.<k>.cost     float64 (n, m)
    lsap.<k>.rows     int64 (min(n, m),)
    lsap.<k>.cols     int64 (min(n, m),)
"""
import os
import sys
import tempfile

if len(sys.argv) != 2 or not os.path.isfile(os.path.join(sys.argv[1], "davis2017", "evaluation.py")):
    sys.exit("usage: make_davis_unsupervised_fixtures.py DAVIS2017_EVALUATION_CHECKOUT  "
             "(a clone of github.com/davisvideochallenge/davis2017-evaluation: the folder holding davis2017/evaluation.py)")
sys.path.insert(0, os.path.abspath(sys.argv[1]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402
from davis2017.evaluation import DAVISEvaluation  # noqa: E402

rng = np.random.default_rng(18)


def ellipse(h, w, cy, cx, ry, rx):
    y, x = np.mgrid[0:h, 0:w]
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1


def moving_objects(t_count, h, w, n):
    """n ellipses drifting over t_count frames: (t, h, w) label maps, later objects drawn over earlier ones."""
    params = [(rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w, rng.uniform(0.12, 0.3) * h,
               rng.uniform(0.12, 0.3) * w, rng.uniform(-2, 2), rng.uniform(-2, 2)) for _ in range(n)]
    out = np.zeros((t_count, h, w), np.uint8)
    for t in range(t_count):
        for k, (cy, cx, ry, rx, vy, vx) in enumerate(params):
            out[t][ellipse(h, w, cy + vy * t, cx + vx * t, ry, rx)] = k + 1
    return out


def jitter(labels, relabel, drop=(), grow=0):
    """A prediction from ground truth: labels renamed by `relabel` (old -> new), objects in `drop` left out, each
    object's mask shifted by a random pixel or two and thickened by `grow`."""
    out = np.zeros_like(labels)
    for t in range(labels.shape[0]):
        for old, new in relabel.items():
            if old in drop:
                continue
            m = labels[t] == old
            m = np.roll(m, (int(rng.integers(-2, 3)), int(rng.integers(-2, 3))), axis=(0, 1))
            for _ in range(grow):
                m = m | np.roll(m, 1, axis=0) | np.roll(m, 1, axis=1)
            out[t][m & (out[t] == 0)] = new
    return out


cases = {}

# Three objects, the prediction's labels a permutation of the ground truth's: matching has to undo it.
gt = moving_objects(5, 48, 64, 3)
cases["a-permuted"] = (gt, jitter(gt, {1: 3, 2: 1, 3: 2}))

# Three objects, one missed entirely: the prediction has two labels, padded with an empty proposal.
gt = moving_objects(6, 60, 90, 3)
cases["b-missed"] = (gt, jitter(gt, {1: 2, 2: 1, 3: 3}, drop=(3,)))

# Two objects, four predicted labels: an extra predicted object (3) and an unused label (4 present, 3 not in
# some frames): proposals are 1 ... max label.
gt = moving_objects(4, 37, 53, 2)
res = jitter(gt, {1: 1, 2: 2}, grow=1)
for t in range(res.shape[0]):
    res[t][ellipse(37, 53, 30, 8 + t, 5, 6) & (res[t] == 0)] = 4   # a false positive, label 4; label 3 unused
cases["c-extra"] = (gt, res)

# Void pixels (255) in the annotation, and an object (3) that appears only after the first frame: the toolkit counts
# the first frame's objects only.
gt = moving_objects(5, 40, 44, 2)
gt[:, 0:6, :] = 255
for t in range(2, 5):
    gt[t][ellipse(40, 44, 30, 30, 6, 6)] = 3
res = jitter(np.where(gt == 255, 0, gt), {1: 2, 2: 1, 3: 3})
res[:, 0:3, 10:30] = 1                                           # prediction inside the void band
cases["d-void"] = (gt, res)

# Nothing predicted against two objects.
gt = moving_objects(3, 32, 48, 2)
cases["e-no-prediction"] = (gt, np.zeros_like(gt))

# Ties: two empty proposals (labels 1 and 2 unused) and one real one: equal costs, scipy's choice decides.
gt = moving_objects(4, 36, 36, 2)
res = np.where(gt == 2, 3, 0).astype(np.uint8)
cases["f-ties"] = (gt, res)

# A larger frame, thin and border-touching objects, five proposals for four objects.
gt = moving_objects(3, 120, 200, 4)
gt[:, 50:53, :] = 4                                              # a thin band across the frame, to both borders
res = jitter(gt, {1: 5, 2: 4, 3: 1, 4: 2})
res[:, 100:120, 0:30] = 3
cases["g-thin-border"] = (gt, res)

with tempfile.TemporaryDirectory() as tmp:
    davis = os.path.join(tmp, "DAVIS")
    results = os.path.join(tmp, "results")
    names = sorted(cases)
    os.makedirs(os.path.join(davis, "ImageSets", "2017"))
    with open(os.path.join(davis, "ImageSets", "2017", "val.txt"), "w") as f:
        f.write("".join(n + "\n" for n in names))
    palette = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128, 128, 0, 128] + [200] * (256 * 3 - 18)
    for name in names:
        gt, res = cases[name]
        for sub in ("JPEGImages", "Annotations_unsupervised"):
            os.makedirs(os.path.join(davis, sub, "480p", name))
        os.makedirs(os.path.join(results, name))
        for t in range(gt.shape[0]):
            frame = "%05d" % t
            Image.fromarray(np.full(gt.shape[1:] + (3,), 90, np.uint8)).save(
                os.path.join(davis, "JPEGImages", "480p", name, frame + ".jpg"))
            p = Image.fromarray(gt[t], mode="P")
            p.putpalette(palette)
            p.save(os.path.join(davis, "Annotations_unsupervised", "480p", name, frame + ".png"))
            Image.fromarray(res[t]).save(os.path.join(results, name, frame + ".png"))
    metrics = DAVISEvaluation(davis_root=davis, task="unsupervised", gt_set="val").evaluate(results)

J, F = metrics["J"], metrics["F"]
out = {}
for name in sorted(cases):
    gt, res = cases[name]
    keys = sorted((k for k in J["M_per_object"] if k.rsplit("_", 1)[0] == name), key=lambda k: int(k.rsplit("_", 1)[1]))
    out[name + ".gt"] = gt
    out[name + ".res"] = res
    out[name + ".J"] = np.array([J["M_per_object"][k] for k in keys], np.float64)
    out[name + ".F"] = np.array([F["M_per_object"][k] for k in keys], np.float64)
    print(name, gt.shape, "objects", len(keys), "J", out[name + ".J"], "F", out[name + ".F"])
out["all.J"] = np.array(np.mean(J["M"]), np.float64)
out["all.F"] = np.array(np.mean(F["M"]), np.float64)
out["all.JF"] = np.array((np.mean(J["M"]) + np.mean(F["M"])) / 2, np.float64)
print("J", out["all.J"], "F", out["all.F"], "J&F", out["all.JF"])
lsap = [np.zeros((3, 3)), np.ones((2, 5)), np.ones((5, 2)), -np.eye(4), np.array([[4, 1, 3], [2, 0, 5], [3, 2, 2]])]
lsap += [rng.integers(0, 3, size=(n, m)).astype(np.float64) for n, m in [(4, 4), (3, 6), (6, 3), (7, 7), (20, 5), (5, 20)]]
lsap += [-rng.uniform(0, 1, size=(n, m)) for n, m in [(6, 6), (9, 4), (4, 9), (20, 20)]]
lsap += [np.round(-rng.uniform(0, 1, size=(8, 5)), 1)]
for k, cost in enumerate(lsap):
    rows, cols = linear_sum_assignment(cost)
    out["lsap.%02d.cost" % k] = np.asarray(cost, np.float64)
    out["lsap.%02d.rows" % k] = np.asarray(rows, np.int64)
    out["lsap.%02d.cols" % k] = np.asarray(cols, np.int64)
path = os.path.join("Tests", "EvaluationTests", "Fixtures", "davis_unsupervised.npz")
np.savez_compressed(path, **out)
print("wrote", path, os.path.getsize(path), "bytes")
