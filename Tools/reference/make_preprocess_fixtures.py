#!/usr/bin/env python3
"""Preprocessing fixtures: scikit-image 0.14's resize as the original's util/im_processing.py ran it.

Regenerate (never needed at run time or in CI; any scikit-image ≥ 0.19 with numpy):

    python3 -m venv /tmp/skimage && /tmp/skimage/bin/pip install scikit-image numpy
    /tmp/skimage/bin/python Tools/reference/make_preprocess_fixtures.py
    # rewrites Tests/PipelineTests/Fixtures/preprocess.npz (made with scikit-image 0.26.0, scipy 1.17.1)

The original ran on Python 2.7, so scikit-image <= 0.14, where `resize(im, [h, w])` with no options
meant order 1, mode='constant', cval=0 and no anti-aliasing. Today's scikit-image reproduces that
with `resize(im, shape, order=1, mode='constant', cval=0, anti_aliasing=False)`; then img_as_ubyte.

Arrays in the .npz, for each case NAME:
    NAME__input     uint8 [h, w, 3] (images) or [h, w] (masks)
    NAME__expected  uint8: resize + img_as_ubyte (images), resize > 0 (masks)
                    for pad_* cases: im_processing.resize_and_pad's [H, W, 3] output as uint8
                    for crop_* cases: resize_and_crop of the 0/1 [40, 40] input to the frame's size, > 0
    NAME__size      int32 [2]: the output height and width (pad_*: H, W of the padded input; crop_*: the frame's)
"""
import os
import numpy as np
from skimage.transform import resize
from skimage import img_as_ubyte

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "Tests", "PipelineTests", "Fixtures", "preprocess.npz")


def original_resize(im, shape):
    return resize(im, shape, order=1, mode="constant", cval=0, anti_aliasing=False)


def photo(h, w, seed):
    """A deterministic photo-like image: smooth gradients, a few discs and edges, mild noise."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    im = np.zeros((h, w, 3))
    im[..., 0] = 128 + 90 * np.sin(x / w * 5.1 + 0.3) * np.cos(y / h * 3.7)
    im[..., 1] = 40 + 180 * (x + y) / (w + h)
    im[..., 2] = 128 + 100 * np.cos((x - w / 3) * (y - h / 2) / (w * h) * 40)
    for _ in range(6):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.05, 0.25) * min(h, w)
        inside = (y - cy) ** 2 + (x - cx) ** 2 < r * r
        im[inside] = rng.uniform(0, 255, 3)
    im += rng.normal(0, 6, im.shape)
    return np.clip(np.rint(im), 0, 255).astype(np.uint8)


def resize_and_pad(im, input_h, input_w):
    """util/im_processing.py's resize_and_pad with the 0.14 resize (float image in [0, 1])."""
    im_h, im_w = im.shape[:2]
    scale = min(input_h / im_h, input_w / im_w)
    resized_h = int(np.round(im_h * scale))
    resized_w = int(np.round(im_w * scale))
    pad_h = int(np.floor(input_h - resized_h) / 2)
    pad_w = int(np.floor(input_w - resized_w) / 2)
    resized_im = original_resize(im, [resized_h, resized_w])
    new_im = np.zeros((input_h, input_w) + im.shape[2:], dtype=resized_im.dtype)
    new_im[pad_h:pad_h + resized_h, pad_w:pad_w + resized_w, ...] = resized_im
    return new_im


def resize_and_crop(im, input_h, input_w):
    """util/im_processing.py's resize_and_crop with the 0.14 resize."""
    im_h, im_w = im.shape[:2]
    scale = max(input_h / im_h, input_w / im_w)
    resized_h = int(np.round(im_h * scale))
    resized_w = int(np.round(im_w * scale))
    crop_h = int(np.floor(resized_h - input_h) / 2)
    crop_w = int(np.floor(resized_w - input_w) / 2)
    resized_im = original_resize(im, [resized_h, resized_w])
    return resized_im[crop_h:crop_h + input_h, crop_w:crop_w + input_w, ...]


def main():
    arrays = {}

    def image_case(name, im, h, w):
        arrays[name + "__input"] = im
        arrays[name + "__expected"] = img_as_ubyte(original_resize(im, [h, w]))
        arrays[name + "__size"] = np.array([h, w], dtype=np.int32)

    big = photo(120, 160, 1)
    image_case("down_half", big, 60, 80)            # ×0.5
    image_case("down_quarter", big, 30, 40)         # ×0.25
    image_case("down_odd", big, 37, 53)             # non-integer factors
    small = photo(75, 100, 2)
    image_case("up_160x120", small, 120, 160)       # the 100×75 → 160×120
    odd = photo(21, 33, 3)
    image_case("up_odd", odd, 50, 47)               # odd sizes, different factors per axis
    image_case("mixed", photo(40, 90, 4), 64, 45)   # enlarge rows, shrink columns
    image_case("same", odd, 21, 33)                 # identity

    # Masks: resize of the 0/1 mask (as uint8, img_as_float), then > 0.
    rng = np.random.RandomState(5)
    yy, xx = np.mgrid[0:45, 0:61]
    mask = (((yy - 20) ** 2 / 150.0 + (xx - 30) ** 2 / 300.0) < 1).astype(np.uint8)
    mask[rng.uniform(size=mask.shape) < 0.02] = 1
    for name, (h, w) in {"mask_down": (17, 23), "mask_up": (90, 130)}.items():
        arrays[name + "__input"] = mask
        arrays[name + "__expected"] = (original_resize(mask, [h, w]) > 0).astype(np.uint8)
        arrays[name + "__size"] = np.array([h, w], dtype=np.int32)

    # resize_and_pad as the original's test path: a frame into a square network input.
    for name, im, size in [("pad_wide", photo(48, 72, 6), 40), ("pad_tall", photo(57, 31, 7), 44)]:
        arrays[name + "__input"] = im
        arrays[name + "__expected"] = img_as_ubyte(resize_and_pad(im, size, size))
        arrays[name + "__size"] = np.array([size, size], dtype=np.int32)

    # resize_and_crop of a 0/1 prediction at the network's size back to frames of other sizes (> 0 is foreground).
    rng = np.random.RandomState(8)
    pred = np.zeros((40, 40), dtype=np.float32)
    pred[8:30, 12:35] = 1
    pred[rng.uniform(size=pred.shape) < 0.03] = 1
    for name, (h, w) in {"crop_wide": (45, 71), "crop_tall": (90, 37)}.items():
        arrays[name + "__input"] = pred.astype(np.uint8)
        arrays[name + "__expected"] = (resize_and_crop(pred, h, w) > 0).astype(np.uint8)
        arrays[name + "__size"] = np.array([h, w], dtype=np.int32)

    # What today's defaults would have given, to show the fixtures pin the 0.14 semantics.
    today = img_as_ubyte(resize(big, [30, 40]))
    equal = np.mean(today == arrays["down_quarter__expected"])
    print("today's defaults vs 0.14 at 160x120 -> 40x30: %.1f %% equal, max diff %d" % (
        100 * equal, np.abs(today.astype(int) - arrays["down_quarter__expected"].astype(int)).max()))

    np.savez_compressed(OUT, **arrays)
    print("wrote", os.path.normpath(OUT), os.path.getsize(OUT), "bytes,", len(arrays), "arrays")


if __name__ == "__main__":
    main()
