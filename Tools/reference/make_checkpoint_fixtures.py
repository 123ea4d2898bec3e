#!/usr/bin/env python3
"""Checkpoint fixtures for Tests/CheckpointTests/Checkpoint*Tests.swift.

Regenerate (by hand, never in CI) from the package root:
    pip install safetensors python-snappy      # besides tensorflow 2.x and numpy
    python3 Tools/reference/make_checkpoint_fixtures.py

Writes Tests/CheckpointTests/Fixtures/checkpoints/:
  tf/model.ckpt-700.{index,data-00000-of-00001}
      a tf.compat.v1 graph saved by tf.compat.v1.train.Saver (V2 bundle): float32, float64,
      float16, int32, int64, bool and uint8 variables, names with '/', training-only names
      (Adam slots, beta1_power, beta2_power, global_step, text_objseg/Variable_1), an empty
      [0, 3] tensor, and 120 small "many/..." variables. TensorFlow's table writer starts a new
      block only at 256 KB of entries, so this index has one data block.
  tf_sharded/model.ckpt.{index,data-00000-of-00002,data-00001-of-00002}
      variables on two CPU devices saved with Saver(sharded=True): two data shards.
  tf_blocks/model.ckpt-700.{index,data-00000-of-00001}
      tf/'s index re-encoded in 1 KB data blocks (several blocks, prefix-compressed keys with a
      restart every 16 keys), as a big checkpoint's index is laid out; the data file is a copy.
  tf_snappy/model.ckpt-700.{index,data-00000-of-00001}
      the same with every block Snappy-compressed (compression byte 1), as TensorFlow 1.1/1.2
      could write. TensorFlow itself reads both back (checked here).
  values.npz (np.savez), values_compressed.npz (np.savez_compressed)
      every tensor of tf/ under its checkpoint name.
  npy/*.npy   one array per dtype, plus Fortran order, big-endian, format 2.0 and 3.0 headers.
  values.safetensors   float32/float64/int32/int64/bool/uint8 arrays with metadata,
      written by the safetensors package (safetensors.numpy.save_file).
  expected.txt   name dtype shape lines, and a few values, for the tests to check against.
"""
import os
import shutil
import struct

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "Tests", "CheckpointTests", "Fixtures", "checkpoints")


def variables_spec(rng):
    """(name, numpy value) in creation order."""
    v = []
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    v.append(("text_objseg/c5_lateral/DW", f32(1, 1, 8, 4)))
    v.append(("text_objseg/c5_lateral/biases", f32(4)))
    v.append(("res2a_branch2a/weights", f32(3, 3, 2, 2)))
    v.append(("bn_conv1/moving_mean", rng.standard_normal(3).astype(np.float64)))
    v.append(("bn_conv1/gamma_half", rng.standard_normal(5).astype(np.float16)))
    v.append(("counts/int32_vector", rng.integers(-2**31, 2**31 - 1, size=5, dtype=np.int64).astype(np.int32)))
    v.append(("counts/int64_matrix", np.array([[1, -2, 3], [2**40, -2**62, 7]], dtype=np.int64)))
    v.append(("flags/mask", np.array([True, False, True, True])))
    v.append(("image/bytes", np.array([0, 1, 127, 128, 254, 255], dtype=np.uint8)))
    v.append(("empty/zero_size", np.zeros((0, 3), dtype=np.float32)))
    v.append(("scalar/pi", np.float32(3.14159265)))
    # Training-only names.
    v.append(("text_objseg/text_objseg/c5_lateral/DW/Adam", f32(1, 1, 8, 4)))
    v.append(("text_objseg/text_objseg/c5_lateral/DW/Adam_1", np.abs(f32(1, 1, 8, 4))))
    v.append(("beta1_power", np.float32(0.9 ** 700)))
    v.append(("beta2_power", np.float32(0.999 ** 700)))
    v.append(("global_step", np.int64(700)))
    v.append(("text_objseg/Variable_1", np.int32(700)))
    for i in range(120):
        v.append((f"many/layer_{i:03d}/w", f32(2)))
    return v


def save_graph(values, prefix, devices=None, sharded=False):
    tf.compat.v1.reset_default_graph()
    graph = tf.Graph()
    with graph.as_default():
        tf_vars = []
        for i, (name, value) in enumerate(values):
            device = devices[i % len(devices)] if devices else None
            with tf.device(device):
                tf_vars.append(tf.compat.v1.Variable(value, name=name))
        saver = tf.compat.v1.train.Saver(sharded=sharded)
        config = tf.compat.v1.ConfigProto(device_count={"CPU": 2})
        with tf.compat.v1.Session(graph=graph, config=config) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, prefix, write_meta_graph=False, write_state=False)
            for (name, value), var in zip(values, tf_vars):
                assert var.op.name == name, (var.op.name, name)
                assert np.array_equal(sess.run(var), value)


# ---- LevelDB table rewriting (for the Snappy fixture) ----

def masked_crc32c(data):
    import crc32c as _c
    c = _c.crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def read_varint(b, i):
    shift = result = 0
    while True:
        x = b[i]
        i += 1
        result |= (x & 0x7F) << shift
        if not x & 0x80:
            return result, i
        shift += 7


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def block_entries(block):
    n = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * n
    i, key, out = 0, b"", []
    while i < end:
        shared, i = read_varint(block, i)
        non_shared, i = read_varint(block, i)
        vlen, i = read_varint(block, i)
        key = key[:shared] + block[i:i + non_shared]
        i += non_shared
        out.append((key, block[i:i + vlen]))
        i += vlen
    return out


def encode_block(entries, restart_interval):
    """A block with prefix-compressed keys and a restart point every `restart_interval` keys."""
    body = bytearray()
    restarts = []
    previous = b""
    for n, (key, value) in enumerate(entries):
        shared = 0
        if n % restart_interval == 0:
            restarts.append(len(body))
        else:
            while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                shared += 1
        body += varint(shared) + varint(len(key) - shared) + varint(len(value)) + key[shared:] + value
        previous = key
    for r in restarts:
        body += struct.pack("<I", r)
    body += struct.pack("<I", len(restarts))
    return bytes(body)


def read_table(path):
    """All (key, value) pairs of a LevelDB table whose blocks are uncompressed."""
    data = open(path, "rb").read()
    footer = data[-48:]
    assert struct.unpack("<Q", footer[40:48])[0] == 0xDB4775248B80FB57
    _, i = read_varint(footer, 0)
    _, i = read_varint(footer, i)
    index_off, i = read_varint(footer, i)
    index_size, i = read_varint(footer, i)
    entries = []
    for _, handle in block_entries(data[index_off:index_off + index_size]):
        off, j = read_varint(handle, 0)
        size, j = read_varint(handle, j)
        assert data[off + size] == 0, "expected an uncompressed block"
        entries += block_entries(data[off:off + size])
    return entries


def write_table(entries, path, block_size, snappy_blocks):
    """Re-encodes a table with small data blocks (TensorFlow's own writer starts a new block only
    at 256 KB), optionally Snappy-compressing every block (compression byte 1)."""
    import snappy
    out = bytearray()

    def put(contents):
        kind = b"\x01" if snappy_blocks else b"\x00"
        stored = snappy.compress(contents) if snappy_blocks else contents
        handle = (len(out), len(stored))
        out.extend(stored + kind + struct.pack("<I", masked_crc32c(stored + kind)))
        return handle

    index, block = [], []
    for n, (key, value) in enumerate(entries):
        block.append((key, value))
        if sum(len(k) + len(v) + 3 for k, v in block) >= block_size or n == len(entries) - 1:
            h = put(encode_block(block, 16))
            index.append((block[-1][0], varint(h[0]) + varint(h[1])))
            block = []
    meta = put(encode_block([], 16))
    idx = put(encode_block(index, 1))
    footer = varint(meta[0]) + varint(meta[1]) + varint(idx[0]) + varint(idx[1])
    footer += b"\x00" * (40 - len(footer)) + struct.pack("<Q", 0xDB4775248B80FB57)
    out.extend(footer)
    open(path, "wb").write(out)
    return len(index)


def check_reads_back(prefix, values):
    reader = tf.train.load_checkpoint(prefix)
    for name, value in values:
        assert np.array_equal(reader.get_tensor(name), value), name


def main():
    tf.compat.v1.disable_v2_behavior()
    rng = np.random.default_rng(20200614)
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    values = variables_spec(rng)

    # Single-shard checkpoint.
    os.makedirs(os.path.join(OUT, "tf"))
    save_graph(values, os.path.join(OUT, "tf", "model.ckpt-700"))
    check_reads_back(os.path.join(OUT, "tf", "model.ckpt-700"), values)

    # Two shards on two CPU devices.
    os.makedirs(os.path.join(OUT, "tf_sharded"))
    small = [(n, v) for n, v in values if not n.startswith("many/")] + values[-4:]
    save_graph(small, os.path.join(OUT, "tf_sharded", "model.ckpt"), devices=["/cpu:0", "/cpu:1"], sharded=True)
    shards = sorted(f for f in os.listdir(os.path.join(OUT, "tf_sharded")) if ".data-" in f)
    assert shards == ["model.ckpt.data-00000-of-00002", "model.ckpt.data-00001-of-00002"], shards

    # The index re-encoded in 1 KB blocks, plain and Snappy-compressed; TensorFlow reads both back.
    entries = read_table(os.path.join(OUT, "tf", "model.ckpt-700.index"))
    for folder, use_snappy in [("tf_blocks", False), ("tf_snappy", True)]:
        os.makedirs(os.path.join(OUT, folder))
        blocks = write_table(entries, os.path.join(OUT, folder, "model.ckpt-700.index"), 1024, use_snappy)
        assert blocks >= 3, f"only {blocks} data blocks in the index"
        shutil.copy(os.path.join(OUT, "tf", "model.ckpt-700.data-00000-of-00001"), os.path.join(OUT, folder))
        check_reads_back(os.path.join(OUT, folder, "model.ckpt-700"), values)

    # The same values as .npz.
    arrays = {name: np.asarray(value) for name, value in values}
    np.savez(os.path.join(OUT, "values.npz"), **arrays)
    np.savez_compressed(os.path.join(OUT, "values_compressed.npz"), **arrays)

    # .npy: one per dtype and header variant.
    npy = os.path.join(OUT, "npy")
    os.makedirs(npy)
    base = np.arange(-6, 6).reshape(3, 4)
    for dt in ["float16", "float32", "float64", "int8", "int16", "int32", "int64",
               "uint8", "uint16", "uint32", "uint64", "bool"]:
        a = (np.abs(base) if dt.startswith("uint") else base).astype(dt)
        if dt.startswith("float"):
            a = a / 4
        np.save(os.path.join(npy, f"{dt}.npy"), a.astype(dt))
    np.save(os.path.join(npy, "scalar.npy"), np.float32(2.5))
    np.save(os.path.join(npy, "fortran.npy"), np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4)))
    np.save(os.path.join(npy, "bigendian.npy"), np.arange(6, dtype=">f4").reshape(2, 3))
    for version in [(2, 0), (3, 0)]:
        with open(os.path.join(npy, f"v{version[0]}.npy"), "wb") as f:
            np.lib.format.write_array(f, np.arange(6, dtype=np.int32).reshape(3, 2), version=version)

    # safetensors.
    from safetensors.numpy import save_file
    st = {
        "text_objseg/c5_lateral/DW": arrays["text_objseg/c5_lateral/DW"],
        "bn_conv1/moving_mean": arrays["bn_conv1/moving_mean"],
        "counts/int32_vector": arrays["counts/int32_vector"],
        "counts/int64_matrix": arrays["counts/int64_matrix"],
        "flags/mask": arrays["flags/mask"],
        "image/bytes": arrays["image/bytes"],
        "scalar/pi": arrays["scalar/pi"],
    }
    save_file(st, os.path.join(OUT, "values.safetensors"), metadata={"format": "np", "source": "make_checkpoint_fixtures"})

    with open(os.path.join(OUT, "expected.txt"), "w") as f:
        f.write("# name dtype shape (from make_checkpoint_fixtures.py)\n")
        for name, value in values:
            a = np.asarray(value)
            dt = {"float16": "float16", "float32": "float32", "float64": "float64", "int32": "int32",
                  "int64": "int64", "bool": "bool", "uint8": "uint8"}[a.dtype.name]
            f.write(f"{name} {dt} {','.join(map(str, a.shape))}\n")

    total = 0
    for dirpath, _, files in os.walk(OUT):
        for fn in sorted(files):
            p = os.path.join(dirpath, fn)
            total += os.path.getsize(p)
            print(f"{os.path.getsize(p):8d}  {os.path.relpath(p, OUT)}")
    print(f"{total:8d}  total, {blocks} data blocks in the index")


if __name__ == "__main__":
    main()
