#!/usr/bin/env python3
"""TensorFlow reference fixtures for the tensor engine's elementwise/normalisation/LSTM/loss/Adam ops.

Regenerate (by hand, never in CI) from the package root:

    python3 Tools/reference/make_op_fixtures.py

Needs python3 with tensorflow 2.x (made with 2.21) and numpy. Writes one little-endian float32
.npy (format v1) per array into Tests/TensorTests/Fixtures/ops/, read by the op test suites through
loadOpsFixture in Tests/TensorTests/OpsNPY.swift. Inputs are seeded; every gradient is taken with tf.GradientTape
against a random upstream gradient `*_dy` (the sum of dy·y over the outputs).

tf.contrib is gone, so contrib's layer_norm is re-implemented from its definition: tf.nn.moments
over axes 1..rank-1 (all non-batch axes), then (x − mean)·rsqrt(var + 1e-12)·gamma + beta with
gamma/beta of the last axis' size. The LSTM cell is TensorFlow's TF1 BasicLSTMCell.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np
import tensorflow as tf
from tensorflow.python.keras.layers.legacy_rnn.rnn_cell_impl import BasicLSTMCell, LSTMStateTuple

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "TensorTests", "Fixtures", "ops")
rng = np.random.default_rng(20200614)


def save(name, array):
    a = np.ascontiguousarray(np.asarray(array, dtype="<f4"))
    np.save(os.path.join(OUT, name + ".npy"), a, allow_pickle=False)


def rand(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def layer_norm_contrib(x, gamma, beta, eps=1e-12):
    axes = list(range(1, len(x.shape)))
    mean, var = tf.nn.moments(x, axes, keepdims=True)
    return (x - mean) * tf.math.rsqrt(var + eps) * gamma + beta


def fixture_layer_norm():
    for tag, shape in (("layernorm4d", (2, 1, 6, 5)), ("layernorm2d", (3, 7))):
        x = tf.constant(rand(*shape, scale=2.0) + 0.5)
        gamma = tf.constant(rand(shape[-1]) + 1.0)
        beta = tf.constant(rand(shape[-1]))
        dy = rand(*shape)
        with tf.GradientTape() as tape:
            tape.watch([x, gamma, beta])
            y = layer_norm_contrib(x, gamma, beta)
            loss = tf.reduce_sum(y * dy)
        dx, dgamma, dbeta = tape.gradient(loss, [x, gamma, beta])
        for k, v in dict(x=x, gamma=gamma, beta=beta, y=y, dy=dy, dx=dx, dgamma=dgamma, dbeta=dbeta).items():
            save(f"{tag}_{k}", v)


def fixture_l2_normalize():
    for tag, shape, axis in (("l2norm_axis", (2, 3, 4), -1), ("l2norm_axes", (2, 3, 4), [0, 2]),
                             ("l2norm_all", (3, 5), None)):
        x = tf.constant(rand(*shape))
        dy = rand(*shape)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.math.l2_normalize(x, axis=axis, epsilon=1e-12)
            loss = tf.reduce_sum(y * dy)
        dx = tape.gradient(loss, x)
        for k, v in dict(x=x, y=y, dy=dy, dx=dx).items():
            save(f"{tag}_{k}", v)


def fixture_lstm():
    batch, in_dim, units, steps = 2, 3, 4, 3
    cell = BasicLSTMCell(units, forget_bias=1.0)
    cell.build(tf.TensorShape([None, in_dim]))
    kernel_v = rand(in_dim + units, 4 * units, scale=0.5)
    bias_v = rand(4 * units, scale=0.5)
    cell._kernel.assign(kernel_v)
    cell._bias.assign(bias_v)
    xs = tf.constant(rand(steps, batch, in_dim))
    h0 = tf.constant(rand(batch, units, scale=0.5))
    c0 = tf.constant(rand(batch, units, scale=0.5))
    dh = rand(batch, units)
    dc = rand(batch, units)
    save("lstm_kernel", kernel_v)
    save("lstm_bias", bias_v)
    save("lstm_xs", xs)
    save("lstm_h0", h0)
    save("lstm_c0", c0)
    save("lstm_dh", dh)
    save("lstm_dc", dc)
    for tag, n in (("lstm_step1", 1), ("lstm_steps3", steps)):
        with tf.GradientTape() as tape:
            tape.watch([xs, h0, c0])
            state = LSTMStateTuple(c0, h0)
            for t in range(n):
                out, state = cell(xs[t], state)
            c, h = state
            loss = tf.reduce_sum(h * dh) + tf.reduce_sum(c * dc)
        dxs, dh0, dc0, dk, db = tape.gradient(loss, [xs, h0, c0, cell._kernel, cell._bias])
        for k, v in dict(h=h, c=c, dxs=dxs, dh0=dh0, dc0=dc0, dkernel=dk, dbias=db).items():
            save(f"{tag}_{k}", v)


def fixture_softmax():
    for tag, shape, axis in (("softmax_last", (3, 5), -1), ("softmax_mid", (2, 3, 4), 1)):
        x = tf.constant(rand(*shape, scale=3.0))
        dy = rand(*shape)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.nn.softmax(x, axis=axis)
            loss = tf.reduce_sum(y * dy)
        dx = tape.gradient(loss, x)
        for k, v in dict(x=x, y=y, dy=dy, dx=dx).items():
            save(f"{tag}_{k}", v)


def fixture_sigmoid_cross_entropy():
    logits = tf.constant(np.concatenate([rand(4, 5, scale=4.0), np.array([[-60.0, -20.0, 0.0, 20.0, 60.0]], np.float32)]))
    labels = tf.constant(((rng.random((5, 5)) > 0.5) * 0.8 + 0.1 * (rng.random((5, 5)) > 0.5)).astype(np.float32))
    dy = rand(5, 5)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        y = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
        loss = tf.reduce_sum(y * dy)
    dlogits = tape.gradient(loss, logits)
    for k, v in dict(logits=logits, labels=labels, y=y, dy=dy, dlogits=dlogits).items():
        save(f"sigmoidce_{k}", v)


def fixture_adam():
    w0 = rand(3, 4)
    grads = [rand(3, 4), rand(3, 4) * 0.01]
    lrs = [0.01, 0.003]
    var = tf.Variable(w0)
    opt = tf.compat.v1.train.AdamOptimizer(learning_rate=lambda: lr_now[0])
    lr_now = [lrs[0]]
    save("adam_w0", w0)
    for i, (g, lr) in enumerate(zip(grads, lrs), start=1):
        lr_now[0] = lr
        opt.apply_gradients([(tf.constant(g), var)])
        save(f"adam_g{i}", g)
        save(f"adam_w{i}", var.numpy())
        save(f"adam_m{i}", opt.get_slot(var, "m").numpy())
        save(f"adam_v{i}", opt.get_slot(var, "v").numpy())
    save("adam_lr", np.array(lrs, np.float32))


def main():
    os.makedirs(OUT, exist_ok=True)
    fixture_layer_norm()
    fixture_l2_normalize()
    fixture_lstm()
    fixture_softmax()
    fixture_sigmoid_cross_entropy()
    fixture_adam()
    print("wrote", len([f for f in os.listdir(OUT) if f.endswith(".npy")]), "arrays to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
