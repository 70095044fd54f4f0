#!/usr/bin/env python3
"""Writes the Keras fixtures of alexconv with the real libraries (Keras 3, tf-keras, h5py).

Run with the fixture venv:  $(Fixtures/venv.sh) Fixtures/keras/make_keras_fixtures.py
Everything is seeded (np.random.default_rng), so reruns give the same weights and predictions.

Tiny AlexNet-shaped models: conv widths [8, 16, 24, 24, 16], fc widths [32, 32], 10 classes, 227x227x3.
  bn        Sequential with Conv2D(relu) + BatchNormalization in every block (seed 000 shape)
  subclass  keras.Model subclass of seed 003 (no BN, Dense 32-32-10 softmax); its functional twin
  grouped   two-tower Conv2D(groups=2) on conv2/4/5 (Caffe's tower layout), no BN
  micro     conv widths [4]*5, fc [8, 8], for crafted files (split attributes, broken files)
Inputs: input_u8.npy (1, 227, 227, 3) uint8 NHWC; the float input is input_u8 / 255 as float32.
Outputs: <model>_probs.npy (softmax output) and <model>_logits.npy (same model, fc8 linear).
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import h5py  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CONV = [8, 16, 24, 24, 16]
FC = [32, 32]
CLASSES = 10
SIZE = 227


def out(name):
    return os.path.join(HERE, name)


# MARK: - Weights

def random_weights(model, seed):
    """Seeded weights for every variable, in model.get_weights() order (BN variance positive)."""
    rng = np.random.default_rng(seed)
    values = []
    for w in model.weights:
        name = w.path if hasattr(w, "path") else w.name
        shape = tuple(w.shape)
        if "moving_variance" in name:
            v = rng.uniform(0.5, 1.5, shape)
        elif "gamma" in name:
            v = 1.0 + 0.1 * rng.standard_normal(shape)
        else:
            v = 0.05 * rng.standard_normal(shape)
        values.append(v.astype(np.float32))
    return values


def bn_layers(L, conv, fc, classes, final="softmax"):
    return [
        L.Conv2D(conv[0], (11, 11), strides=(4, 4), activation="relu", padding="valid"),
        L.BatchNormalization(),
        L.MaxPooling2D(pool_size=(3, 3), strides=(2, 2)),
        L.Conv2D(conv[1], (5, 5), strides=(1, 1), activation="relu", padding="same"),
        L.BatchNormalization(),
        L.MaxPooling2D(pool_size=(3, 3), strides=(2, 2)),
        L.Conv2D(conv[2], (3, 3), activation="relu", padding="same"),
        L.BatchNormalization(),
        L.Conv2D(conv[3], (3, 3), activation="relu", padding="same"),
        L.BatchNormalization(),
        L.Conv2D(conv[4], (3, 3), activation="relu", padding="same"),
        L.BatchNormalization(),
        L.MaxPooling2D(pool_size=(3, 3), strides=(2, 2)),
        L.Flatten(),
        L.Dense(fc[0], activation="relu"),
        L.Dropout(0.5),
        L.Dense(fc[1], activation="relu"),
        L.Dropout(0.5),
        L.Dense(classes, activation=final),
    ]


def grouped_layers(L, final="softmax"):
    return [
        L.Conv2D(CONV[0], 11, strides=4, activation="relu", padding="valid"),
        L.MaxPooling2D(3, 2),
        L.Conv2D(CONV[1], 5, activation="relu", padding="same", groups=2),
        L.MaxPooling2D(3, 2),
        L.Conv2D(CONV[2], 3, activation="relu", padding="same"),
        L.Conv2D(CONV[3], 3, activation="relu", padding="same", groups=2),
        L.Conv2D(CONV[4], 3, activation="relu", padding="same", groups=2),
        L.MaxPooling2D(3, 2),
        L.Flatten(),
        L.Dense(FC[0], activation="relu"),
        L.Dropout(0.5),
        L.Dense(FC[1], activation="relu"),
        L.Dropout(0.5),
        L.Dense(CLASSES, activation=final),
    ]


def sequential(keras, layers):
    return keras.Sequential([keras.Input((SIZE, SIZE, 3))] + layers)


def subclass_class(keras):
    L = keras.layers

    class AlexNet(keras.Model):
        """Seed 003's self_AlexNet, tiny widths."""

        def __init__(self, final="softmax"):
            super().__init__()
            self.conv1 = L.Conv2D(CONV[0], (11, 11), strides=4, activation="relu")
            self.pool1 = L.MaxPool2D(pool_size=(3, 3), strides=2)
            self.conv2 = L.Conv2D(CONV[1], (5, 5), strides=1, padding="same", activation="relu")
            self.pool2 = L.MaxPool2D(pool_size=(3, 3), strides=2)
            self.conv3 = L.Conv2D(CONV[2], (3, 3), padding="same", activation="relu")
            self.conv4 = L.Conv2D(CONV[3], (3, 3), padding="same", activation="relu")
            self.conv5 = L.Conv2D(CONV[4], (3, 3), padding="same", activation="relu")
            self.pool5 = L.MaxPool2D(pool_size=(3, 3), strides=2)
            self.flatten = L.Flatten()
            self.fc6 = L.Dense(FC[0], activation="relu")
            self.drop6 = L.Dropout(0.5)
            self.fc7 = L.Dense(FC[1], activation="relu")
            self.drop7 = L.Dropout(0.5)
            self.fc8 = L.Dense(CLASSES, activation=final)

        def call(self, x):
            out = self.pool1(self.conv1(x))
            out = self.pool2(self.conv2(out))
            out = self.pool5(self.conv5(self.conv4(self.conv3(out))))
            out = self.drop6(self.fc6(self.flatten(out)))
            out = self.drop7(self.fc7(out))
            return self.fc8(out)

    return AlexNet


def functional(keras, final="softmax"):
    L = keras.layers
    x = inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = L.Conv2D(CONV[0], 11, strides=4, activation="relu", name="conv1")(x)
    x = L.MaxPooling2D(3, 2, name="pool1")(x)
    x = L.Conv2D(CONV[1], 5, padding="same", activation="relu", name="conv2")(x)
    x = L.MaxPooling2D(3, 2, name="pool2")(x)
    x = L.Conv2D(CONV[2], 3, padding="same", activation="relu", name="conv3")(x)
    x = L.Conv2D(CONV[3], 3, padding="same", activation="relu", name="conv4")(x)
    x = L.Conv2D(CONV[4], 3, padding="same", activation="relu", name="conv5")(x)
    x = L.MaxPooling2D(3, 2, name="pool5")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(FC[0], activation="relu", name="fc6")(x)
    x = L.Dropout(0.5, name="drop6")(x)
    x = L.Dense(FC[1], activation="relu", name="fc7")(x)
    x = L.Dropout(0.5, name="drop7")(x)
    x = L.Dense(CLASSES, activation=final, name="fc8")(x)
    return keras.Model(inputs, x, name="alexnet_functional")


# MARK: - Files

def save_outputs(name, probs, logits):
    np.save(out(f"{name}_probs.npy"), probs.astype(np.float32))
    np.save(out(f"{name}_logits.npy"), logits.astype(np.float32))


def tensor_summary(path):
    """name -> {shape, dtype, sum, first}: what a reader must find, from h5py."""
    summary = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and not name.startswith("optimizer"):
                a = obj[()]
                summary[name] = {"shape": list(a.shape), "dtype": str(a.dtype),
                                 "sum": float(np.asarray(a, np.float64).sum()),
                                 "first": float(np.asarray(a).reshape(-1)[0])}
        f.visititems(visit)
    return summary


def main():
    import keras
    import tf_keras

    rng = np.random.default_rng(2024)
    x_u8 = rng.integers(0, 256, (1, SIZE, SIZE, 3), dtype=np.uint8)
    np.save(out("input_u8.npy"), x_u8)
    x = x_u8.astype(np.float32) / np.float32(255)
    summaries = {}

    # --- bn: Sequential (seed 000), same weights in Keras 3 and tf-keras.
    k3 = sequential(keras, bn_layers(keras.layers, CONV, FC, CLASSES))
    weights = random_weights(k3, 0)
    k3.set_weights(weights)
    k3.save(out("keras3_bn.h5"))
    k3.save_weights(out("keras3_bn.weights.h5"))
    k3.save(out("keras3_bn.keras"))
    probs = k3.predict(x, verbose=0)
    k3_lin = sequential(keras, bn_layers(keras.layers, CONV, FC, CLASSES, final="linear"))
    k3_lin.set_weights(weights)
    save_outputs("bn", probs, k3_lin.predict(x, verbose=0))
    tk = sequential(tf_keras, bn_layers(tf_keras.layers, CONV, FC, CLASSES))
    tk.set_weights(weights)
    tk.save(out("tfkeras_bn.h5"))
    tk.save_weights(out("tfkeras_bn_weights.h5"))
    diff = np.abs(tk.predict(x, verbose=0) - probs).max()
    assert diff < 1e-5, f"tf-keras and Keras 3 disagree on bn: {diff}"

    # --- subclass (seed 003) and its functional twin.
    AlexNet = subclass_class(keras)
    sub = AlexNet()
    sub(x)
    sub_weights = random_weights(sub, 3)
    sub.set_weights(sub_weights)
    sub.save_weights(out("keras3_subclass.weights.h5"))
    sub_probs = sub.predict(x, verbose=0)
    sub_lin = AlexNet(final="linear")
    sub_lin(x)
    sub_lin.set_weights(sub_weights)
    save_outputs("subclass", sub_probs, sub_lin.predict(x, verbose=0))
    tfun = functional(tf_keras)
    tfun.set_weights(sub_weights)
    tfun.save(out("tfkeras_functional.h5"))
    diff = np.abs(tfun.predict(x, verbose=0) - sub_probs).max()
    assert diff < 1e-5, f"functional and subclass disagree: {diff}"

    # --- grouped: Conv2D(groups=2).
    grouped = sequential(keras, grouped_layers(keras.layers))
    g_weights = random_weights(grouped, 6)
    grouped.set_weights(g_weights)
    grouped.save(out("keras3_grouped.h5"))
    g_probs = grouped.predict(x, verbose=0)
    g_lin = sequential(keras, grouped_layers(keras.layers, final="linear"))
    g_lin.set_weights(g_weights)
    save_outputs("grouped", g_probs, g_lin.predict(x, verbose=0))

    for name in ["keras3_bn.h5", "keras3_bn.weights.h5", "tfkeras_bn.h5", "tfkeras_bn_weights.h5", "keras3_subclass.weights.h5", "tfkeras_functional.h5", "keras3_grouped.h5"]:
        summaries[name] = tensor_summary(out(name))

    # --- micro: crafted files (Keras 2 style fixed-length split attributes, broken files).
    micro = sequential(tf_keras, bn_layers(tf_keras.layers, [4] * 5, [8, 8], CLASSES))
    micro.set_weights(random_weights(micro, 9))
    from tf_keras.src.saving.legacy import hdf5_format
    hdf5_format.HDF5_OBJECT_HEADER_LIMIT = 64  # forces layer_names0, layer_names1, ... as Keras does for big models
    with h5py.File(out("keras2_split_attrs_weights.h5"), "w") as f:
        hdf5_format.save_weights_to_hdf5_group(f, micro)
    with h5py.File(out("keras2_split_attrs_weights.h5"), "r") as f:
        assert "layer_names0" in f.attrs and "layer_names" not in f.attrs
        assert f.attrs["layer_names0"].dtype.kind == "S", "expected fixed-length strings"
    summaries["keras2_split_attrs_weights.h5"] = tensor_summary(out("keras2_split_attrs_weights.h5"))

    micro.save(out("broken_template.h5"))
    # Full-model attributes but no model_weights group.
    with h5py.File(out("broken_template.h5"), "r") as src, h5py.File(out("broken_missing_model_weights.h5"), "w") as f:
        for k, v in src.attrs.items():
            f.attrs[k] = v
    # A conv layer whose weight_names lists only its kernel (the bias dataset is still there).
    with h5py.File(out("broken_template.h5"), "r") as src, h5py.File(out("broken_weight_count.h5"), "w") as f:
        for k, v in src.attrs.items():
            f.attrs[k] = v
        src.copy("model_weights", f)
        conv = micro.layers[0].name
        g = f["model_weights/" + conv]
        g.attrs["weight_names"] = np.array([f"{conv}/kernel:0".encode()])
    # A conv kernel with the wrong rank for its layer.
    with h5py.File(out("broken_template.h5"), "r") as src, h5py.File(out("broken_kernel_rank.h5"), "w") as f:
        for k, v in src.attrs.items():
            f.attrs[k] = v
        src.copy("model_weights", f)
        g = f[f"model_weights/{conv}/{conv}"]
        kernel = g["kernel:0"][()]
        del g["kernel:0"]
        g["kernel:0"] = kernel.reshape(-1, kernel.shape[-1])
    os.remove(out("broken_template.h5"))

    with open(out("expected.json"), "w") as f:
        json.dump({"input": "input_u8.npy (float input = uint8 / 255 as float32, NHWC)",
                   "tensors": summaries}, f, indent=1, sort_keys=True)
    print("wrote", sorted(os.listdir(HERE)))


if __name__ == "__main__":
    sys.exit(main())
