#!/usr/bin/env python3
"""Writes the TensorFlow fixtures of alexconv with real TensorFlow (tensorflow-cpu 2.21, tf-keras 2.21).

Run with the fixture venv:  $(Fixtures/venv.sh) Fixtures/tensorflow/make_tensorflow_fixtures.py
Everything is seeded, so reruns give the same weights (optimizer steps on CPU are deterministic here).

Tiny AlexNet-shaped models: conv widths [8, 16, 24, 24, 16], fc widths [32, 32], 227x227x3 input.
  tf1/             seed 002's TF1 graph (tf.compat.v1 variable scopes conv1..fc8, two towers on
                   conv2/4/5 via tf.split, pool before LRN, fc8 retrained for 5 classes), trained 3
                   Adam steps, kept with tf.train.Saver as model.ckpt-1000 (.index, .data, .meta,
                   checkpoint): conv1/weights, conv1/weights/Adam, .../Adam_1, beta1_power, global_step
  tf1_partitioned/ the same weights with fc6/weights a partitioned variable (3 slices), Saver checkpoint
  tf2_sequential/  tf-keras Sequential (seed 000 shape: Conv2D(relu) + BatchNormalization), one fit
                   step with Adam, model.save_weights("alexnet") (TF2 object-based checkpoint)
  tf2_subclass/    tf-keras Model subclass (seed 003 shape, conv3..conv5 in a list attribute
                   `middle_layers`), one fit step, save_weights("alexnet")
  savedmodel/      tf-keras Sequential with BatchNormalization epsilon 1e-5, model.save("savedmodel")
                   (SavedModel directory: saved_model.pb, keras_metadata.pb, variables/)
Inputs: input_chelsea_u8.npy (1, 227, 227, 3) uint8 RGB (Fixtures/images/chelsea.png resized by PIL).
  tf1 is fed the seed's way: BGR (cv2.imread order), 0-255 floats, no mean: x[..., ::-1].
  Keras models are fed RGB / 255 as float32.
Outputs: tf1_logits.npy (fc8, no softmax), tf2_sequential_probs.npy, tf2_subclass_probs.npy,
  savedmodel_probs.npy (softmax outputs).
expected.json: for every key tf.train.load_checkpoint lists, dtype, shape, sum, first element and the
  CRC-32C (Castagnoli, unmasked; computed here in Python) of the tensor's little-endian C-order bytes
  as numpy got them from TensorFlow (for the string tensor _CHECKPOINTABLE_OBJECT_GRAPH: its bytes).
"""
import json
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGES = os.path.join(os.path.dirname(HERE), "images")
CONV = [8, 16, 24, 24, 16]
FC = [32, 32]
SIZE = 227
TF1_CLASSES = 5
KERAS_CLASSES = 10


def out(*parts):
    return os.path.join(HERE, *parts)


def fresh(directory):
    path = out(directory)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


# MARK: - CRC-32C (independent of TensorFlow's)

def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    table = CRC_TABLE
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def checkpoint_summary(prefix):
    """key -> dtype, shape, sum, first, crc32c of what tf.train.load_checkpoint returns."""
    import tensorflow as tf
    reader = tf.train.load_checkpoint(prefix)
    summary = {}
    for key, dtype in sorted(reader.get_variable_to_dtype_map().items()):
        value = reader.get_tensor(key)
        if isinstance(value, bytes):
            summary[key] = {"dtype": dtype.name, "shape": [], "crc32c": crc32c(value), "bytes": len(value)}
            continue
        a = np.array(value, order="C", copy=True)
        le = a.astype(a.dtype.newbyteorder("<"), copy=False)
        summary[key] = {"dtype": dtype.name, "shape": list(a.shape),
                        "sum": float(np.asarray(a, np.float64).sum()),
                        "first": float(a.reshape(-1)[0]) if a.size else 0.0,
                        "crc32c": crc32c(le.tobytes())}
    return summary


# MARK: - Seed 002's TF1 graph

def seed002_graph(tf, x, num_classes, partition_fc6=False):
    """Seed 002's AlexNet.create() with tiny widths: variable scopes conv1..fc8 with `weights` and
    `biases`, grouped convolutions by tf.split, pool before LRN (depth_radius 2, alpha 2e-5)."""
    tf1 = tf.compat.v1
    init = tf1.random_normal_initializer(stddev=0.02, seed=2)

    def conv(inp, k, n, stride, name, padding="SAME", groups=1):
        cin = int(inp.shape[-1])
        with tf1.variable_scope(name):
            weights = tf1.get_variable("weights", shape=[k, k, cin // groups, n], initializer=init)
            biases = tf1.get_variable("biases", shape=[n], initializer=init)
        convolve = lambda i, w: tf.nn.conv2d(i, w, strides=[1, stride, stride, 1], padding=padding)  # noqa: E731
        if groups == 1:
            y = convolve(inp, weights)
        else:
            xs = tf.split(axis=3, num_or_size_splits=groups, value=inp)
            ws = tf.split(axis=3, num_or_size_splits=groups, value=weights)
            y = tf.concat(axis=3, values=[convolve(i, w) for i, w in zip(xs, ws)])
        return tf.nn.relu(tf.nn.bias_add(y, biases))

    def pool(inp, name):
        return tf.nn.max_pool(inp, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding="VALID", name=name)

    def lrn(inp, name):
        return tf.nn.local_response_normalization(inp, depth_radius=2, alpha=2e-05, beta=0.75, bias=1.0, name=name)

    def fc(inp, n_in, n_out, name, relu=True, partitioned=False):
        with tf1.variable_scope(name) as scope:
            partitioner = tf1.fixed_size_partitioner(3) if partitioned else None
            weights = tf1.get_variable("weights", shape=[n_in, n_out], initializer=init, partitioner=partitioner)
            biases = tf1.get_variable("biases", [n_out], initializer=init)
            act = tf1.nn.xw_plus_b(inp, weights, biases, name=scope.name)
        return tf.nn.relu(act) if relu else act

    conv1 = conv(x, 11, CONV[0], 4, "conv1", padding="VALID")
    norm1 = lrn(pool(conv1, "pool1"), "norm1")
    conv2 = conv(norm1, 5, CONV[1], 1, "conv2", groups=2)
    norm2 = lrn(pool(conv2, "pool2"), "norm2")
    conv3 = conv(norm2, 3, CONV[2], 1, "conv3")
    conv4 = conv(conv3, 3, CONV[3], 1, "conv4", groups=2)
    conv5 = conv(conv4, 3, CONV[4], 1, "conv5", groups=2)
    pool5 = pool(conv5, "pool5")
    flattened = tf.reshape(pool5, [-1, 6 * 6 * CONV[4]])
    fc6 = fc(flattened, 6 * 6 * CONV[4], FC[0], "fc6", partitioned=partition_fc6)
    fc7 = fc(fc6, FC[0], FC[1], "fc7")
    return fc(fc7, FC[1], num_classes, "fc8", relu=False)


def write_tf1(tf, image_bgr):
    """Seed 002's workflow: build, fine-tune a few Adam steps, keep with Saver (global step 1000)."""
    tf1 = tf.compat.v1
    directory = fresh("tf1")
    with tf.Graph().as_default() as graph:
        tf1.set_random_seed(2)
        x = tf1.placeholder(tf.float32, [None, SIZE, SIZE, 3], name="x")
        y = tf1.placeholder(tf.float32, [None, TF1_CLASSES], name="y")
        score = seed002_graph(tf, x, TF1_CLASSES)
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=score))
        global_step = tf1.train.get_or_create_global_step()
        train = tf1.train.AdamOptimizer(1e-4).minimize(loss, global_step=global_step)
        saver = tf1.train.Saver(save_relative_paths=True)
        rng = np.random.default_rng(2002)
        batch = rng.uniform(0, 255, (2, SIZE, SIZE, 3)).astype(np.float32)
        labels = np.eye(TF1_CLASSES, dtype=np.float32)[[1, 3]]
        with tf1.Session(graph=graph) as sess:
            sess.run(tf1.global_variables_initializer())
            for _ in range(3):
                sess.run(train, {x: batch, y: labels})
            saver.save(sess, os.path.join(directory, "model.ckpt"), global_step=1000)
            logits = sess.run(score, {x: image_bgr})
            values = {v.op.name: sess.run(v) for v in tf1.trainable_variables()}
    np.save(out("tf1_logits.npy"), logits.astype(np.float32))

    # The same weights with fc6/weights partitioned into 3 slices along its rows.
    directory = fresh("tf1_partitioned")
    with tf.Graph().as_default() as graph:
        x = tf1.placeholder(tf.float32, [None, SIZE, SIZE, 3], name="x")
        score = seed002_graph(tf, x, TF1_CLASSES, partition_fc6=True)
        saver = tf1.train.Saver(save_relative_paths=True)
        with tf1.Session(graph=graph) as sess:
            sess.run(tf1.global_variables_initializer())
            for v in tf1.global_variables():
                name = v.op.name
                if name.startswith("fc6/weights/part_"):
                    continue
                sess.run(v.assign(values[name]))
            parts = sorted((v for v in tf1.global_variables() if v.op.name.startswith("fc6/weights/part_")),
                           key=lambda v: int(v.op.name.rsplit("_", 1)[1]))
            start = 0
            for part in parts:
                rows = int(part.shape[0])
                sess.run(part.assign(values["fc6/weights"][start:start + rows]))
                start += rows
            saver.save(sess, os.path.join(directory, "model.ckpt"), write_meta_graph=False)
            again = sess.run(score, {x: image_bgr})
    assert np.abs(again - logits).max() < 1e-5, "partitioned graph disagrees"


# MARK: - tf-keras models

def random_weights(model, seed):
    rng = np.random.default_rng(seed)
    values = []
    for w in model.weights:
        shape = tuple(w.shape)
        if "moving_variance" in w.name:
            v = rng.uniform(0.5, 1.5, shape)
        elif "gamma" in w.name:
            v = 1.0 + 0.1 * rng.standard_normal(shape)
        else:
            v = 0.05 * rng.standard_normal(shape)
        values.append(v.astype(np.float32))
    return values


def bn_layers(L, epsilon=1e-3):
    return [
        L.Conv2D(CONV[0], (11, 11), strides=(4, 4), activation="relu", padding="valid"),
        L.BatchNormalization(epsilon=epsilon),
        L.MaxPooling2D(pool_size=(3, 3), strides=(2, 2)),
        L.Conv2D(CONV[1], (5, 5), strides=(1, 1), activation="relu", padding="same"),
        L.BatchNormalization(epsilon=epsilon),
        L.MaxPooling2D(pool_size=(3, 3), strides=(2, 2)),
        L.Conv2D(CONV[2], (3, 3), activation="relu", padding="same"),
        L.BatchNormalization(epsilon=epsilon),
        L.Conv2D(CONV[3], (3, 3), activation="relu", padding="same"),
        L.BatchNormalization(epsilon=epsilon),
        L.Conv2D(CONV[4], (3, 3), activation="relu", padding="same"),
        L.BatchNormalization(epsilon=epsilon),
        L.MaxPooling2D(pool_size=(3, 3), strides=(2, 2)),
        L.Flatten(),
        L.Dense(FC[0], activation="relu"),
        L.Dropout(0.5),
        L.Dense(FC[1], activation="relu"),
        L.Dropout(0.5),
        L.Dense(KERAS_CLASSES, activation="softmax"),
    ]


def subclass_class(keras):
    L = keras.layers

    class AlexNet(keras.Model):
        """Seed 003's self_AlexNet, tiny widths; conv3..conv5 kept in a list attribute."""

        def __init__(self):
            super().__init__()
            self.conv1 = L.Conv2D(CONV[0], (11, 11), strides=4, activation="relu")
            self.pool1 = L.MaxPool2D(pool_size=(3, 3), strides=2)
            self.conv2 = L.Conv2D(CONV[1], (5, 5), strides=1, padding="same", activation="relu")
            self.pool2 = L.MaxPool2D(pool_size=(3, 3), strides=2)
            self.middle_layers = [L.Conv2D(CONV[2], (3, 3), padding="same", activation="relu"),
                                  L.Conv2D(CONV[3], (3, 3), padding="same", activation="relu"),
                                  L.Conv2D(CONV[4], (3, 3), padding="same", activation="relu")]
            self.pool5 = L.MaxPool2D(pool_size=(3, 3), strides=2)
            self.flatten = L.Flatten()
            self.fc6 = L.Dense(FC[0], activation="relu")
            self.drop6 = L.Dropout(0.5)
            self.fc7 = L.Dense(FC[1], activation="relu")
            self.drop7 = L.Dropout(0.5)
            self.fc8 = L.Dense(KERAS_CLASSES, activation="softmax")

        def call(self, x, training=False):
            out = self.pool1(self.conv1(x))
            out = self.pool2(self.conv2(out))
            for layer in self.middle_layers:
                out = layer(out)
            out = self.pool5(out)
            out = self.drop6(self.fc6(self.flatten(out)), training=training)
            out = self.drop7(self.fc7(out), training=training)
            return self.fc8(out)

    return AlexNet


def fit_one_step(tk, model, seed):
    """One Adam step on a random batch, so the checkpoint carries optimizer slots and a step counter."""
    rng = np.random.default_rng(seed)
    batch = rng.uniform(0, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
    labels = np.array([1, 7])
    model.compile(optimizer=tk.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")
    model.fit(batch, labels, epochs=1, batch_size=2, verbose=0, shuffle=False)


def write_keras(tf, tk, x):
    tk.utils.set_random_seed(3)

    # Sequential (seed 000), TF2 object-based save_weights.
    directory = fresh("tf2_sequential")
    seq = tk.Sequential([tk.Input((SIZE, SIZE, 3))] + bn_layers(tk.layers))
    seq.set_weights(random_weights(seq, 0))
    fit_one_step(tk, seq, 10)
    seq.save_weights(os.path.join(directory, "alexnet"))
    np.save(out("tf2_sequential_probs.npy"), seq.predict(x, verbose=0).astype(np.float32))

    # Subclassed model (seed 003), TF2 object-based save_weights.
    directory = fresh("tf2_subclass")
    sub = subclass_class(tk)()
    sub(x)
    sub.set_weights(random_weights(sub, 3))
    fit_one_step(tk, sub, 11)
    sub.save_weights(os.path.join(directory, "alexnet"))
    np.save(out("tf2_subclass_probs.npy"), sub.predict(x, verbose=0).astype(np.float32))

    # SavedModel directory with keras_metadata.pb (BatchNormalization epsilon 1e-5: not a preset).
    directory = out("savedmodel")
    shutil.rmtree(directory, ignore_errors=True)
    sm = tk.Sequential([tk.Input((SIZE, SIZE, 3))] + bn_layers(tk.layers, epsilon=1e-5))
    sm.set_weights(random_weights(sm, 5))
    sm.save(directory, save_format="tf")
    np.save(out("savedmodel_probs.npy"), sm.predict(x, verbose=0).astype(np.float32))
    # Drop the SavedModel parts that only serve TensorFlow serving (fingerprint, assets) if empty.
    for extra in ["assets"]:
        path = os.path.join(directory, extra)
        if os.path.isdir(path) and not os.listdir(path):
            os.rmdir(path)


def main():
    from PIL import Image
    import tensorflow as tf
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tf_keras as tk

    image = Image.open(os.path.join(IMAGES, "chelsea.png")).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)
    x_u8 = np.asarray(image, dtype=np.uint8)[None]
    np.save(out("input_chelsea_u8.npy"), x_u8)
    image_bgr = x_u8[..., ::-1].astype(np.float32)
    x_keras = x_u8.astype(np.float32) / np.float32(255)

    write_tf1(tf, image_bgr)
    write_keras(tf, tk, x_keras)

    expected = {
        "tf1/model.ckpt-1000": checkpoint_summary(out("tf1", "model.ckpt-1000")),
        "tf1_partitioned/model.ckpt": checkpoint_summary(out("tf1_partitioned", "model.ckpt")),
        "tf2_sequential/alexnet": checkpoint_summary(out("tf2_sequential", "alexnet")),
        "tf2_subclass/alexnet": checkpoint_summary(out("tf2_subclass", "alexnet")),
        "savedmodel/variables/variables": checkpoint_summary(out("savedmodel", "variables", "variables")),
    }
    with open(out("expected.json"), "w") as f:
        json.dump({"tensorflow": tf.__version__, "tf_keras": tk.__version__,
                   "input": "input_chelsea_u8.npy: (1, 227, 227, 3) uint8 RGB; tf1 is fed its BGR floats, Keras models RGB / 255",
                   "checkpoints": expected}, f, indent=1, sort_keys=True)
    print("wrote", sorted(os.listdir(HERE)))


if __name__ == "__main__":
    sys.exit(main())
