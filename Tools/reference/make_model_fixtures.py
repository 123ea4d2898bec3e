#!/usr/bin/env python3
"""Writes the CMPC parity fixtures (image and video models) used by the Swift tests.

Regenerate (by hand, never in CI; python3 + numpy + tensorflow-cpu 2.x, a few minutes on 2 cores):

    cd <repo> && python3 Tools/reference/make_model_fixtures.py [case ...]

Each case folder Tests/{Image,Video}ModelTests/Fixtures/parity/<case>/ holds config.json,
model.ckpt.index, model.ckpt.data-00000-of-00001 (TensorFlow V2 bundle, original variable names,
seeded random values), inputs.npz, outputs.npz and debug.npz; Tools/reference/README.md lists
their contents. Everything is seeded: running the script again rewrites identical tensors.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cmpc_reference as ref  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

TINY = {"H": 64, "W": 64, "depth": [1, 1, 1, 1], "width_divisor": 16, "v_emb_dim": 16, "rnn_size": 16,
        "mlp_dim": 8, "parse_dim": 8, "num_steps": 6, "vocab_size": 30, "glove_dim": 5}

# name: (model, config overrides, number of left-padding words, seed)
CASES = {
    "image_tiny": ("image", dict(TINY), 3, 11),
    "image_tiny_nopad": ("image", dict(TINY, num_steps=5), 0, 12),
    "image_tiny_oneword": ("image", dict(TINY), 5, 13),
    "image_96x64": ("image", dict(TINY, H=96, W=64, depth=[2, 2, 3, 2]), 2, 14),
    "image_320_resnet101": ("image", {"H": 320, "W": 320, "depth": [3, 4, 23, 3], "width_divisor": 32,
                                      "v_emb_dim": 16, "rnn_size": 16, "mlp_dim": 8, "parse_dim": 8,
                                      "num_steps": 20, "vocab_size": 30, "glove_dim": 5}, 13, 15),
    "video_tiny": ("video", dict(TINY), 3, 21),
    "video_tiny_steps8": ("video", dict(TINY, num_steps=8), 1, 22),
    "video_96": ("video", dict(TINY, H=96, W=96, width_divisor=32), 2, 23),
}

# Debug tensors kept for the 320 case (the others keep all of them).
DEBUG_320 = {"res3", "res5", "lang_feat", "words_feat", "rnn_outputs", "gate_lang",
             "fusion_c3", "fusion_c4", "fusion_c5", "feat_exg3_2", "feat_exg4_2", "feat_exg5_2",
             "convlstm", "score_c3", "score_c4", "score_c5"}


CAFFE_MEAN_BGR = np.array([104.00698793, 116.66876762, 122.67891434])


def pattern(h, w, phase, rng):
    """A piecewise-constant BGR-minus-mean picture (bands, a disc, a bar) on a 1/8 grid.

    Few distinct values, so inputs.npz compresses to a few KB; `phase` moves the shapes (video).
    """
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    y /= h
    x /= w
    cy, cx = 0.3 + 0.4 * rng.random(), 0.3 + 0.4 * rng.random()
    disc = (y - cy) ** 2 + (x - cx - 0.04 * phase) ** 2 < 0.04
    bar = (np.abs(x - 0.2 - 0.03 * phase) < 0.06) & (y > 0.5)
    img = np.zeros((h, w, 3))
    for k in range(3):
        bands = np.floor(8 * (x * (k + 1) + 0.5 * y)) % 8          # 8 grey levels in stripes
        chan = 40 + 20 * bands
        chan = np.where(disc, 230 - 60 * k, chan)
        chan = np.where(bar, 20 + 30 * k, chan)
        img[..., k] = chan
    img -= CAFFE_MEAN_BGR
    return (np.round(img * 8) / 8).astype(np.float32)


def make_inputs(model, cfg, padding, seed):
    c = ref.resolve_config(dict(cfg, model=model))
    rng = np.random.default_rng(seed)
    T = c["num_steps"]
    words = np.zeros(T, np.int32)
    ids = rng.integers(1, c["vocab_size"], T - padding)
    ids[-1] = c["vocab_size"] - 1  # the last embedding row is used
    words[padding:] = ids
    if model == "video":
        clip = np.stack([pattern(c["H"], c["W"], f, rng) for f in range(ref.CLIP_FRAMES)])
        return {"words": words, "clip": clip}
    return {"words": words, "image": pattern(c["H"], c["W"], 0, rng)}


def main(argv):
    names = argv[1:] or list(CASES)
    for name in names:
        model, cfg, padding, seed = CASES[name]
        cfg = dict(cfg, model=model)
        sub = "ImageModelTests" if model == "image" else "VideoModelTests"
        out = os.path.join(ROOT, "Tests", sub, "Fixtures", "parity", name)
        inputs = make_inputs(model, cfg, padding, seed)
        big = name == "image_320_resnet101"
        res = ref.write_case(out, cfg, inputs, seed, debug_keys=DEBUG_320 if big else None,
                             level_upsampled=not big)
        print("== %s (%s): %d variables, words %s" % (name, model, res["variables"], inputs["words"].tolist()))
        print("   rerun in the same session max|diff| %.3g, restored from model.ckpt max|diff| %.3g"
              % (res["same_session_maxdiff"], res["restored_maxdiff"]))
        for k, v in res["outputs"].items():
            print("   %-12s %-14s min %+.4f max %+.4f mean %+.4f std %.4f"
                  % (k, list(v.shape), v.min(), v.max(), v.mean(), v.std()))
        s = res["outputs"]["sigm"]
        print("   sigm fraction in (0.01, 0.99): %.3f" % np.mean((s > 0.01) & (s < 0.99)))
        total = 0
        for f in sorted(os.listdir(out)):
            size = os.path.getsize(os.path.join(out, f))
            total += size
            print("   %-34s %9d bytes" % (f, size))
        print("   total %d bytes" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
