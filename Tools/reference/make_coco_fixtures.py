#!/usr/bin/env python3
"""Writes the COCO mask / COCOeval fixtures of Tests/EvaluationTests (pycocotools is the reference).

Regenerate (by hand, never in CI), from the package root:
    python3 Tools/reference/make_coco_fixtures.py Tests/EvaluationTests/Fixtures/coco
Needs numpy and pycocotools (written with pycocotools 2.0.11, numpy 1.x/2.x). Seeded: reruns give the same files.

Files (masks are always pycocotools RLE strings, column-major counts):
  polygons.json  rasterised polygons: frPyObjects per polygon + merge (as COCO.annToRLE), area, bbox, and for the
                 smallest images the decoded mask as a row-major '0'/'1' string; boxes through frPyObjects(ndarray).
  masks.json     random masks: encode of the row-major bits, area, toBbox, merge (union and intersection),
                 mask.iou with iscrowd flags.
  cocoeval.json  scenarios of per-image ground truths / scored detections with COCOeval(segm, useCats=0) stats,
                 plus numpy's iouThrs / recThrs.
"""
import json
import os
import sys

import numpy as np
import pycocotools
from pycocotools import mask as M
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def s(rle):
    c = rle["counts"]
    return c.decode("ascii") if isinstance(c, bytes) else c


def bits(mask):
    """Row-major '0'/'1' string of an H×W mask."""
    return "".join("1" if v else "0" for v in np.asarray(mask).reshape(-1))


def encode(mask):
    return M.encode(np.asfortranarray(mask.astype(np.uint8)))


def annotation_rle(polys, h, w):
    """COCO.annToRLE for a polygon annotation: frPyObjects then merge."""
    rles = M.frPyObjects(polys, h, w)
    return rles, M.merge(rles)


def polygon_cases(rng):
    cases = []

    def add(name, h, w, polys):
        polys = [[float(v) for v in p] for p in polys]
        per, merged = annotation_rle(polys, h, w)
        mask = M.decode(merged)
        case = {
            "name": name, "height": h, "width": w, "polygons": polys,
            "per_polygon": [s(r) for r in per], "counts": s(merged),
            "reencoded": s(encode(mask)), "area": int(M.area(merged)),
            "bbox": [float(v) for v in M.toBbox(merged)],
        }
        if h * w <= 400:
            case["bits"] = bits(mask)
        cases.append(case)

    def star(cx, cy, r0, r1, n):
        a = np.sort(rng.uniform(0, 2 * np.pi, n))
        r = rng.uniform(r0, r1, n)
        return list(np.round(np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], 1).reshape(-1), 3))

    add("triangle", 10, 10, [[1, 1, 5, 5, 3, 7]])
    add("grid rectangle", 12, 15, [[2, 3, 10, 3, 10, 9, 2, 9]])
    add("half-pixel rectangle", 12, 15, [[2.5, 3.5, 10.5, 3.5, 10.5, 9.5, 2.5, 9.5]])
    add("tiny", 8, 8, [[3.1, 3.1, 3.3, 3.1, 3.2, 3.35]])
    add("tiny at centre", 8, 8, [[2.9, 2.9, 3.1, 2.9, 3.1, 3.1, 2.9, 3.1]])
    add("collinear", 10, 12, [[1, 1, 4, 4, 8, 8]])
    add("repeated points", 10, 12, [[2, 2, 2, 2, 7, 2, 7, 2, 7, 8, 2, 8, 2, 8]])
    add("one point thrice", 10, 12, [[4, 4, 4, 4, 4, 4]])
    add("outside left and above", 10, 12, [[-5, -5, -1, -5, -1, -1, -5, -1]])
    add("outside right and below", 10, 12, [[13, 11, 20, 11, 20, 15]])
    add("partly outside", 10, 12, [[-3.2, 2.7, 6.6, -4.1, 14.8, 6.3, 5.5, 13.9]])
    add("negative truncation", 9, 9, [[-0.1, -0.15, 4.2, -0.3, 4.4, 5.1, -0.29, 4.9]])
    add("bowtie", 14, 14, [[1, 1, 12, 12, 12, 1, 1, 12]])
    add("odd coordinate count", 10, 10, [[1, 1, 8, 2, 5, 8, 3]])
    add("two overlapping", 16, 20, [[1, 1, 12, 1, 12, 10, 1, 10], [8, 5, 18, 4, 15, 14]])
    add("second polygon a line and an empty one", 10, 10, [[1, 1, 8, 1, 5, 8], [1, 2, 7, 2], []])
    add("one row", 1, 7, [[0.2, -0.4, 5.3, -0.4, 5.3, 0.6, 0.2, 0.6]])
    add("one pixel image", 1, 1, [[-0.5, -0.5, 0.5, -0.5, 0.5, 0.5, -0.5, 0.5]])
    add("many points", 40, 30, [list(np.round(star(15, 20, 6, 13, 600), 1))])
    for i in range(6):
        h, w = int(rng.integers(8, 40)), int(rng.integers(8, 40))
        n = int(rng.integers(3, 12))
        polys = [star(rng.uniform(-5, w + 5), rng.uniform(-5, h + 5), 0.5, max(h, w) * 0.6, n)]
        if i % 2 == 1:
            polys.append(list(np.round(rng.uniform(-3, max(h, w) + 3, 2 * int(rng.integers(3, 7))), 2)))
        add(f"random {i}", h, w, polys)

    boxes = []
    for name, h, w, bb in [("box", 10, 12, [1.3, 2.6, 5.2, 4.9]), ("box outside", 10, 12, [-2, -3, 6.5, 4.4]),
                           ("zero box", 10, 12, [3, 3, 0, 0])]:
        rle = M.frPyObjects(np.array([bb], dtype=np.float64), h, w)[0]
        boxes.append({"name": name, "height": h, "width": w, "box": bb, "counts": s(rle)})
    return {"polygons": cases, "boxes": boxes}


def random_mask(rng, h, w, kind):
    yy, xx = np.mgrid[0:h, 0:w]
    if kind == "empty":
        return np.zeros((h, w), np.uint8)
    if kind == "full":
        return np.ones((h, w), np.uint8)
    if kind == "noise":
        return (rng.uniform(size=(h, w)) < 0.3).astype(np.uint8)
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    rx, ry = rng.uniform(0.5, max(w / 2, 1)), rng.uniform(0.5, max(h / 2, 1))
    m = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    if kind == "two blobs":
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        m |= (np.abs(xx - cx) < rng.uniform(0.5, max(w / 3, 1))) & (np.abs(yy - cy) < rng.uniform(0.5, max(h / 3, 1)))
    return m.astype(np.uint8)


def mask_cases(rng):
    kinds = ["blob", "two blobs", "noise", "empty", "full", "blob", "two blobs", "blob"]
    cases = []
    for i, kind in enumerate(kinds):
        h, w = int(rng.integers(1, 14)), int(rng.integers(1, 14))
        masks = [random_mask(rng, h, w, kind), random_mask(rng, h, w, "blob"), random_mask(rng, h, w, "two blobs")]
        rles = [encode(m) for m in masks]
        crowd = [0, 1, 0]
        cases.append({
            "name": f"{kind} {i}", "height": h, "width": w,
            "bits": [bits(m) for m in masks],
            "counts": [s(r) for r in rles],
            "area": [int(a) for a in M.area(rles)],
            "bbox": [[float(v) for v in b] for b in M.toBbox(rles)],
            "union": s(M.merge(rles, intersect=False)),
            "intersection": s(M.merge(rles, intersect=True)),
            "iscrowd": crowd,
            "iou": [[float(v) for v in row] for row in np.asarray(M.iou(rles, rles, crowd)).reshape(3, 3)],
        })
    # Long runs: counts ≥ 2^5, 2^10, 2^15, and negative differences in the string.
    big = np.zeros((300, 250), np.uint8)
    big[10:290, 20:30] = 1
    big[0:3, 100:240] = 1
    big[150, :] = 1
    cases.append({"name": "long runs", "height": 300, "width": 250, "counts": [s(encode(big))],
                  "area": [int(big.sum())], "bbox": [[float(v) for v in M.toBbox(encode(big))]]})
    return cases


def coco_stats(images):
    """images: list of (h, w, [(gt_mask, iscrowd)], [(dt_mask, score)]) → COCOeval(segm, useCats=0) stats."""
    gt = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "object"}]}
    results = []
    for image_id, (h, w, gts, dts) in enumerate(images, start=1):
        gt["images"].append({"id": image_id, "height": h, "width": w})
        for m, crowd in gts:
            rle = encode(m)
            gt["annotations"].append({
                "id": len(gt["annotations"]) + 1, "image_id": image_id, "category_id": 1,
                "segmentation": {"size": [h, w], "counts": s(rle)}, "area": float(M.area(rle)),
                "bbox": [float(v) for v in M.toBbox(rle)], "iscrowd": crowd})
        for m, score in dts:
            results.append({"image_id": image_id, "category_id": 1, "score": float(score),
                            "segmentation": {"size": [h, w], "counts": s(encode(m))}})
    coco_gt = COCO()
    coco_gt.dataset = gt
    coco_gt.createIndex()
    coco_dt = coco_gt.loadRes(results) if results else COCO()
    e = COCOeval(coco_gt, coco_dt, "segm")
    e.params.useCats = 0
    e.evaluate()
    e.accumulate()
    e.summarize()
    return [float(v) for v in e.stats]


def perturb(rng, m, how):
    h, w = m.shape
    if how == "same":
        return m.copy()
    if how == "empty":
        return np.zeros_like(m)
    if how == "shift":
        return np.roll(np.roll(m, int(rng.integers(-3, 4)), 0), int(rng.integers(-3, 4)), 1)
    if how == "noise":
        flip = rng.uniform(size=m.shape) < rng.uniform(0.02, 0.3)
        return (m ^ flip).astype(np.uint8)
    return random_mask(rng, h, w, "blob")        # "other"


def cocoeval_cases(rng):
    scenarios = []

    def per_sample(name, n, hows, scores):
        images = []
        for i in range(n):
            h, w = int(rng.integers(6, 20)), int(rng.integers(6, 20))
            gt = random_mask(rng, h, w, "blob")
            while gt.sum() == 0:
                gt = random_mask(rng, h, w, "blob")
            dt = perturb(rng, gt, hows[i % len(hows)])
            images.append((h, w, [(gt, 0)], [(dt, scores(i))]))
        add(name, images)

    def add(name, images):
        stats = coco_stats(images)
        scenarios.append({
            "name": name,
            "images": [{"height": h, "width": w,
                        "gts": [s(encode(m)) for m, _ in gts], "iscrowd": [c for _, c in gts],
                        "dts": [s(encode(m)) for m, _ in dts], "scores": [sc for _, sc in dts]}
                       for h, w, gts, dts in images],
            "stats": stats,
        })

    per_sample("score 1, mixed quality", 30, ["same", "shift", "noise", "other", "noise", "empty"], lambda i: 1.0)
    per_sample("random scores", 30, ["shift", "noise", "other", "same"], lambda i: float(rng.uniform()))
    per_sample("tied scores", 24, ["noise", "shift", "other"], lambda i: [0.9, 0.5, 0.5, 0.2][i % 4])
    per_sample("all perfect", 5, ["same"], lambda i: 1.0)
    per_sample("all wrong", 6, ["empty", "other"], lambda i: 1.0)
    # General images: several ground truths (one a crowd), several or no detections.
    images = []
    for i in range(10):
        h, w = int(rng.integers(8, 20)), int(rng.integers(8, 20))
        gts = [(random_mask(rng, h, w, "blob"), 0) for _ in range(int(rng.integers(0, 3)))]
        if i % 3 == 0:
            gts.append((random_mask(rng, h, w, "two blobs"), 1))
        dts = [(perturb(rng, g, ["shift", "noise", "same"][j % 3]), float(rng.uniform())) for j, (g, _) in enumerate(gts)]
        dts += [(random_mask(rng, h, w, "blob"), float(rng.uniform())) for _ in range(int(rng.integers(0, 3)))]
        images.append((h, w, gts, dts))
    add("several per image with crowds", images)

    return {
        "iouThrs": [float(v) for v in np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)],
        "recThrs": [float(v) for v in np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)],
        "scenarios": scenarios,
    }


def write(folder, name, obj):
    path = os.path.join(folder, name)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")
    os.replace(tmp, path)
    print(f"{path}: {os.path.getsize(path)} bytes")


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "Tests/EvaluationTests/Fixtures/coco"
    os.makedirs(folder, exist_ok=True)
    header = {"generator": "Tools/reference/make_coco_fixtures.py", "pycocotools": pycocotools.__version__
              if hasattr(pycocotools, "__version__") else "2.0.11", "numpy": np.__version__}
    write(folder, "polygons.json", {**header, **polygon_cases(np.random.default_rng(1))})
    write(folder, "masks.json", {**header, "cases": mask_cases(np.random.default_rng(2))})
    write(folder, "cocoeval.json", {**header, **cocoeval_cases(np.random.default_rng(3))})


if __name__ == "__main__":
    main()
