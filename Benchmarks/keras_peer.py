#!/usr/bin/env python3
"""Peer for KerasBenchmark (Sources/alexconv-bench/KerasBenchmark.swift).

  keras_peer.py make OUT.h5          write a full-size keras-bn AlexNet (seed 000 layout, 1000 classes,
                                     227 input, seeded random weights) with Keras 3 model.save (~250 MB)
  keras_peer.py convert IN.h5 OUT.h5 time what a Python user runs to read and rewrite it; prints one JSON
                                     line: {"import_seconds", "keras_seconds" (load_model + save),
                                     "h5py_seconds" (h5py: read every dataset, write a copy)}
"""
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def make(path):
    import numpy as np
    import keras
    L = keras.layers
    model = keras.Sequential([
        keras.Input((227, 227, 3)),
        L.Conv2D(96, 11, strides=4, activation="relu"), L.BatchNormalization(), L.MaxPooling2D(3, 2),
        L.Conv2D(256, 5, padding="same", activation="relu"), L.BatchNormalization(), L.MaxPooling2D(3, 2),
        L.Conv2D(384, 3, padding="same", activation="relu"), L.BatchNormalization(),
        L.Conv2D(384, 3, padding="same", activation="relu"), L.BatchNormalization(),
        L.Conv2D(256, 3, padding="same", activation="relu"), L.BatchNormalization(), L.MaxPooling2D(3, 2),
        L.Flatten(), L.Dense(4096, activation="relu"), L.Dropout(0.5),
        L.Dense(4096, activation="relu"), L.Dropout(0.5), L.Dense(1000, activation="softmax"),
    ])
    rng = np.random.default_rng(0)
    model.set_weights([(np.abs(rng.standard_normal(w.shape)) + 0.5 if "variance" in w.path else 0.05 * rng.standard_normal(w.shape)).astype("float32")
                       for w in model.weights])
    model.save(path)


def convert(src, dst):
    t0 = time.perf_counter()
    import h5py
    import keras
    t1 = time.perf_counter()
    model = keras.models.load_model(src, compile=False)
    model.save(dst)
    t2 = time.perf_counter()
    with h5py.File(src, "r") as f, h5py.File(dst + ".h5py.h5", "w") as g:
        for k, v in f.attrs.items():
            g.attrs[k] = v

        def copy(name, obj):
            if isinstance(obj, h5py.Group):
                grp = g.require_group(name)
                for k, v in obj.attrs.items():
                    grp.attrs[k] = v
            else:
                g.create_dataset(name, data=obj[()])
        f.visititems(copy)
    t3 = time.perf_counter()
    os.remove(dst + ".h5py.h5")
    print(json.dumps({"import_seconds": t1 - t0, "keras_seconds": t2 - t1, "h5py_seconds": t3 - t2}))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        convert(sys.argv[2], sys.argv[3])
