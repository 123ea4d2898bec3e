#!/usr/bin/env python3
"""Reference CMPC graphs (image and video) rebuilt in TensorFlow 2.x tf.compat.v1 graph mode.

The graphs follow the original TensorFlow 1 code of CMPC (github spyflying/CMPC-Refseg:
CMPC_model.py, CMPC_video/CMPC_video_mm_tgraph_allvec.py, util/cell.py, the DeepLab ResNet-101 of
external/tensorflow-deeplab-resnet) op for op and create the same variable names, so that a
checkpoint written here has the layout of an original CMPC checkpoint. Sizes are configurable
(see resolve_config) so that small, seeded parity fixtures can be made for the Swift port.

Run by hand, never in CI (needs python3, numpy, tensorflow-cpu 2.x):

    python3 Tools/reference/cmpc_reference.py check-names
        builds the full-size image and video graphs (without running them) and compares their
        variable names and shapes with /work/shared/reference/cmpc_{image,video}_variables.txt
    python3 Tools/reference/cmpc_reference.py make CONFIG.json OUTDIR [--seed N]
        writes one fixture folder (random inputs); make_model_fixtures.py makes the committed ones.

Letters: T num_steps, T' = T - valid_idx valid words, h×w = vf_h×vf_w feature map, F = 5 sampled
frames, C = v_emb_dim = rnn_size, M = mlp_dim.
"""

import json
import os
import sys
import zlib

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # plain Eigen kernels for the reference
import tensorflow as tf  # noqa: E402
from tensorflow.python.keras.layers.legacy_rnn import rnn_cell_impl  # noqa: E402

tf1 = tf.compat.v1
tf1.disable_v2_behavior()

SAMPLED_FRAMES = [0, 4, 8, 12, 15]
CLIP_FRAMES = 16
BN_EPSILON = 0.001          # slim.batch_norm default
LN_EPSILON = 1e-12          # contrib.layers.layer_norm
WORD_TYPES = {"image": 4, "video": 5}

DEFAULTS = {
    "model": "image",
    "H": 320, "W": 320,
    "v_emb_dim": 1000, "mlp_dim": 500, "rnn_size": 1000,
    "num_steps": 20, "vocab_size": 12112, "glove_dim": 300, "parse_dim": 500,
    "width_divisor": 1, "depth": [3, 4, 23, 3],
}


# --------------------------------------------------------------------------------------------
# Configuration

def _same_out(n, stride):
    return -(-n // stride)


def resolve_config(cfg):
    """Fills defaults, derives vf_h/vf_w and checks the constraints of the original graph."""
    c = dict(DEFAULTS)
    c.update(cfg)
    if c["model"] not in WORD_TYPES:
        raise ValueError("model must be 'image' or 'video', got %r" % c["model"])
    # Feature map size after conv1 (s2), pool1 (s2) and res3a (s2), all 'SAME'.
    fh = _same_out(_same_out(_same_out(c["H"], 2), 2), 2)
    fw = _same_out(_same_out(_same_out(c["W"], 2), 2), 2)
    c.setdefault("vf_h", fh)
    c.setdefault("vf_w", fw)
    if (c["vf_h"], c["vf_w"]) != (fh, fw):
        raise ValueError("vf_h×vf_w %d×%d does not match the backbone output %d×%d for %d×%d input"
                         % (c["vf_h"], c["vf_w"], fh, fw, c["H"], c["W"]))
    if c["rnn_size"] != c["v_emb_dim"]:
        raise ValueError("rnn_size must equal v_emb_dim (the graphs multiply word and visual features)")
    d = c["width_divisor"]
    if d < 1 or 64 % d != 0:
        raise ValueError("width_divisor must divide 64 (conv1 width), got %d" % d)
    depth = list(c["depth"])
    if len(depth) != 4 or min(depth) < 1 or depth[0] > 26 or depth[3] > 26:
        raise ValueError("depth must be 4 positive block counts (res2, res5 at most 26), got %r" % depth)
    c["depth"] = depth
    return c


def backbone_widths(c):
    """(conv1 width, [(bottleneck width, output width) per stage]) for a width divisor."""
    d = c["width_divisor"]
    return 64 // d, [(w // d, 4 * w // d) for w in (64, 128, 256, 512)]


def block_names(stage, count):
    """Original DeepLab block ids: res2/res5 use letters a, b, c…; res3/res4 use a, b1, b2…."""
    if stage in (2, 5):
        return ["%d%s" % (stage, chr(ord("a") + i)) for i in range(count)]
    return ["%da" % stage] + ["%db%d" % (stage, i) for i in range(1, count)]


# --------------------------------------------------------------------------------------------
# Building blocks with the original variable names

def batch_norm(x, name, relu):
    """slim.batch_norm(is_training=False, scale=True) under scope `name`: moving statistics, eps 0.001."""
    ch = x.shape[-1]
    with tf1.variable_scope(name):
        beta = tf1.get_variable("beta", [ch], initializer=tf1.zeros_initializer())
        gamma = tf1.get_variable("gamma", [ch], initializer=tf1.ones_initializer())
        mean = tf1.get_variable("moving_mean", [ch], initializer=tf1.zeros_initializer(), trainable=False)
        var = tf1.get_variable("moving_variance", [ch], initializer=tf1.ones_initializer(), trainable=False)
        y, _, _ = tf1.nn.fused_batch_norm(x, gamma, beta, mean=mean, variance=var,
                                          epsilon=BN_EPSILON, is_training=False)
    return tf.nn.relu(y) if relu else y


def caffe_conv(x, name, k, cout, stride=1, rate=1):
    """kaffe Network.conv / atrous_conv without bias: `<name>/weights` [k,k,cin,cout], 'SAME'."""
    cin = x.shape[-1]
    with tf1.variable_scope(name):
        w = tf1.get_variable("weights", [k, k, cin, cout])
        if rate > 1:
            return tf.nn.atrous_conv2d(x, w, rate, padding="SAME")
        return tf1.nn.conv2d(x, w, [1, stride, stride, 1], padding="SAME")


def deeplab_resnet(x, c, layers):
    """DeepLab ResNet-101 (Caffe layout); returns the last block output of res3, res4, res5."""
    conv1_w, stages = backbone_widths(c)
    y = caffe_conv(x, "conv1", 7, conv1_w, stride=2)
    y = batch_norm(y, "bn_conv1", relu=True)
    y = tf1.nn.max_pool(y, [1, 3, 3, 1], [1, 2, 2, 1], padding="SAME", name="pool1")
    layers["pool1"] = y
    settings = {2: (1, 1), 3: (2, 1), 4: (1, 2), 5: (1, 4)}  # first-block stride, atrous rate
    for stage, (width, out), count in zip((2, 3, 4, 5), stages, c["depth"]):
        stride, rate = settings[stage]
        for i, b in enumerate(block_names(stage, count)):
            s = stride if i == 0 else 1
            if i == 0:
                short = caffe_conv(y, "res%s_branch1" % b, 1, out, stride=s)
                short = batch_norm(short, "bn%s_branch1" % b, relu=False)
            else:
                short = y
            z = caffe_conv(y, "res%s_branch2a" % b, 1, width, stride=s)
            z = batch_norm(z, "bn%s_branch2a" % b, relu=True)
            z = caffe_conv(z, "res%s_branch2b" % b, 3, width, rate=rate)
            z = batch_norm(z, "bn%s_branch2b" % b, relu=True)
            z = caffe_conv(z, "res%s_branch2c" % b, 1, out)
            z = batch_norm(z, "bn%s_branch2c" % b, relu=False)
            y = tf.nn.relu(tf.add_n([short, z]), name="res%s_relu" % b)
            layers["res%s_relu" % b] = y
        layers["res%d" % stage] = y
    return layers["res3"], layers["res4"], layers["res5"]


def head_conv(name, x, k, cout):
    """CMPC `_conv`: `text_objseg/<name>/DW` [k,k,cin,cout] and `biases` [cout], stride 1, 'SAME'."""
    cin = x.shape[-1]
    with tf1.variable_scope(name):
        w = tf1.get_variable("DW", [k, k, cin, cout])
        b = tf1.get_variable("biases", [cout], initializer=tf1.zeros_initializer())
        return tf1.nn.conv2d(x, w, [1, 1, 1, 1], padding="SAME") + b


def layer_norm(x, scope):
    """contrib.layers.layer_norm: moments over all non-batch axes, params over the last axis, eps 1e-12."""
    ch = x.shape[-1]
    with tf1.variable_scope(scope):
        beta = tf1.get_variable("beta", [ch], initializer=tf1.zeros_initializer())
        gamma = tf1.get_variable("gamma", [ch], initializer=tf1.ones_initializer())
        axes = list(range(1, x.shape.ndims))
        mean, var = tf.nn.moments(x, axes, keepdims=True)
        return tf.nn.batch_normalization(x, mean, var, offset=beta, scale=gamma,
                                         variance_epsilon=LN_EPSILON)


def l2n(x, axis=None):
    return tf1.nn.l2_normalize(x, axis)


def spatial_grid(h, w):
    """util/processing_tools.generate_spatial_batch for one image: [1,h,w,8]."""
    g = np.zeros((1, h, w, 8), dtype=np.float32)
    for y in range(h):
        for x in range(w):
            xmin, xmax = x / w * 2 - 1, (x + 1) / w * 2 - 1
            ymin, ymax = y / h * 2 - 1, (y + 1) / h * 2 - 1
            g[0, y, x, :] = [xmin, ymin, xmax, ymax, (xmin + xmax) / 2, (ymin + ymax) / 2, 1 / w, 1 / h]
    return g


# --------------------------------------------------------------------------------------------
# The CMPC graphs

class CMPCGraph:
    """Builds the image (CMPC_model.py) or video (CMPC_video_mm_tgraph_allvec.py) graph, batch 1."""

    def __init__(self, cfg, glove_init=None):
        self.c = c = resolve_config(cfg)
        self.video = c["model"] == "video"
        self.T = c["num_steps"]
        self.h, self.w = c["vf_h"], c["vf_w"]
        self.C, self.M, self.R = c["v_emb_dim"], c["mlp_dim"], c["rnn_size"]
        self.debug = {}
        self.layers = {}
        self.words = tf1.placeholder(tf.int32, [1, self.T], name="words")
        self.valid_idx = tf1.placeholder(tf.int32, [1, 1], name="valid_idx")
        if self.video:
            self.clip = tf1.placeholder(tf.float32, [1, CLIP_FRAMES, c["H"], c["W"], 3], name="clip")
            sample = tf.gather(self.clip, indices=SAMPLED_FRAMES, axis=1)
            self.batch = len(SAMPLED_FRAMES)
            backbone_in = tf.reshape(sample, [self.batch, c["H"], c["W"], 3])
        else:
            self.im = tf1.placeholder(tf.float32, [1, c["H"], c["W"], 3], name="image")
            self.batch = 1
            backbone_in = self.im
        r3, r4, r5 = deeplab_resnet(backbone_in, c, self.layers)
        self.debug.update(res3=r3, res4=r4, res5=r5)
        if glove_init is None:
            glove_init = np.zeros((c["vocab_size"], c["glove_dim"]), np.float32)
        with tf1.variable_scope("text_objseg"):
            self._build(r3, r4, r5, glove_init)

    # language --------------------------------------------------------------------------------
    def _language(self, glove_init):
        emb = tf1.Variable(glove_init)  # text_objseg/Variable
        embedded = tf1.nn.embedding_lookup(emb, tf.transpose(self.words))  # [T, 1, glove]
        basic = rnn_cell_impl.BasicLSTMCell(self.R, state_is_tuple=False)
        cell = rnn_cell_impl.MultiRNNCell([basic], state_is_tuple=False)
        state = cell.zero_state(1, tf.float32)
        outs = []
        with tf1.variable_scope("RNN"):
            for n in range(self.T):
                if n > 0:
                    tf1.get_variable_scope().reuse_variables()

                def pad(state=state):
                    return tf.zeros([1, self.R]), state

                def step(n=n, state=state):
                    return cell(embedded[n, :, :], state)

                out, state = tf1.cond(tf.equal(self.words[0, n], 0), pad, step)
                outs.append(tf.reshape(out, [1, 1, self.R]))
        self.debug["rnn_outputs"] = tf.concat(outs, 1)
        return out, tf.concat(outs, 1)

    def _words_slice(self, words_feat):
        v = self.valid_idx[0, 0]
        out = tf.slice(words_feat, [0, v, 0], [-1, self.T - v, -1])
        out.set_shape([1, None, self.R])
        return out

    def _parse(self, words_feat):
        p = head_conv("words_parse_1", words_feat, 1, self.c["parse_dim"])
        p = tf.nn.relu(p)
        p = head_conv("words_parse_2", p, 1, WORD_TYPES[self.c["model"]])
        return tf.nn.softmax(p, axis=3)  # [1, 1, T', types]

    def _weighted_lang(self, weights, words_feat):
        """weights [1,1,T'] · words [1,T',C] → l2-normalised [1,1,1,C]."""
        wf = tf.reshape(words_feat, [1, self.T - self.valid_idx[0, 0], self.R])
        f = l2n(tf.matmul(weights, wf), 2)
        return tf.reshape(f, [1, 1, 1, self.R])

    # fusion blocks ---------------------------------------------------------------------------
    def _mutan(self, lang, spatial, vis, level):
        heads = []
        for k in range(1, 6):
            name = "%s_head%d" % (level, k)
            sp = tf.tile(spatial, [self.batch, 1, 1, 1]) if self.video else spatial
            lf = tf.tile(lang, [self.batch, 1, 1, 1]) if self.video else lang
            vt = tf.tanh(head_conv("vis_trans_" + name, tf.concat([vis, sp], 3), 1, self.C))
            lt = tf.tanh(head_conv("lang_trans_" + name, lf, 1, self.C))
            heads.append(vt * lt)
        f = tf.reduce_sum(tf.stack(heads, axis=4), 4)
        return l2n(tf.tanh(f), 3)

    def _graph_conv(self, feat, nodes, adj, graph_name, level):
        x = tf.reshape(feat, [1, nodes, self.C])
        g = tf.reshape(tf.matmul(adj, x), [1, 1, nodes, self.C])
        g = layer_norm(g, "gconv_feat_ln_%s_%s" % (graph_name, level))
        g = tf.nn.relu(feat + g)
        u = head_conv("gconv_update_%s_%s" % (graph_name, level), g, 1, self.C)
        u = layer_norm(u, "gconv_update_ln_%s_%s" % (graph_name, level))
        return tf.nn.relu(u)

    def _spa_graph(self, feat, words_feat, parse, level):
        hw = self.h * self.w
        wt = head_conv("words_trans_" + level, words_feat, 1, self.R)
        wt = tf.reshape(wt, [1, self.T - self.valid_idx[0, 0], self.R])
        st = head_conv("spa_graph_trans2_" + level, feat, 1, self.C)
        st = tf.reshape(st, [1, hw, self.C])
        affi = tf.matmul(st, wt, transpose_b=True) / (self.C ** 0.5)   # [1, hw, T']
        affi = parse[:, :, :, 2] * affi
        adj = tf.matmul(tf.nn.softmax(affi, axis=2), tf.nn.softmax(affi, axis=1), transpose_b=True)
        g = tf.reshape(feat, [1, 1, hw, self.C])
        g = self._graph_conv(g, hw, adj, "spa_graph", level)
        return l2n(tf.reshape(g, [1, self.h, self.w, self.C]), 3)

    def _temp_graph(self, mm, lang, level):
        F, hw = self.batch, self.h * self.w
        vt = tf.reshape(head_conv("tg_vtrans_" + level, mm, 1, self.C), [F, hw, self.C])
        lt = head_conv("tg_ltrans_" + level, lang, 1, self.R)
        lt = tf.reshape(tf.tile(lt, [1, F, 1, 1]), [F, 1, self.R])
        attn = tf.nn.softmax(tf.matmul(lt, vt, transpose_b=True) / (self.C ** 0.5), axis=2)
        g = tf.matmul(attn, tf.reshape(mm, [F, hw, self.C]))
        g = tf.reshape(g, [1, 1, F, self.C])
        q = tf.reshape(head_conv("tg_query_" + level, g, 1, self.C), [1, F, self.C])
        k = tf.reshape(head_conv("tg_key_" + level, g, 1, self.C), [1, F, self.C])
        adj = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) / (self.C ** 0.5), axis=2)
        g = self._graph_conv(g, F, adj, "temp_graph", level)
        return l2n(g, 3)  # [1, 1, F, C]

    def _temp_ctx(self, mm, ctx, level):
        F, hw = self.batch, self.h * self.w
        mt = tf.reshape(head_conv("mm_trans_" + level, mm, 1, self.C), [1, hw, self.C])
        ct = tf.reshape(head_conv("ctx_trans_" + level, ctx, 1, self.C), [1, F, self.C])
        attn = tf.nn.softmax(tf.matmul(mt, ct, transpose_b=True) / (self.C ** 0.5), axis=2)
        g = tf.matmul(attn, tf.reshape(ctx, [1, F, self.C]))
        return l2n(tf.reshape(g, [1, self.h, self.w, self.C]), 3)

    def _lang2vis(self, vis, words_feat, parse, spatial, level):
        if not self.video:
            ea = self._weighted_lang(parse[:, :, :, 0] + parse[:, :, :, 1], words_feat)
            mm = self._mutan(ea, spatial, vis, level)
            sg = self._spa_graph(mm, words_feat, parse, level)
            lv = tf.tile(ea, [1, self.h, self.w, 1])
            parts = [mm, sg, lv, spatial]
        else:
            ea = self._weighted_lang(parse[:, :, :, 0] + parse[:, :, :, 1], words_feat)
            mm = self._mutan(ea, spatial, vis, level)
            ac = self._weighted_lang(parse[:, :, :, -2], words_feat)
            tg = self._temp_graph(mm, ac, level)
            mid = self.batch // 2
            gv = tf.reshape(vis[mid], [1, self.h, self.w, self.C])
            gm = tf.reshape(mm[mid], [1, self.h, self.w, self.C])
            ctx = self._temp_ctx(gm, tg, level)
            sg = self._spa_graph(gm, words_feat, parse, level)
            valid = self._weighted_lang(tf.reduce_sum(parse, 3) - parse[:, :, :, 4], words_feat)
            lv = tf.tile(valid, [1, self.h, self.w, 1])
            parts = [gv, sg, ctx, lv, spatial]
            self.debug.update({"ea_lang": ea, "ac_lang": ac, "tgraph_" + level: tg,
                               "temp_ctx_" + level: ctx})
        self.debug.update({"mutan_" + level: mm, "spa_graph_" + level: sg})
        return tf.nn.relu(head_conv("fusion_" + level, tf.concat(parts, 3), 1, self.M))

    # gated exchange + ConvLSTM -------------------------------------------------------------
    def _global_vec(self, feat, lang, level):
        hw = self.h * self.w
        key = tf.reshape(head_conv("spa_graph_key_" + level, feat, 1, self.M), [1, hw, self.M])
        query = tf.reshape(head_conv("lang_query_" + level, lang, 1, self.M), [1, 1, self.M])
        attn = tf.nn.softmax(tf.matmul(key, query, transpose_b=True) / (self.M ** 0.5), axis=1)
        pooled = tf.matmul(attn, tf.reshape(feat, [1, hw, self.M]), transpose_a=True)
        gv = tf.concat([tf.reshape(pooled, [1, 1, 1, self.M]), lang], 3)
        return l2n(head_conv("gv_lang_" + level, gv, 1, self.M))  # over the whole tensor

    def _lang_se(self, feat, gv, level):
        gate = tf.sigmoid(head_conv("lang_feat_" + level, gv, 1, self.M))
        return tf.nn.relu(head_conv("trans_feat_" + level, feat, 1, self.M)) * gate

    def _exchange(self, feat, f1, f2, lang, level):
        gv = self._global_vec(feat, lang, level + "gv_f1")
        return feat + self._lang_se(f1, gv, level + "_f1") + self._lang_se(f2, gv, level + "_f2")

    def _conv_lstm(self, xs):
        """util/cell.ConvLSTMCell(shape [h,w], filters M, kernel [1,1]) run by dynamic_rnn over xs."""
        M = self.M
        c = tf.zeros([1, self.h, self.w, M])
        hcur = tf.zeros([1, self.h, self.w, M])
        with tf1.variable_scope("rnn/conv_lstm_cell") as scope:
            for t, x in enumerate(xs):
                if t > 0:
                    scope.reuse_variables()
                x = tf.concat([x, hcur], axis=3)
                W = tf1.get_variable("kernel", [1, 1, 2 * M, 4 * M])
                y = tf.nn.convolution(x, W, padding="SAME")
                j, i, f, o = tf.split(y, 4, axis=3)
                i += tf1.get_variable("W_ci", [self.h, self.w, M]) * c
                f += tf1.get_variable("W_cf", [self.h, self.w, M]) * c
                j = layer_norm(j, "LayerNorm")
                i = layer_norm(i, "LayerNorm_1")
                f = layer_norm(f, "LayerNorm_2")
                f = tf.sigmoid(f + 1.0)
                i = tf.sigmoid(i)
                c = c * f + i * tf.tanh(j)
                o += tf1.get_variable("W_co", [self.h, self.w, M]) * c
                o = layer_norm(o, "LayerNorm_3")
                c = layer_norm(c, "LayerNorm_4")
                hcur = tf.sigmoid(o) * tf.tanh(c)
        return hcur

    def _fuse(self, f3, f4, f5, lang):
        e3 = l2n(self._exchange(f3, f4, f5, lang, "c3"), 3)
        e4 = l2n(self._exchange(f4, f3, f5, lang, "c4"), 3)
        e5 = l2n(self._exchange(f5, f3, f4, lang, "c5"), 3)
        e3_2 = l2n(self._exchange(e3, e4, e5, lang, "c3_2"), 3)
        e4_2 = l2n(self._exchange(e4, e3, e5, lang, "c4_2"), 3)
        e5_2 = l2n(self._exchange(e5, e3, e4, lang, "c5_2"), 3)
        self.debug.update(feat_exg3=e3, feat_exg4=e4, feat_exg5=e5,
                          feat_exg3_2=e3_2, feat_exg4_2=e4_2, feat_exg5_2=e5_2)
        out = self._conv_lstm([e3_2, e4_2, e5_2])
        self.debug["convlstm"] = out
        return out

    # whole head ------------------------------------------------------------------------------
    def _build(self, r3, r4, r5, glove_init):
        last, words_feat = self._language(glove_init)
        words_feat = self._words_slice(words_feat)                       # [1, T', R]
        if self.video:
            lang_feat = l2n(tf.reshape(tf.reduce_max(words_feat, 1), [1, 1, 1, self.R]), 3)
        else:
            lang_feat = l2n(tf.reshape(last, [1, 1, 1, self.R]), 3)
        words_feat = tf.expand_dims(l2n(words_feat, 2), 1)               # [1, 1, T', R]
        self.debug.update(lang_feat=lang_feat, words_feat=words_feat)

        v5 = l2n(head_conv("c5_lateral", r5, 1, self.C), 3)
        v4 = l2n(head_conv("c4_lateral", r4, 1, self.C), 3)
        v3 = l2n(head_conv("c3_lateral", r3, 1, self.C), 3)
        self.debug.update(visual_feat_c3=v3, visual_feat_c4=v4, visual_feat_c5=v5)
        spatial = tf.constant(spatial_grid(self.h, self.w))

        parse = self._parse(words_feat)
        self.words_parse = parse
        fusion = {}
        for level, v in (("c5", v5), ("c4", v4), ("c3", v3)):
            fusion[level] = self._lang2vis(v, words_feat, parse, spatial, level)
            self.debug["fusion_" + level] = fusion[level]

        H, W = self.c["H"], self.c["W"]
        self.ups = {}
        for level in ("c5", "c4", "c3"):
            score = head_conv("score_" + level, fusion[level], 3, 1)
            self.debug["score_" + level] = score
            self.ups[level] = tf1.image.resize_bilinear(score, [H, W])

        # image: nec_lang = sum − unnecessary (index 3); video: valid_lang = sum − index 4
        last_type = WORD_TYPES[self.c["model"]] - 1
        gate_lang = self._weighted_lang(tf.reduce_sum(parse, 3) - parse[:, :, :, last_type], words_feat)
        self.debug["gate_lang"] = gate_lang
        fused = self._fuse(fusion["c3"], fusion["c4"], fusion["c5"], gate_lang)
        self.pred = head_conv("score", fused, 3, 1)
        self.up = tf1.image.resize_bilinear(self.pred, [H, W])
        self.sigm = tf.sigmoid(self.up)

    # feeds and fetches -----------------------------------------------------------------------
    def feed(self, inputs):
        words = np.asarray(inputs["words"], np.int32).reshape(1, self.T)
        nz = np.nonzero(words[0])[0]
        if len(nz) == 0:
            raise ValueError("words has no non-zero id")
        fd = {self.words: words, self.valid_idx: [[int(nz[0])]]}
        if self.video:
            fd[self.clip] = inputs["clip"][None]
        else:
            fd[self.im] = inputs["image"][None]
        return fd

    def outputs(self):
        return {"up": self.up[0], "sigm": self.sigm[0], "pred": self.pred[0],
                "up_c3": self.ups["c3"][0], "up_c4": self.ups["c4"][0], "up_c5": self.ups["c5"][0],
                "score_c3": self.debug["score_c3"][0], "score_c4": self.debug["score_c4"][0],
                "score_c5": self.debug["score_c5"][0],
                "words_parse": self.words_parse[0, 0]}

    def debug_fetches(self):
        """Debug tensors with the batch axis dropped (the video keeps the F frame axis where it has one)."""
        out = {}
        for k, t in self.debug.items():
            if k in ("lang_feat", "gate_lang", "ea_lang", "ac_lang"):
                out[k] = tf.reshape(t, [-1])                      # [C]
            elif k == "words_feat" or k.startswith("tgraph_"):
                out[k] = t[0, 0]                                  # [T', C] / [F, C]
            elif self.video and (k in ("res3", "res4", "res5") or k.startswith("visual_feat")
                                 or k.startswith("mutan_")):
                out[k] = t                                        # [F, h, w, ·]
            else:
                out[k] = t[0]
        return out


# --------------------------------------------------------------------------------------------
# Seeded initialisation

def _rng_for(seed, name):
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def init_value(name, shape, seed):
    """A deterministic value for one variable, chosen by its name (not by creation order)."""
    r = _rng_for(seed, name)
    leaf = name.rsplit("/", 1)[-1]
    shape = tuple(shape)
    if leaf == "weights":  # backbone convs: He normal; the last conv of a branch a bit smaller
        fan_in = shape[0] * shape[1] * shape[2]
        std = np.sqrt(2.0 / fan_in) * (0.5 if name.endswith("branch2c/weights") else 1.0)
        v = r.normal(0, std, shape)
    elif leaf == "moving_variance":
        v = r.uniform(0.5, 1.5, shape)
    elif leaf == "moving_mean":
        v = r.normal(0, 0.1, shape)
    elif leaf == "gamma":
        v = r.uniform(0.8, 1.2, shape)
    elif leaf == "beta":
        v = r.normal(0, 0.1, shape)
    elif leaf in ("DW", "kernel"):  # Glorot uniform (xavier_initializer_conv2d)
        if len(shape) == 4:
            rf = shape[0] * shape[1]
            fan_in, fan_out = rf * shape[2], rf * shape[3]
        else:
            fan_in, fan_out = shape[0], shape[1]
        lim = np.sqrt(6.0 / (fan_in + fan_out))
        v = r.uniform(-lim, lim, shape)
    elif leaf in ("biases", "bias"):
        v = r.normal(0, 0.05, shape)
    elif leaf in ("W_ci", "W_cf", "W_co"):
        v = r.normal(0, 0.1, shape)
    elif name == "text_objseg/Variable":  # GloVe-like rows
        v = r.normal(0, 0.4, shape)
    else:
        raise ValueError("no initialisation rule for %s" % name)
    return v.astype(np.float32)


def var_name(v):
    return v.op.name


# --------------------------------------------------------------------------------------------
# Fixture writing

def _squeeze_batch_words(words):
    return np.asarray(words, np.int32).reshape(-1)


def write_case(outdir, cfg, inputs, seed, debug_keys=None, level_upsampled=True):
    """Writes config.json, model.ckpt.*, inputs.npz, outputs.npz, debug.npz into outdir.

    debug_keys: keep only these debug tensors (None: all). level_upsampled=False leaves up_c3..c5
    out of outputs.npz (score_c3..c5, their inputs to the bilinear resize, are always there).
    """
    os.makedirs(outdir, exist_ok=True)
    c = resolve_config(cfg)
    g = tf1.Graph()
    with g.as_default():
        glove = init_value("text_objseg/Variable", (c["vocab_size"], c["glove_dim"]), seed)
        net = CMPCGraph(c, glove_init=glove)
        saver = tf1.train.Saver(tf1.global_variables(), write_version=tf1.train.SaverDef.V2)
        with tf1.Session(graph=g) as sess:
            sess.run(tf1.global_variables_initializer())
            for v in tf1.global_variables():
                v.load(init_value(var_name(v), v.shape.as_list(), seed), sess)
            fd = net.feed(inputs)
            fetch = {"out": net.outputs(), "dbg": net.debug_fetches()}
            r1 = sess.run(fetch, feed_dict=fd)
            r2 = sess.run(fetch, feed_dict=fd)
            saver.save(sess, os.path.join(outdir, "model.ckpt"), write_meta_graph=False, write_state=False)
            nvars = len(tf1.global_variables())
    # determinism within a session
    same_run = max(float(np.max(np.abs(r1["out"][k] - r2["out"][k]))) for k in r1["out"])
    # a fresh graph restored from the written checkpoint must reproduce the outputs
    g2 = tf1.Graph()
    with g2.as_default():
        net2 = CMPCGraph(c, glove_init=np.zeros((c["vocab_size"], c["glove_dim"]), np.float32))
        saver2 = tf1.train.Saver(tf1.global_variables())
        with tf1.Session(graph=g2) as sess:
            saver2.restore(sess, os.path.join(outdir, "model.ckpt"))
            r3 = sess.run(net2.outputs(), feed_dict=net2.feed(inputs))
    restored = max(float(np.max(np.abs(r1["out"][k] - r3[k]))) for k in r1["out"])

    out = {k: np.asarray(v, np.float32) for k, v in r1["out"].items()
           if level_upsampled or not k.startswith("up_c")}
    dbg = {k: np.asarray(v, np.float32) for k, v in r1["dbg"].items()}
    if debug_keys is not None:
        dbg = {k: v for k, v in dbg.items() if k in debug_keys}
    cfg_out = {k: c[k] for k in ("model", "H", "W", "vf_h", "vf_w", "v_emb_dim", "mlp_dim", "rnn_size",
                                 "num_steps", "vocab_size", "glove_dim", "parse_dim", "width_divisor",
                                 "depth")}
    cfg_out["seed"] = seed
    _atomic_write(os.path.join(outdir, "config.json"),
                  lambda p: open(p, "w").write(json.dumps(cfg_out, indent=2) + "\n"))
    ins = {"words": _squeeze_batch_words(inputs["words"])}
    key = "clip" if c["model"] == "video" else "image"
    ins[key] = np.asarray(inputs[key], np.float32)
    _atomic_write(os.path.join(outdir, "inputs.npz"), lambda p: np.savez_compressed(p, **ins))
    _atomic_write(os.path.join(outdir, "outputs.npz"), lambda p: np.savez_compressed(p, **out))
    _atomic_write(os.path.join(outdir, "debug.npz"), lambda p: np.savez_compressed(p, **dbg))
    return {"same_session_maxdiff": same_run, "restored_maxdiff": restored, "variables": nvars,
            "outputs": out, "debug": dbg}


def _atomic_write(path, writer):
    d, base = os.path.split(path)
    tmp = os.path.join(d, "." + base + ".tmp")
    if path.endswith(".npz"):
        tmp += ".npz"  # numpy appends .npz otherwise
    writer(tmp)
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# Full-size name/shape check

def graph_variables(cfg):
    g = tf1.Graph()
    with g.as_default():
        c = resolve_config(cfg)
        CMPCGraph(c, glove_init=np.zeros((c["vocab_size"], c["glove_dim"]), np.float32))
        return [(var_name(v), v.shape.as_list()) for v in tf1.global_variables()]


def read_variable_list(path):
    out = []
    for line in open(path):
        parts = line.rstrip("\n").split("\t")
        if len(parts) >= 2:
            out.append((parts[0], json.loads(parts[1])))
    return out


def check_names(reference_dir="/work/shared/reference"):
    """Builds the full-size graphs and compares names/shapes with the reference lists. Returns ok."""
    ok = True
    for model in ("image", "video"):
        ref = read_variable_list(os.path.join(reference_dir, "cmpc_%s_variables.txt" % model))
        ref_vocab = dict(ref).get("text_objseg/Variable", [12112, 300])[0]
        got = graph_variables({"model": model, "vocab_size": ref_vocab})
        gd, rd = dict(got), dict(ref)
        missing = sorted(set(rd) - set(gd))
        extra = sorted(set(gd) - set(rd))
        shape_diff = sorted(k for k in set(gd) & set(rd) if list(gd[k]) != list(rd[k]))
        order_same = [n for n, _ in got] == [n for n, _ in ref]
        status = "OK" if not (missing or extra or shape_diff) else "MISMATCH"
        ok = ok and status == "OK"
        print("%s: %d variables built, %d in the list (built with vocab_size %d) -> %s; same order: %s"
              % (model, len(got), len(ref), ref_vocab, status, order_same))
        for k in missing[:20]:
            print("  missing", k, rd[k])
        for k in extra[:20]:
            print("  extra", k, gd[k])
        for k in shape_diff[:20]:
            print("  shape", k, "built", gd[k], "list", rd[k])
    return ok


def random_inputs(cfg, seed, padding):
    c = resolve_config(cfg)
    r = np.random.default_rng(seed)
    T = c["num_steps"]
    words = np.zeros(T, np.int32)
    words[padding:] = r.integers(1, c["vocab_size"], T - padding)
    shape = ((CLIP_FRAMES,) if c["model"] == "video" else ()) + (c["H"], c["W"], 3)
    data = np.round(r.normal(0, 40, shape) * 8) / 8
    key = "clip" if c["model"] == "video" else "image"
    return {"words": words, key: data.astype(np.float32)}


def main(argv):
    if len(argv) >= 2 and argv[1] == "check-names":
        return 0 if check_names() else 1
    if len(argv) >= 4 and argv[1] == "make":
        cfg = json.load(open(argv[2]))
        seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 1
        res = write_case(argv[3], cfg, random_inputs(cfg, seed, 2), seed)
        print({k: v for k, v in res.items() if k not in ("outputs", "debug")})
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
