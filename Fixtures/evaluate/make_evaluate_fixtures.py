#!/usr/bin/env python3
"""Writes Fixtures/evaluate/: a small *trained* AlexNet-shaped classifier and its labelled test images,
so `alexconv evaluate` has an accuracy that means something to reproduce.

The data: scikit-learn's handwritten digits (`sklearn.datasets.load_digits`, 1797 8x8 images of 0-9,
shipped inside scikit-learn, no download), each rendered as a 48x32 colour PNG: the digit upscaled 4x
(nearest), orange-ish on blue-ish with per-image jitter of colours and position. Non-square on purpose
(Caffe's warp and torchvision's shorter-side resize see different pixels) and coloured on purpose (a
model fed the wrong channel order sees inverted contrast). 30 test images per class are written as
digits/<class>/dNNNN.png (NNNN = the sklearn index); the rest are the training set (rendered twice with
different jitter).

The model: caffe-alexnet's structure (conv1 11/4/0, LRN then pool; conv2 5/1/2 in two groups, LRN then
pool; conv3; conv4 and conv5 in two groups; pool; fc6-fc7-fc8 with ReLU and dropout; softmax) at tiny
widths (conv 8-16-16-16-8, fc 16-16-10), trained in PyTorch on inputs preprocessed exactly as the
caffe-alexnet preset records it: BGR, 0-255 minus the mean (104, 117, 123), warped to 256x256 with
antialiased bilinear resizing (torch.nn.functional.interpolate(antialias=True), which alexconv's resize
matches), centre crop 227.

Saved in three forms, each evaluated by its own framework on the same preprocessed test images:
  digits_torch.pth   PyTorch state dict (nn.Sequential: features.N / classifier.N), evaluated by torch
  digits_keras.h5    Keras 3 full model (Conv2D(groups=2), the LocalResponseNormalization layer of
                     Interop/keras/alexconv_keras_layers.py), evaluated by keras.Model.predict
  digits_bvlc.npy    bvlc_alexnet-style pickled dict {name: [W (kh, kw, in/g, out), b]}, fc rows (H, W, C),
                     loaded back with numpy and evaluated by torch after the inverse layout rules
Also: digits_val.txt (Caffe list) and digits_labels.csv (file,label with a header) naming the same test
images in a shuffled order, and expected.json with every form's top-1 / top-5 accuracy, the same under
torchvision's shorter-side resize, and torch's top-1 class for every test image.

  $(Fixtures/venv.sh) Fixtures/evaluate/make_evaluate_fixtures.py
"""
import collections
import json
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from sklearn.datasets import load_digits

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "Interop", "keras"))

C = [8, 16, 16, 16, 8]
FC = [16, 16]
CLASSES = 10
TEST_PER_CLASS = 30
WIDTH, HEIGHT = 48, 32
MEAN_BGR = [104.0, 117.0, 123.0]

torch.manual_seed(0)
torch.set_num_threads(max(1, os.cpu_count() or 1))
rng = np.random.default_rng(17)


# MARK: - Data

def render(digit, rng):
    """A (32, 48, 3) uint8 image of an 8x8 digit (values 0-16)."""
    fg = np.array([230, 140, 40]) + rng.integers(-25, 26, 3)
    bg = np.array([25, 55, 165]) + rng.integers(-25, 26, 3)
    big = np.kron(digit, np.ones((4, 4)))                      # 32x32, nearest
    canvas = np.zeros((HEIGHT, WIDTH))
    x = 8 + int(rng.integers(-4, 5))
    canvas[:, x:x + 32] = big
    v = canvas[..., None] / 16.0
    return np.clip(np.rint(bg + (fg - bg) * v), 0, 255).astype(np.uint8)


digits = load_digits()
images, labels = digits.images, digits.target
test_index = []
for c in range(CLASSES):
    members = np.flatnonzero(labels == c)
    test_index += list(rng.choice(members, TEST_PER_CLASS, replace=False))
test_index = sorted(int(i) for i in test_index)
train_index = [i for i in range(len(labels)) if i not in set(test_index)]

test_images = np.stack([render(images[i], rng) for i in test_index])
test_labels = np.array([labels[i] for i in test_index])
train_images = np.stack([render(images[i], rng) for i in train_index for _ in range(2)])
train_labels = np.array([labels[i] for i in train_index for _ in range(2)])


def preprocess(batch_u8, mode="warp"):
    """(N, H, W, 3) uint8 RGB -> (N, 3, 227, 227) float32, the caffe-alexnet preset's preprocessing."""
    x = torch.from_numpy(batch_u8).permute(0, 3, 1, 2).float()
    if mode == "warp":
        size = (256, 256)
    else:  # torchvision's shorter side to 256, longer side truncated
        h, w = x.shape[2], x.shape[3]
        size = (256, int(256 * w / h)) if h <= w else (int(256 * h / w), 256)
    x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    top = int(round((x.shape[2] - 227) / 2.0))
    left = int(round((x.shape[3] - 227) / 2.0))
    x = x[:, :, top:top + 227, left:left + 227]
    x = x.flip(1)                                               # RGB -> BGR
    return x - torch.tensor(MEAN_BGR).view(1, 3, 1, 1)


# MARK: - Model

def caffe_alexnet():
    return nn.Sequential(collections.OrderedDict([
        ("features", nn.Sequential(
            nn.Conv2d(3, C[0], 11, 4), nn.ReLU(), nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0), nn.MaxPool2d(3, 2),
            nn.Conv2d(C[0], C[1], 5, padding=2, groups=2), nn.ReLU(), nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0), nn.MaxPool2d(3, 2),
            nn.Conv2d(C[1], C[2], 3, padding=1), nn.ReLU(),
            nn.Conv2d(C[2], C[3], 3, padding=1, groups=2), nn.ReLU(),
            nn.Conv2d(C[3], C[4], 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2))),
        ("flatten", nn.Flatten()),
        ("classifier", nn.Sequential(
            nn.Linear(C[4] * 36, FC[0]), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(FC[0], FC[1]), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(FC[1], CLASSES))),
    ]))


def accuracy(logits, labels):
    top = np.argsort(-logits, axis=1, kind="stable")
    return 100.0 * float(np.mean(top[:, 0] == labels)), 100.0 * float(np.mean([l in t[:5] for l, t in zip(labels, top)]))


def torch_logits(model, batch_u8, mode="warp"):
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(batch_u8), 50):
            out.append(model(preprocess(batch_u8[i:i + 50], mode)).numpy())
    return np.concatenate(out)


model = caffe_alexnet()
optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
for epoch in range(12):
    model.train()
    order = torch.randperm(len(train_images)).numpy()
    for i in range(0, len(order), 64):
        batch = order[i:i + 64]
        loss = F.cross_entropy(model(preprocess(train_images[batch])), torch.from_numpy(train_labels[batch]).long())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch + 1}: loss {loss.item():.3f}, test top-1 {accuracy(torch_logits(model, test_images), test_labels)[0]:.2f}%")
model.eval()

# MARK: - Write the test images and label files

out_dir = os.path.join(HERE, "digits")
shutil.rmtree(out_dir, ignore_errors=True)
paths = []
for image, label, index in zip(test_images, test_labels, test_index):
    relative = f"{label}/d{index:04d}.png"
    os.makedirs(os.path.join(out_dir, str(label)), exist_ok=True)
    Image.fromarray(image).save(os.path.join(out_dir, relative), optimize=True)
    paths.append(relative)
# The images as a user's folder gives them back (PNG is lossless: these are the pixels trained on).
reread = np.stack([np.asarray(Image.open(os.path.join(out_dir, p)).convert("RGB")) for p in paths])
assert (reread == test_images).all()

shuffled = rng.permutation(len(paths))
with open(os.path.join(HERE, "digits_val.txt"), "w") as f:
    for i in shuffled:
        f.write(f"{paths[i]} {test_labels[i]}\n")
with open(os.path.join(HERE, "digits_labels.csv"), "w") as f:
    f.write("file,label\n")
    for i in shuffled:
        f.write(f"{paths[i]},{test_labels[i]}\n")

# MARK: - The three forms, each evaluated by its framework

state = {k: v.detach().clone() for k, v in model.state_dict().items()}
torch.save(state, os.path.join(HERE, "digits_torch.pth"))

torch_test = torch_logits(model, test_images)
torch_shorter = torch_logits(model, test_images, mode="shorter-side")
# Each image's margin between its two best logits: a margin this small could flip between frameworks.
margins = np.sort(torch_test, axis=1)[:, -1] - np.sort(torch_test, axis=1)[:, -2]
print(f"smallest top-1 margin {margins.min():.4f}")
assert margins.min() > 1e-3, "retrain: a near tie would make the accuracy depend on float rounding"

convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
denses = [m for m in model.classifier if isinstance(m, nn.Linear)]


def hwio(conv):
    return conv.weight.detach().numpy().transpose(2, 3, 1, 0)         # (out, in/g, kh, kw) -> (kh, kw, in/g, out)


def fc6_rows_hwc(weight):
    """(out, C*H*W) with inputs (C, H, W) -> (H*W*C, out), rows in (H, W, C) order (channels-last flatten)."""
    out = weight.shape[0]
    return weight.reshape(out, C[4], 6, 6).transpose(2, 3, 1, 0).reshape(36 * C[4], out)


bvlc = {}
for i, conv in enumerate(convs):
    bvlc[f"conv{i + 1}"] = [hwio(conv), conv.bias.detach().numpy()]
for i, dense in enumerate(denses):
    w = dense.weight.detach().numpy()
    bvlc[f"fc{i + 6}"] = [fc6_rows_hwc(w) if i == 0 else w.T.copy(), dense.bias.detach().numpy()]
np.save(os.path.join(HERE, "digits_bvlc.npy"), bvlc, allow_pickle=True)

# bvlc-npy: read back with numpy, inverse layout rules, evaluated by torch.
loaded = np.load(os.path.join(HERE, "digits_bvlc.npy"), allow_pickle=True, encoding="latin1").item()
from_npy = caffe_alexnet()
with torch.no_grad():
    for i, conv in enumerate([m for m in from_npy.features if isinstance(m, nn.Conv2d)]):
        conv.weight.copy_(torch.from_numpy(loaded[f"conv{i + 1}"][0].transpose(3, 2, 0, 1)))
        conv.bias.copy_(torch.from_numpy(loaded[f"conv{i + 1}"][1]))
    for i, dense in enumerate([m for m in from_npy.classifier if isinstance(m, nn.Linear)]):
        w = loaded[f"fc{i + 6}"][0]
        if i == 0:
            w = w.reshape(6, 6, C[4], -1).transpose(3, 2, 0, 1).reshape(-1, 36 * C[4])
        else:
            w = w.T
        dense.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
        dense.bias.copy_(torch.from_numpy(loaded[f"fc{i + 6}"][1]))
npy_test = torch_logits(from_npy, test_images)

# Keras 3: the same network channels-last, weights by the layout rules, evaluated by Keras itself.
import keras
from alexconv_keras_layers import LocalResponseNormalization

L = keras.layers
lrn = dict(depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75)
keras_model = keras.Sequential([
    keras.Input((227, 227, 3)),
    L.Conv2D(C[0], 11, strides=4, activation="relu", name="conv1"), LocalResponseNormalization(**lrn, name="lrn1"), L.MaxPooling2D(3, 2),
    L.Conv2D(C[1], 5, padding="same", groups=2, activation="relu", name="conv2"), LocalResponseNormalization(**lrn, name="lrn2"), L.MaxPooling2D(3, 2),
    L.Conv2D(C[2], 3, padding="same", activation="relu", name="conv3"),
    L.Conv2D(C[3], 3, padding="same", groups=2, activation="relu", name="conv4"),
    L.Conv2D(C[4], 3, padding="same", groups=2, activation="relu", name="conv5"), L.MaxPooling2D(3, 2),
    L.Flatten(),
    L.Dense(FC[0], activation="relu", name="fc6"), L.Dropout(0.5),
    L.Dense(FC[1], activation="relu", name="fc7"), L.Dropout(0.5),
    L.Dense(CLASSES, activation="softmax", name="fc8"),
])
for i, conv in enumerate(convs):
    keras_model.get_layer(f"conv{i + 1}").set_weights([hwio(conv), conv.bias.detach().numpy()])
for i, dense in enumerate(denses):
    w = dense.weight.detach().numpy()
    keras_model.get_layer(f"fc{i + 6}").set_weights([fc6_rows_hwc(w) if i == 0 else w.T.copy(), dense.bias.detach().numpy()])
keras_path = os.path.join(HERE, "digits_keras.h5")
keras_model.save(keras_path)
reloaded = keras.models.load_model(keras_path, custom_objects={"LocalResponseNormalization": LocalResponseNormalization})
keras_input = np.concatenate([preprocess(test_images[i:i + 50]).permute(0, 2, 3, 1).numpy() for i in range(0, len(test_images), 50)])
keras_probs = reloaded.predict(keras_input, batch_size=50, verbose=0)

results = {
    "torch": accuracy(torch_test, test_labels),
    "keras": accuracy(keras_probs, test_labels),
    "bvlc-npy": accuracy(npy_test, test_labels),
}
for name, (top1, top5) in results.items():
    print(f"{name}: top-1 {top1:.4f}%, top-5 {top5:.4f}%")
assert np.array_equal(np.argmax(keras_probs, 1), np.argmax(torch_test, 1)), "keras and torch disagree on an image"
assert np.array_equal(np.argmax(npy_test, 1), np.argmax(torch_test, 1)), "the npy form and torch disagree on an image"

expected = {
    "about": "written by make_evaluate_fixtures.py; accuracies in percent on the 300 images of digits/, each form evaluated by its own framework",
    "images": len(paths),
    "classes": CLASSES,
    "accuracy": {name: {"top1": top1, "top5": top5} for name, (top1, top5) in results.items()},
    "accuracy_shorter_side": dict(zip(["top1", "top5"], accuracy(torch_shorter, test_labels))),
    "torch_top1": {p: int(c) for p, c in zip(paths, np.argmax(torch_test, 1))},
}
with open(os.path.join(HERE, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
    f.write("\n")
total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(HERE) for fn in fns)
print(f"wrote {HERE}: {total} bytes")
