#!/usr/bin/env python3
"""Recomputes the J and F of `cmpc-video evaluate --dataset ytvos|refdavis|mevis` with the official code, from the
masks the run saved (--save-masks), and compares them with its log and summary.

Ground truth as the benchmarks read it: Ref-YouTube-VOS / converted Ref-DAVIS17 `Annotations/<video>/<frame>.png ==
obj_id` (PIL's palette indices); MeViS the sum of the expression's anno_id RLEs per frame, as its
tools/eval_mevis.py builds it. J and F per frame are davis2017-evaluation's db_eval_iou and db_eval_boundary
(bound_th 0.008), an expression's J and F their np.mean, the summary's J and F the np.mean over expressions.

Run by hand, never in CI (written with davis2017-evaluation ac7c43f, numpy 2.4.6, scikit-image 0.26.0,
opencv-python-headless 5.1.0, pillow 13.0.0, pycocotools 2.0.11 for MeViS):
    git clone https://github.com/davisvideochallenge/davis2017-evaluation /tmp/davis2017-evaluation
    cmpc-video evaluate --dataset ytvos --root R --split train --out run.jsonl --save-masks masks
    python3 Tools/reference/check_vos_results.py /tmp/davis2017-evaluation ytvos R train run.jsonl masks
Prints each expression's J and F beside the log's and the largest difference; exits 1 when any differs.
"""
import json
import os
import sys

if len(sys.argv) != 7 or sys.argv[2] not in ("ytvos", "refdavis", "mevis"):
    sys.exit("usage: check_vos_results.py DAVIS2017_EVALUATION_CHECKOUT ytvos|refdavis|mevis ROOT SPLIT LOG MASKS")
toolkit, dataset, root, split, log, masks = sys.argv[1:]
sys.path.insert(0, os.path.abspath(toolkit))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from davis2017.metrics import db_eval_boundary, db_eval_iou  # noqa: E402

if dataset == "mevis":
    from pycocotools import mask as cocomask
    meta = json.load(open(os.path.join(root, split, "meta_expressions.json")))["videos"]
    mask_dict = json.load(open(os.path.join(root, split, "mask_dict.json")))
else:
    meta = json.load(open(os.path.join(root, "meta_expressions", split, "meta_expressions.json")))["videos"]

lines = [json.loads(line) for line in open(log) if line.strip()]
records = [r for r in lines if "exp_id" in r]
worst = 0.0
J, F = [], []
for r in records:
    video, exp = r["video"], r["exp_id"]
    info = meta[video]
    preds = np.stack([cv2.imread(os.path.join(masks, video, exp, f + ".png"), cv2.IMREAD_GRAYSCALE)
                      for f in info["frames"]])
    gts = np.zeros_like(preds)
    for k, frame in enumerate(info["frames"]):
        if dataset == "mevis":
            for anno in info["expressions"][exp]["anno_id"]:
                rle = mask_dict[str(anno)][k]
                if rle:
                    gts[k] += cocomask.decode(rle)
        else:
            labels = np.array(Image.open(os.path.join(root, split, "Annotations", video, frame + ".png")))
            gts[k] = labels == int(info["expressions"][exp]["obj_id"])
    j = float(db_eval_iou(gts, preds).mean())
    f = float(db_eval_boundary(gts, preds).mean())
    J.append(j)
    F.append(f)
    worst = max(worst, abs(j - r["J"]), abs(f - r["F"]))
    print(f"{video}/{exp}: J {j!r} (log {r['J']!r})  F {f!r} (log {r['F']!r})")
summary = json.load(open(log + ".summary.json"))
for key, value in (("J", np.mean(J)), ("F", np.mean(F)), ("J&F", (np.mean(J) + np.mean(F)) / 2)):
    worst = max(worst, abs(float(value) - summary[key]))
    print(f"{key}: {float(value)!r} (summary {summary[key]!r})")
print(f"{len(records)} expressions; largest difference {worst!r}")
sys.exit(0 if worst == 0 else 1)
