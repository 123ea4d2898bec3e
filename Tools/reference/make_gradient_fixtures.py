#!/usr/bin/env python3
"""Writes the gradient-parity fixtures of the training step, used by Tests/TrainingTests.

Regenerate (by hand, never in CI; python3 + numpy + tensorflow-cpu 2.x, about a minute on 2 cores):

    cd <repo> && python3 Tools/reference/make_gradient_fixtures.py [case ...]     (cases below, and "v1")

The graphs come from cmpc_reference.py (the original CMPC graphs, original variable names). On top
of them this script builds the original training objective and one optimizer step, written anew
after train_op() of CMPC_model.py / CMPC_video_mm_tgraph_allvec.py and util/loss.py:

    cls_loss_L = mean over the batch of Σ_pixels sigmoid_cross_entropy(up_L, target)   (L = final, c3, c4, c5)
    cls_loss_all = 0.7·cls_loss + 0.1·(cls_loss_c5 + cls_loss_c4 + cls_loss_c3)
    reg_loss = 0.0005 · Σ l2_loss(v) over trained v named …DW… or …/weights
    cost = cls_loss_all + reg_loss
    trained: text_objseg/* (finetune "none"); + res3*, res4*, res5* (finetune "res3-5", the original's
             conv5 flag); every trainable variable (finetune "all": + conv1, res2*, bn*/beta, bn*/gamma)
    gradients of biases (names containing "biases") ×2, then tf.compat.v1.train.AdamOptimizer with
    polynomial_decay(start_lr, global_step, decay_steps, end 1e-5, power 0.9), global_step from 0.

Each case folder Tests/TrainingTests/Fixtures/gradients/<case>/ holds
  config.json   model configuration (as cmpc_reference.resolve_config) + "seed"
  train.json    {"finetune", "start_lr", "decay_steps", "end_lr", "power", "weight_decay"}
  model.ckpt.*  TensorFlow V2 bundle with every variable (seeded values, cmpc_reference.init_value)
  inputs.npz    words int32 [T], image float32 [H,W,3] or clip float32 [16,H,W,3], target float32 [H,W]
  expected.npz  scalars cost, cls_loss_all, cls_loss, cls_loss_c3, cls_loss_c4, cls_loss_c5, reg_loss;
                for every trained variable N (with "/" written "__"): grad__N (d cost/d N, before the
                bias multiplier) and after__N (its value after the one Adam step)
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cmpc_reference as ref  # noqa: E402
from make_model_fixtures import TINY, make_inputs  # noqa: E402

tf = ref.tf
tf1 = ref.tf1

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "TrainingTests", "Fixtures", "gradients")

# name: (model, config overrides, left padding, seed, finetune, start_lr)
CASES = {
    "image_none": ("image", dict(TINY), 2, 31, "none", 0.01),
    "image_all": ("image", dict(TINY, width_divisor=32, H=48, W=64), 1, 32, "all", 0.01),
    "video_res345": ("video", dict(TINY, width_divisor=32), 3, 33, "res3-5", 0.01),
}
DECAY_STEPS = 100
END_LR = 1e-5
POWER = 0.9
WEIGHT_DECAY = 0.0005


def trained(name, finetune):
    if name.startswith("text_objseg"):
        return True
    if finetune == "res3-5":
        return name.startswith("res3") or name.startswith("res4") or name.startswith("res5")
    return finetune == "all"


def target_mask(h, w, seed):
    """A 0/1 ellipse plus a rectangle, placed by the seed."""
    r = np.random.default_rng(seed + 1000)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = h * (0.3 + 0.3 * r.random()), w * (0.3 + 0.3 * r.random())
    m = ((y - cy) / (0.25 * h)) ** 2 + ((x - cx) / (0.2 * w)) ** 2 < 1
    m |= (y > 0.7 * h) & (x > 0.1 * w) & (x < 0.35 * w)
    return m.astype(np.float32)


def weighed_logistic_loss(scores, labels):
    return tf.reduce_mean(tf.reduce_sum(
        tf.nn.sigmoid_cross_entropy_with_logits(logits=scores, labels=labels), [1, 2, 3]))


def write(name):
    model, cfg, padding, seed, finetune, start_lr = CASES[name]
    cfg = dict(cfg, model=model)
    c = ref.resolve_config(cfg)
    outdir = os.path.join(OUT, name)
    os.makedirs(outdir, exist_ok=True)
    inputs = make_inputs(model, cfg, padding, seed)
    target = target_mask(c["H"], c["W"], seed)

    g = tf1.Graph()
    with g.as_default():
        glove = ref.init_value("text_objseg/Variable", (c["vocab_size"], c["glove_dim"]), seed)
        net = ref.CMPCGraph(c, glove_init=glove)
        all_vars = tf1.global_variables()
        target_fine = tf1.placeholder(tf.float32, [1, c["H"], c["W"], 1], name="target_fine")
        tvars = [v for v in tf1.trainable_variables() if trained(v.op.name, finetune)]
        reg_vars = [v for v in tvars if v.op.name.find("DW") > 0 or v.name[-9:-2] == "weights"]
        losses = {
            "cls_loss_c5": weighed_logistic_loss(net.ups["c5"], target_fine),
            "cls_loss_c4": weighed_logistic_loss(net.ups["c4"], target_fine),
            "cls_loss_c3": weighed_logistic_loss(net.ups["c3"], target_fine),
            "cls_loss": weighed_logistic_loss(net.up, target_fine),
        }
        losses["cls_loss_all"] = (0.7 * losses["cls_loss"] + 0.1 * losses["cls_loss_c5"]
                                  + 0.1 * losses["cls_loss_c4"] + 0.1 * losses["cls_loss_c3"])
        losses["reg_loss"] = WEIGHT_DECAY * tf.add_n([tf.nn.l2_loss(v) for v in reg_vars])
        losses["cost"] = losses["cls_loss_all"] + losses["reg_loss"]
        step = tf1.Variable(0.0, trainable=False)
        lr = tf1.train.polynomial_decay(start_lr, step, DECAY_STEPS, end_learning_rate=END_LR, power=POWER)
        opt = tf1.train.AdamOptimizer(lr)
        gv = opt.compute_gradients(losses["cost"], var_list=tvars)
        grads = {v.op.name: tf.convert_to_tensor(gr) for gr, v in gv}
        gv2 = [((gr if v.op.name.find("biases") <= 0 else tf.multiply(2.0, gr)), v) for gr, v in gv]
        train_step = opt.apply_gradients(gv2, global_step=step)
        saver = tf1.train.Saver(all_vars, write_version=tf1.train.SaverDef.V2)
        with tf1.Session(graph=g) as sess:
            sess.run(tf1.global_variables_initializer())
            for v in all_vars:
                v.load(ref.init_value(ref.var_name(v), v.shape.as_list(), seed), sess)
            saver.save(sess, os.path.join(outdir, "model.ckpt"), write_meta_graph=False, write_state=False)
            fd = net.feed(inputs)
            fd[target_fine] = target[None, :, :, None]
            before = sess.run({"losses": losses, "grads": grads}, feed_dict=fd)
            sess.run(train_step, feed_dict=fd)
            after = sess.run({v.op.name: v for v in tvars})

    expected = {k: np.float32(v) for k, v in before["losses"].items()}
    for n, gr in before["grads"].items():
        expected["grad__" + n.replace("/", "__")] = np.asarray(gr, np.float32)
        expected["after__" + n.replace("/", "__")] = np.asarray(after[n], np.float32)
    cfg_out = {k: c[k] for k in ("model", "H", "W", "vf_h", "vf_w", "v_emb_dim", "mlp_dim", "rnn_size",
                                 "num_steps", "vocab_size", "glove_dim", "parse_dim", "width_divisor",
                                 "depth")}
    cfg_out["seed"] = seed
    train = {"finetune": finetune, "start_lr": start_lr, "decay_steps": DECAY_STEPS, "end_lr": END_LR,
             "power": POWER, "weight_decay": WEIGHT_DECAY}
    ref._atomic_write(os.path.join(outdir, "config.json"),
                      lambda p: open(p, "w").write(json.dumps(cfg_out, indent=2) + "\n"))
    ref._atomic_write(os.path.join(outdir, "train.json"),
                      lambda p: open(p, "w").write(json.dumps(train, indent=2) + "\n"))
    key = "clip" if model == "video" else "image"
    ins = {"words": np.asarray(inputs["words"], np.int32).reshape(-1), key: inputs[key], "target": target}
    ref._atomic_write(os.path.join(outdir, "inputs.npz"), lambda p: np.savez_compressed(p, **ins))
    ref._atomic_write(os.path.join(outdir, "expected.npz"), lambda p: np.savez_compressed(p, **expected))
    print("== %s (%s, finetune %s): %d trained of %d variables, %d regularised"
          % (name, model, finetune, len(tvars), len(all_vars), len(reg_vars)))
    for k in ("cost", "cls_loss_all", "cls_loss", "cls_loss_c3", "cls_loss_c4", "cls_loss_c5", "reg_loss"):
        print("   %-13s %.6f" % (k, expected[k]))
    for f in sorted(os.listdir(outdir)):
        print("   %-34s %9d bytes" % (f, os.path.getsize(os.path.join(outdir, f))))


# --------------------------------------------------------------------------------------------
# TensorFlow's old V1 checkpoint format (what deeplab_resnet_init.ckpt is), for TFCheckpointV1.

V1_OUT = os.path.join(ROOT, "Tests", "CheckpointTests", "Fixtures", "v1")


def write_v1():
    """Tests/CheckpointTests/Fixtures/v1/: deeplab_like.ckpt (V1, one file) + expected.npz (same tensors)."""
    os.makedirs(V1_OUT, exist_ok=True)
    r = np.random.default_rng(7)
    values = {
        "conv1/weights": r.normal(0, 0.1, (7, 7, 3, 4)).astype(np.float32),
        "bn_conv1/beta": r.normal(0, 0.1, (4,)).astype(np.float32),
        "bn_conv1/gamma": r.uniform(0.8, 1.2, (4,)).astype(np.float32),
        "bn_conv1/moving_mean": r.normal(0, 0.1, (4,)).astype(np.float32),
        "bn_conv1/moving_variance": r.uniform(0.5, 1.5, (4,)).astype(np.float32),
        "res2a_branch1/weights": r.normal(0, 0.1, (1, 1, 4, 16)).astype(np.float32),
        "fc/bias64": r.normal(0, 1, (3,)).astype(np.float64),
        "scalar": np.float32(2.5),
        "empty": np.zeros((0, 3), np.float32),
    }
    g = tf1.Graph()
    with g.as_default():
        vs = {n: tf1.Variable(v, name=n) for n, v in values.items()}
        step = tf1.Variable(np.int64(1234), name="global_step")
        saver = tf1.train.Saver(list(vs.values()) + [step], write_version=tf1.train.SaverDef.V1)
        with tf1.Session(graph=g) as sess:
            sess.run(tf1.global_variables_initializer())
            path = os.path.join(V1_OUT, "deeplab_like.ckpt")
            saver.save(sess, path, write_meta_graph=False, write_state=False)
    expected = {n.replace("/", "__"): np.asarray(v) for n, v in values.items()}
    expected["global_step"] = np.int64(1234)
    np.savez(os.path.join(V1_OUT, "expected.npz"), **expected)
    print("== v1: %s" % ", ".join("%s %d bytes" % (f, os.path.getsize(os.path.join(V1_OUT, f)))
                                   for f in sorted(os.listdir(V1_OUT))))


def main(argv):
    for name in argv[1:] or list(CASES) + ["v1"]:
        if name == "v1":
            write_v1()
        else:
            write(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
