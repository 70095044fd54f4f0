#!/usr/bin/env python3
"""Interop check for `--format tf-checkpoint`: real TensorFlow restores what alexconv writes.

Cases (alexconv's command line writes every checkpoint, as a user would):
  tf1 fixture     Fixtures/tensorflow/tf1 (seed 002's TF1 Saver checkpoint) -> alexconv convert -> OUT.ckpt
  caffenet tiny   Fixtures/forward/caffenet.alexnet.safetensors (canonical, 10 classes) -> OUT.ckpt
  for both (naming tf1):
    - tf.train.load_checkpoint(OUT) returns every tensor bit-exactly as alexconv's TF layout of the
      model (and, for the fixture, exactly the tensors TensorFlow itself saved)
    - seed 002's graph (Fixtures/tensorflow/make_tensorflow_fixtures.py) restores OUT with
      tf.compat.v1.train.Saver().restore, finds it with tf.train.latest_checkpoint(dir), and its
      fc8 equals `alexconv run OUT --logits` on the same BGR input (and, for the fixture, the logits
      TensorFlow computed before: Fixtures/tensorflow/tf1_logits.npy)
  tf2 sequential  Fixtures/tensorflow/tf2_sequential -> OUT.ckpt --naming keras: tf-keras
                  model.load_weights(OUT) on the same Sequential predicts what tf-keras predicted
                  before (tf2_sequential_probs.npy) and what `alexconv run SOURCE` computes
  savedmodel      Fixtures/tensorflow/savedmodel (BatchNormalization epsilon 1e-5) -> --naming keras, the same
Tolerance: 1e-5 of the output's scale, index by index; tensors bit-exact.

Usage: check_tensorflow.py --alexconv PATH [--out DIR]
"""
import argparse
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(ROOT, "Fixtures", "tensorflow")
sys.path.insert(0, FIXTURES)
import make_tensorflow_fixtures as fx  # noqa: E402

TOLERANCE = 1e-5
failures = []


def check(condition, message):
    print(("ok    " if condition else "FAIL  ") + message)
    if not condition:
        failures.append(message)


def close(a, b, label):
    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    if a.shape != b.shape:
        check(False, f"{label}: {a.shape} vs {b.shape} values")
        return
    scale = max(np.abs(b).max(), 1e-30)
    worst = np.abs(a - b).max() / scale
    check(worst <= TOLERANCE, f"{label}: max |difference| {worst:.2e} of the output's scale")


def alexconv(binary, *args):
    result = subprocess.run([binary, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"FAIL  alexconv {' '.join(args)}: exit {result.returncode}: {result.stderr.strip()}")
    return result


def alexconv_run(binary, model, x_nhwc, out, logits, *extra):
    np.save(out + ".input.npy", x_nhwc.astype(np.float32))
    alexconv(binary, "run", model, "--input", out + ".input.npy", "--output", out + ".output.npy", "--layout", "nhwc",
             *(["--logits"] if logits else []), *extra)
    return np.load(out + ".output.npy")


def tf_layout(binary, model, directory):
    """alexconv's own view of the model in TF layout: export npz (naming tf: conv1_W HWIO, fc rows HWC)."""
    npz = os.path.join(directory, "tf_layout.npz")
    alexconv(binary, "export", model, "--format", "npz", "-o", npz, "--force", *([] if model.endswith(".safetensors") else ["--arch", "caffenet"]))
    with np.load(npz) as f:
        return {k: f[k] for k in f.files}


def check_tf1(binary, tf, source, out_dir, label, classes, x_bgr, expected_logits=None, source_prefix=None):
    prefix = os.path.join(out_dir, "model.ckpt")
    arch = [] if source.endswith(".safetensors") else ["--arch", "caffenet"]
    alexconv(binary, "convert", source, prefix, "--format", "tf-checkpoint", *arch)
    reader = tf.train.load_checkpoint(prefix)
    keys = sorted(reader.get_variable_to_shape_map())
    check(len(keys) == 16 and "conv1/weights" in keys and "fc8/biases" in keys, f"{label}: load_checkpoint lists {len(keys)} tensors: {keys[:4]}...")
    # Tensor by tensor: what alexconv's TF layout says (npz export, naming tf) and, for a TF-written
    # source, exactly what TensorFlow saved there.
    layout = tf_layout(binary, source, out_dir)
    roles = {"weights": "W", "biases": "b"}
    for key in keys:
        layer, role = key.split("/")
        value = reader.get_tensor(key)
        check(value.dtype == np.float32 and np.array_equal(value, layout[f"{layer}_{roles[role]}"]), f"{label}: {key} {value.shape} bit-exact with alexconv's TF layout")
        if source_prefix:
            original = tf.train.load_checkpoint(source_prefix).get_tensor(key)
            check(np.array_equal(value, original), f"{label}: {key} bit-exact with what TensorFlow saved")
    # Seed 002's graph restores it (latest_checkpoint reads the `checkpoint` state file).
    tf1 = tf.compat.v1
    with tf.Graph().as_default() as graph:
        x = tf1.placeholder(tf.float32, [None, fx.SIZE, fx.SIZE, 3])
        score = fx.seed002_graph(tf, x, classes)
        saver = tf1.train.Saver()
        latest = tf.train.latest_checkpoint(out_dir)
        check(latest == prefix, f"{label}: tf.train.latest_checkpoint finds {latest}")
        with tf1.Session(graph=graph) as sess:
            saver.restore(sess, prefix)
            logits = sess.run(score, {x: x_bgr})
    ours = alexconv_run(binary, prefix, x_bgr, os.path.join(out_dir, "run"), True, "--arch", "caffenet")
    close(ours, logits, f"{label}: Saver.restore + seed 002 graph vs alexconv run")
    if expected_logits is not None:
        close(logits, expected_logits, f"{label}: restored graph vs the logits TensorFlow computed from its own checkpoint")


def check_keras(binary, tf, tk, source, out_dir, label, epsilon, expected_probs, x_rgb):
    prefix = os.path.join(out_dir, "weights.ckpt")
    alexconv(binary, "convert", source, prefix, "--format", "tf-checkpoint", "--naming", "keras")
    reader = tf.train.load_checkpoint(prefix)
    keys = sorted(k for k in reader.get_variable_to_shape_map() if k != "_CHECKPOINTABLE_OBJECT_GRAPH")
    check(len(keys) == 36 and keys[0].startswith("layer_with_weights-0/"), f"{label}: load_checkpoint lists {len(keys)} variables")
    model = tk.Sequential([tk.Input((fx.SIZE, fx.SIZE, 3))] + fx.bn_layers(tk.layers, epsilon=epsilon))
    status = model.load_weights(prefix)
    status.assert_existing_objects_matched()
    probs = model.predict(x_rgb, verbose=0)
    close(probs, expected_probs, f"{label}: tf-keras load_weights + predict vs what tf-keras predicted from its own file")
    # The checkpoint holds weights only; alexconv runs the model it converted (its source, whose
    # architecture the SavedModel's config gives, e.g. BatchNormalization epsilon 1e-5).
    ours = alexconv_run(binary, source, x_rgb, os.path.join(out_dir, "run"), False)
    close(ours, probs, f"{label}: tf-keras predict vs alexconv run of the converted model")
    for key in keys:
        value = reader.get_tensor(key)
        original = tf.train.load_checkpoint(fx_source_prefix(source)).get_tensor(key)
        check(np.array_equal(value, original), f"{label}: {key.split('/.ATTRIBUTES')[0]} bit-exact with what TensorFlow saved")


def fx_source_prefix(source):
    return os.path.join(source, "variables", "variables") if os.path.isdir(os.path.join(source, "variables")) else os.path.join(source, "alexnet")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--alexconv", required=True)
    parser.add_argument("--out")
    args = parser.parse_args()
    import tensorflow as tf
    import tf_keras as tk

    x_u8 = np.load(os.path.join(FIXTURES, "input_chelsea_u8.npy"))
    x_bgr = x_u8[..., ::-1].astype(np.float32)
    x_rgb = x_u8.astype(np.float32) / np.float32(255)
    base = args.out or tempfile.mkdtemp(prefix="alexconv-tf-interop.")

    def case(name):
        path = os.path.join(base, name)
        os.makedirs(path, exist_ok=True)
        for f in os.listdir(path):
            os.remove(os.path.join(path, f))
        return path

    check_tf1(args.alexconv, tf, os.path.join(FIXTURES, "tf1"), case("tf1"), "tf1 fixture", fx.TF1_CLASSES, x_bgr,
              expected_logits=np.load(os.path.join(FIXTURES, "tf1_logits.npy")), source_prefix=os.path.join(FIXTURES, "tf1", "model.ckpt-1000"))
    check_tf1(args.alexconv, tf, os.path.join(ROOT, "Fixtures", "forward", "caffenet.alexnet.safetensors"), case("caffenet"),
              "caffenet tiny", 10, x_bgr - np.float32(120))
    check_keras(args.alexconv, tf, tk, os.path.join(FIXTURES, "tf2_sequential"), case("tf2_sequential"), "tf2 sequential", 1e-3,
                np.load(os.path.join(FIXTURES, "tf2_sequential_probs.npy")), x_rgb)
    check_keras(args.alexconv, tf, tk, os.path.join(FIXTURES, "savedmodel"), case("savedmodel"), "savedmodel", 1e-5,
                np.load(os.path.join(FIXTURES, "savedmodel_probs.npy")), x_rgb)
    if failures:
        print(f"tensorflow interop: {len(failures)} check(s) failed")
        return 1
    print("tensorflow interop: every checkpoint alexconv wrote restored in TensorFlow and computed the same outputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
