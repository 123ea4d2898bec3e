#!/usr/bin/env python3
"""Recomputes the "referformer" numbers of `cmpc-video evaluate --dataset refdavis` with the official DAVIS 2017
toolkit, from the label maps the run saved, and compares them with its summary.

ReferFormer's protocol (wjn922/ReferFormer: inference_davis.py writes <out>/valid/anno_<k>/<video>/<frame>.png for
the four expression sets, scripts/dist_test_davis.sh runs eval_davis.py on each, the paper averages the four):
here each set's label maps are `MASKS/referformer/anno_<k>/<video>/<frame>.png` (written by --save-masks), and each
is scored by davis2017-evaluation's own DAVISEvaluation(davis_root, task='unsupervised', gt_set=SET), giving that
set's J-Mean, F-Mean and J&F-Mean as eval_davis.py computes them; the final numbers are the means over the sets.

Run by hand, never in CI (written with davis2017-evaluation ac7c43f, numpy 2.4.6, scipy 1.17.1, scikit-image
0.26.0, opencv-python-headless 5.1.0, pillow, tqdm). DAVIS_ROOT is the folder holding JPEGImages/480p,
Annotations_unsupervised/480p and ImageSets/2017 (the release's DAVIS/):
    git clone https://github.com/davisvideochallenge/davis2017-evaluation /tmp/davis2017-evaluation
    cmpc-video evaluate --dataset refdavis --root R --split valid --out run.jsonl --save-masks masks
    python3 Tools/reference/check_refdavis_protocol.py /tmp/davis2017-evaluation R/DAVIS val run.jsonl.summary.json masks
Prints each set's numbers beside the summary's and the largest difference; exits 1 when any differs by 1e-9.
"""
import json
import os
import sys

if len(sys.argv) != 6:
    sys.exit("usage: check_refdavis_protocol.py DAVIS2017_EVALUATION_CHECKOUT DAVIS_ROOT SET SUMMARY MASKS")
toolkit, davis_root, subset, summary_path, masks = sys.argv[1:]
sys.path.insert(0, os.path.abspath(toolkit))

import numpy as np  # noqa: E402
from davis2017.evaluation import DAVISEvaluation  # noqa: E402

summary = json.load(open(summary_path))["referformer"]
worst = 0.0
per_set = []
for k, logged in enumerate(summary["annotators"]):
    metrics = DAVISEvaluation(davis_root=davis_root, task="unsupervised", gt_set=subset).evaluate(
        os.path.join(masks, "referformer", "anno_%d" % k))
    j, f = float(np.mean(metrics["J"]["M"])), float(np.mean(metrics["F"]["M"]))
    jf = (j + f) / 2
    per_set.append((j, f, jf))
    diff = max(abs(j - logged["J"]), abs(f - logged["F"]), abs(jf - logged["J&F"]))
    worst = max(worst, diff)
    print("anno_%d (annotator %d, %s): toolkit J %.9f F %.9f J&F %.9f | summary J %.9f F %.9f J&F %.9f | objects %d/%d"
          % (k, logged["annotator"], logged["expressions"], j, f, jf, logged["J"], logged["F"], logged["J&F"],
             len(metrics["J"]["M"]), logged["objects"]))
final = [float(np.mean([s[i] for s in per_set])) for i in range(3)]
for name, value in zip(("J", "F", "J&F"), final):
    worst = max(worst, abs(value - summary[name]))
print("final: toolkit J %.9f F %.9f J&F %.9f | summary J %.9f F %.9f J&F %.9f"
      % (final[0], final[1], final[2], summary["J"], summary["F"], summary["J&F"]))
print("largest difference", worst)
sys.exit(1 if worst > 1e-9 else 0)
