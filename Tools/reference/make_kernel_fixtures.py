#!/usr/bin/env python3
"""TensorFlow fixtures for the image kernels (conv2d, max pool, resize_bilinear, batch norm, bias add).

Regenerate (by hand, never in CI; needs python3 with tensorflow 2.x and numpy):

    python3 Tools/reference/make_kernel_fixtures.py

Writes Tests/TensorTests/Fixtures/kernels/<case>_<array>.npy: raw little-endian float32 .npy (v1.0),
one array per file. For every case: the inputs, the output `y`, a random upstream gradient `dy`
and the gradients TensorFlow's GradientTape computes from it (`dx`, `dw`, ...). The ops use
TensorFlow 1.x semantics: 'SAME' padding with the extra row/column at the bottom/right,
resize_bilinear with align_corners=False and half_pixel_centers=False, fused batch norm in
inference form (epsilon 0.001).
"""
import os

import numpy as np
import tensorflow as tf

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "TensorTests", "Fixtures", "kernels")
rng = np.random.default_rng(20200614)


def save(case, name, value):
    a = np.ascontiguousarray(np.asarray(value, dtype="<f4"))
    np.save(os.path.join(OUT, f"{case}_{name}.npy"), a)


def uniform(*shape):
    return rng.uniform(-1, 1, size=shape).astype(np.float32)


def run(case, inputs, fn):
    """Saves inputs, fn(inputs), a random dy, and the gradient of Σ dy·y for every input that has one."""
    tensors = {k: tf.constant(v) for k, v in inputs.items()}
    with tf.GradientTape() as tape:
        for t in tensors.values():
            tape.watch(t)
        y = fn(**tensors)
    dy = uniform(*y.shape)
    grads = tape.gradient(y, list(tensors.values()), output_gradients=tf.constant(dy))
    for k, v in inputs.items():
        save(case, k, v)
    save(case, "y", y.numpy())
    save(case, "dy", dy)
    for k, g in zip(inputs, grads):
        if g is not None:  # fused batch norm gives no gradient for mean/variance
            save(case, "d" + k, g.numpy())


def conv(case, x, w, strides, dilations, padding):
    run(case, {"x": uniform(*x), "w": uniform(*w)},
        lambda x, w: tf.nn.conv2d(x, w, strides=[1, *strides, 1], dilations=[1, *dilations, 1], padding=padding))


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".npy"):
            os.remove(os.path.join(OUT, f))

    # conv2d: (case, x shape, filter shape HWIO, strides, dilations, padding)
    conv("conv_same_s1", (2, 7, 6, 3), (3, 3, 3, 4), (1, 1), (1, 1), "SAME")
    conv("conv_valid_s1", (1, 7, 8, 3), (3, 2, 3, 4), (1, 1), (1, 1), "VALID")
    conv("conv_same_s2", (1, 9, 10, 3), (3, 3, 3, 5), (2, 2), (1, 1), "SAME")
    conv("conv_valid_s2", (1, 9, 8, 3), (3, 3, 3, 4), (2, 2), (1, 1), "VALID")
    conv("conv_asym_k7s2", (1, 16, 16, 3), (7, 7, 3, 4), (2, 2), (1, 1), "SAME")  # pads 2 top/left, 3 bottom/right
    conv("conv_same_d2", (1, 9, 9, 4), (3, 3, 4, 3), (1, 1), (2, 2), "SAME")
    conv("conv_valid_d2", (1, 10, 9, 2), (3, 3, 2, 3), (1, 1), (2, 2), "VALID")
    conv("conv_1x1_s1", (2, 5, 5, 6), (1, 1, 6, 4), (1, 1), (1, 1), "SAME")
    conv("conv_1x1_s2", (1, 7, 8, 6), (1, 1, 6, 4), (2, 2), (1, 1), "SAME")

    # max pool: (case, x, window, strides, padding); pool_ties has small integers, so windows tie.
    pools = [
        ("pool_same_s2", uniform(1, 9, 10, 4), (3, 3), (2, 2), "SAME"),
        ("pool_same_s2_even", uniform(1, 8, 8, 3), (3, 3), (2, 2), "SAME"),  # pads 0 top/left, 1 bottom/right
        ("pool_valid_s2", uniform(2, 9, 7, 3), (3, 3), (2, 2), "VALID"),
        ("pool_same_s1", uniform(1, 5, 6, 2), (2, 2), (1, 1), "SAME"),
        ("pool_ties", rng.integers(0, 3, size=(1, 7, 7, 6)).astype(np.float32), (3, 3), (2, 2), "SAME"),
    ]
    for case, x, window, strides, padding in pools:
        run(case, {"x": x},
            lambda x, window=window, strides=strides, padding=padding:
                tf.nn.max_pool2d(x, ksize=[1, *window, 1], strides=[1, *strides, 1], padding=padding))

    # resize_bilinear (TF1: align_corners=False, half_pixel_centers=False)
    resizes = [
        ("resize_up", (1, 4, 5, 3), (9, 11)),
        ("resize_down", (2, 9, 7, 2), (4, 3)),
        ("resize_mixed", (1, 5, 6, 2), (8, 4)),
        ("resize_x8", (1, 5, 5, 1), (40, 40)),
    ]
    for case, shape, size in resizes:
        run(case, {"x": uniform(*shape)},
            lambda x, size=size: tf.compat.v1.image.resize_bilinear(x, size, align_corners=False,
                                                                    half_pixel_centers=False))

    # batch norm in inference form (fused, as slim's batch_norm with is_training=False)
    c = 5
    run("bn", {"x": uniform(2, 3, 4, c), "mean": uniform(c), "variance": rng.uniform(0.1, 2, c).astype(np.float32),
               "offset": uniform(c), "scale": uniform(c)},
        lambda x, mean, variance, offset, scale: tf.compat.v1.nn.fused_batch_norm(
            x, scale, offset, mean=mean, variance=variance, epsilon=0.001, is_training=False)[0])

    run("bias_add", {"x": uniform(2, 3, 4, c), "bias": uniform(c)}, lambda x, bias: tf.nn.bias_add(x, bias))


if __name__ == "__main__":
    main()
