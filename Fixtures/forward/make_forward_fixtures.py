#!/usr/bin/env python3
"""Writes the forward-pass fixtures: tiny AlexNet-shaped models of every preset, built and run in
real PyTorch (and, for the Caffe presets, cross-checked with TensorFlow ops), saved as alexconv
canonical files with the framework's outputs as goldens.

Run with the fixture venv:  $(Fixtures/venv.sh) Fixtures/forward/make_forward_fixtures.py

Inputs:  tiny_specs.json (written by the Swift test PresetSpecFixtureTests from Presets.all, so the
         specs here are exactly the Swift presets), custom_ops_spec.json (a chain exercising every
         op variant), the photographs in ../images/.
Outputs (in this folder):
  <name>.alexnet.safetensors   canonical tiny model (metadata alexconv.spec / source / format_version)
  <name>.golden.npy            framework output for det_input(3, ...) (see below), float32 (3, classes)
  <name>.logits.npy            the same without the final softmax (presets that end in softmax)
  <name>.tf_golden.npy         TensorFlow-ops output (caffe-alexnet, caffenet, keras-bn, keras-2048)
  x227_u8.npy, x224_u8.npy     one uint8 input image-like batch (1, 3, H, W) for expected.json
  <name>.x_u8.golden.npy       framework output for that input
  ../expected.json             the verify cases CI runs with `alexconv verify`

Test inputs are not stored: det_input() below is a hash of the element index that Swift reproduces
bit for bit (ForwardFixtures.deterministicInput), so a 3x3x227x227 batch costs no bytes.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.dirname(HERE)
CAFFE_PRESETS = {"caffe-alexnet", "caffenet"}
# Presets whose goldens are also computed with TensorFlow ops (the Caffe and Keras families).
TENSORFLOW_PRESETS = ["caffe-alexnet", "caffenet", "keras-bn", "keras-2048"]
torch.manual_seed(0)
torch.set_num_threads(1)


# MARK: - Deterministic inputs (mirrored in Swift)

def det_input(n, c, h, w, seed, step):
    """(n, c, h, w) float32: a 32-bit hash of the flat index, mapped to integers -1000..1000 times step."""
    i = np.arange(n * c * h * w, dtype=np.uint64)
    x = (i * np.uint64(2654435761) + np.uint64(seed)) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(2246822519)) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(13)
    v = (x % np.uint64(2001)).astype(np.int64) - 1000
    return (v.astype(np.float32) * np.float32(step)).reshape(n, c, h, w)


def input_step(name):
    """Caffe models see 0-255 pixels minus the mean (about +-125); the rest about +-16, large enough
    that the input, not the biases, dominates the tiny models' outputs."""
    return 1.0 / 8.0 if name in CAFFE_PRESETS else 1.0 / 64.0


# MARK: - Building a torch model from a spec

def build_torch(spec, rng):
    """nn.Sequential mirroring the spec's layer chain, weights drawn from rng (~0.05 scale, biases 0.01).
    Returns (module, canonical tensors in spec order)."""
    c, h, w = spec["input"]["channels"], spec["input"]["height"], spec["input"]["width"]
    shape = ("map", c, h, w)
    modules, tensors = [], {}
    for layer in spec["layers"]:
        t = layer["type"]
        if t == "conv":
            _, ci, hi, wi = shape
            kh, kw = layer["kernel"]
            sh, sw = layer["stride"]
            pt, pl, pb, pr = layer["padding"]
            g = layer["groups"]
            conv = nn.Conv2d(ci, layer["outChannels"], (kh, kw), (sh, sw), groups=g, bias=layer["bias"],
                             padding=(pt, pl) if (pt == pb and pl == pr) else 0)
            conv.weight.data = torch.from_numpy((rng.standard_normal(conv.weight.shape) * 0.05).astype(np.float32))
            tensors[layer["name"] + ".weight"] = conv.weight
            if layer["bias"]:
                conv.bias.data = torch.from_numpy((rng.standard_normal(conv.bias.shape) * 0.01).astype(np.float32))
                tensors[layer["name"] + ".bias"] = conv.bias
            if not (pt == pb and pl == pr):
                modules.append(nn.ZeroPad2d((pl, pr, pt, pb)))
            modules.append(conv)
            oh = (hi + pt + pb - kh) // sh + 1
            ow = (wi + pl + pr - kw) // sw + 1
            shape = ("map", layer["outChannels"], oh, ow)
        elif t == "relu":
            modules.append(nn.ReLU())
        elif t == "lrn":
            modules.append(nn.LocalResponseNorm(layer["size"], alpha=layer["alpha"], beta=layer["beta"], k=layer["k"]))
        elif t == "batchnorm":
            channels = shape[1]
            bn = (nn.BatchNorm2d if shape[0] == "map" else nn.BatchNorm1d)(channels, eps=layer["epsilon"])
            bn.weight.data = torch.from_numpy(rng.uniform(0.5, 1.5, channels).astype(np.float32))
            bn.bias.data = torch.from_numpy((rng.standard_normal(channels) * 0.1).astype(np.float32))
            bn.running_mean.data = torch.from_numpy((rng.standard_normal(channels) * 0.1).astype(np.float32))
            bn.running_var.data = torch.from_numpy(rng.uniform(0.002, 1.5, channels).astype(np.float32))
            for suffix, value in [("weight", bn.weight), ("bias", bn.bias), ("running_mean", bn.running_mean),
                                  ("running_var", bn.running_var)]:
                tensors[layer["name"] + "." + suffix] = value
            modules.append(bn)
        elif t in ("maxpool", "avgpool"):
            _, ci, hi, wi = shape
            pt, pl, pb, pr = layer["padding"]
            assert pt == pb and pl == pr, "torch pools take symmetric padding only"
            if t == "maxpool":
                pool = nn.MaxPool2d(layer["kernel"], layer["stride"], padding=(pt, pl), ceil_mode=layer["ceilMode"])
            else:
                pool = nn.AvgPool2d(layer["kernel"], layer["stride"], padding=(pt, pl), ceil_mode=layer["ceilMode"],
                                    count_include_pad=layer["countIncludePad"])
            modules.append(pool)
            out = pool(torch.zeros(1, ci, hi, wi))
            shape = ("map", ci, out.shape[2], out.shape[3])
        elif t == "adaptiveavgpool":
            modules.append(nn.AdaptiveAvgPool2d(tuple(layer["outputSize"])))
            shape = ("map", shape[1], *layer["outputSize"])
        elif t == "flatten":
            modules.append(nn.Flatten())
            shape = ("vector", int(np.prod(shape[1:])))
        elif t == "dense":
            fc = nn.Linear(shape[1], layer["outFeatures"], bias=layer["bias"])
            fc.weight.data = torch.from_numpy((rng.standard_normal(fc.weight.shape) * 0.05).astype(np.float32))
            tensors[layer["name"] + ".weight"] = fc.weight
            if layer["bias"]:
                fc.bias.data = torch.from_numpy((rng.standard_normal(fc.bias.shape) * 0.01).astype(np.float32))
                tensors[layer["name"] + ".bias"] = fc.bias
            modules.append(fc)
            shape = ("vector", layer["outFeatures"])
        elif t == "dropout":
            modules.append(nn.Dropout(layer.get("rate", 0.5)))
        elif t == "softmax":
            modules.append(nn.Softmax(dim=1))
        else:
            raise ValueError("unknown layer type " + t)
    model = nn.Sequential(*modules).eval()
    return model, {k: v.detach().numpy().astype(np.float32) for k, v in tensors.items()}


def save_canonical(path, spec, tensors, source):
    """save_file with alexconv's metadata. safetensors orders metadata keys at random, so an
    existing file holding the same tensors and metadata is kept (no churn in git)."""
    from safetensors import safe_open
    metadata = {
        "alexconv.spec": json.dumps(spec, separators=(",", ":"), sort_keys=True),
        "alexconv.source": source,
        "alexconv.format_version": "1",
    }
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    if os.path.exists(path):
        with safe_open(path, framework="numpy") as f:
            same = f.metadata() == metadata and set(f.keys()) == set(arrays) and all(
                np.array_equal(f.get_tensor(k), v) for k, v in arrays.items())
        if same:
            return
    save_file(arrays, path, metadata=metadata)


def run_torch(model, x, logits=False):
    with torch.no_grad():
        layers = list(model.children())
        if logits and isinstance(layers[-1], nn.Softmax):
            layers = layers[:-1]
        return nn.Sequential(*layers)(torch.from_numpy(x)).numpy().astype(np.float32)


# MARK: - TensorFlow cross-check (Caffe and Keras presets: grouped conv, TF's LRN spelling, NHWC
# flatten, tf.nn.batch_normalization with the spec's epsilon)

def run_tensorflow(spec, tensors, x):
    import tensorflow as tf
    y = tf.constant(np.transpose(x, (0, 2, 3, 1)))  # NHWC
    shape = None
    for layer in spec["layers"]:
        t = layer["type"]
        if t == "conv":
            w = tensors[layer["name"] + ".weight"]  # (O, I/g, kh, kw)
            g = layer["groups"]
            pt, pl, pb, pr = layer["padding"]
            parts = tf.split(y, g, axis=3)
            og = w.shape[0] // g
            outs = [tf.nn.conv2d(parts[k], np.transpose(w[k * og:(k + 1) * og], (2, 3, 1, 0)),
                                 strides=[1] + layer["stride"] + [1], padding=[[0, 0], [pt, pb], [pl, pr], [0, 0]])
                    for k in range(g)]
            y = tf.concat(outs, axis=3) + tensors[layer["name"] + ".bias"]
        elif t == "relu":
            y = tf.nn.relu(y)
        elif t == "batchnorm":
            n = layer["name"]
            y = tf.nn.batch_normalization(y, tensors[n + ".running_mean"], tensors[n + ".running_var"],
                                          tensors[n + ".bias"], tensors[n + ".weight"], layer["epsilon"])
        elif t == "lrn":
            radius = (layer["size"] - 1) // 2
            y = tf.nn.local_response_normalization(y, depth_radius=radius, bias=layer["k"],
                                                   alpha=layer["alpha"] / layer["size"], beta=layer["beta"])
        elif t == "maxpool":
            y = tf.nn.max_pool2d(y, layer["kernel"], layer["stride"], "VALID")
        elif t == "flatten":
            shape = y.shape  # N, H, W, C
            y = tf.reshape(y, [y.shape[0], -1])  # (H, W, C) order
        elif t == "dense":
            w = tensors[layer["name"] + ".weight"]  # (out, in)
            if shape is not None:  # fc6: columns (C, H, W) -> (H, W, C) for TF's flatten
                _, hh, ww, cc = shape
                w = w.reshape(w.shape[0], cc, hh, ww).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
                shape = None
            y = tf.matmul(y, w.T) + tensors[layer["name"] + ".bias"]
        elif t == "softmax":
            y = tf.nn.softmax(y, axis=1)
        elif t == "dropout":
            pass
        else:
            raise ValueError("TF cross-check does not handle " + t)
    return y.numpy().astype(np.float32)


# MARK: - Images (same preprocessing as alexconv's Swift code)

def preprocess(path, inp):
    """Decode RGB, resize the shorter side to inp['resize'] (or, with resizeMode "warp", both sides:
    Caffe's convention) with torch's antialiased bilinear (PIL's filter, in float), centre-crop
    (torchvision's rounding), order channels, (x*scale - mean)/std."""
    from PIL import Image
    img = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)  # H, W, 3
    t = torch.from_numpy(img).permute(2, 0, 1)[None]
    h, w = img.shape[:2]
    if inp.get("resize") and inp.get("resizeMode") == "warp":
        nh = nw = inp["resize"]
    elif inp.get("resize"):
        short, long = (h, w) if h <= w else (w, h)
        size = inp["resize"]
        new_long = int(size * long / short)
        nh, nw = (size, new_long) if h <= w else (new_long, size)
    else:
        nh, nw = inp["height"], inp["width"]
    t = F.interpolate(t, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
    top = int(round((nh - inp["height"]) / 2.0))
    left = int(round((nw - inp["width"]) / 2.0))
    t = t[:, :, top:top + inp["height"], left:left + inp["width"]]
    if inp["channelOrder"] == "bgr":
        t = t[:, [2, 1, 0]]
    mean = torch.tensor(inp["mean"], dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(inp["std"], dtype=torch.float64).view(1, 3, 1, 1)
    t = (t.double() * inp["scale"] - mean) / std
    return t.float().numpy()


# MARK: - Main

def main():
    with open(os.path.join(HERE, "tiny_specs.json")) as f:
        specs = json.load(f)
    with open(os.path.join(HERE, "custom_ops_spec.json")) as f:
        specs["custom-ops"] = json.load(f)

    models = {}
    for seed, (name, spec) in enumerate(specs.items()):
        rng = np.random.default_rng(1000 + seed)
        model, tensors = build_torch(spec, rng)
        models[name] = (spec, model, tensors)
        save_canonical(os.path.join(HERE, name + ".alexnet.safetensors"), spec, tensors,
                       f"Fixtures/forward/make_forward_fixtures.py (torch {torch.__version__}, seed {1000 + seed})")
        inp = spec["input"]
        x = det_input(3, inp["channels"], inp["height"], inp["width"], seed=7, step=input_step(name))
        y = run_torch(model, x)
        np.save(os.path.join(HERE, name + ".golden.npy"), y)
        if spec["layers"][-1]["type"] == "softmax":
            np.save(os.path.join(HERE, name + ".logits.npy"), run_torch(model, x, logits=True))
        if name in TENSORFLOW_PRESETS:
            ytf = run_tensorflow(spec, tensors, x)
            err = np.max(np.abs(ytf - y)) / np.max(np.abs(y))
            assert err < 1e-4, f"{name}: TensorFlow and PyTorch disagree ({err})"
            np.save(os.path.join(HERE, name + ".tf_golden.npy"), ytf)
        print(f"{name}: output {y.shape}, max |y| {np.max(np.abs(y)):.4g}")

    # expected.json: tensor cases on uint8 inputs and image cases, for two shipped models.
    rng = np.random.default_rng(42)
    inputs = {}
    for size in (227, 224):
        xu8 = rng.integers(0, 256, size=(1, 3, size, size), dtype=np.uint8)
        np.save(os.path.join(HERE, f"x{size}_u8.npy"), xu8)
        inputs[size] = xu8
    images = sorted(f for f in os.listdir(os.path.join(FIXTURES, "images")) if f.endswith((".png", ".jpg")))
    cases = []
    # Image cases only for models whose tiny random weights give clear top-3 margins on photos
    # (torchvision's tiny model sees +-2 normalised pixels and ranks classes by its biases).
    for name in ("caffe-alexnet", "torchvision", "keras-bn"):
        spec, model, _ = models[name]
        size = spec["input"]["height"]
        model_path = f"forward/{name}.alexnet.safetensors"
        golden = run_torch(model, inputs[size].astype(np.float32))
        np.save(os.path.join(HERE, f"{name}.x_u8.golden.npy"), golden)
        cases.append({"name": f"{name} tensor", "model": model_path, "input": f"forward/x{size}_u8.npy",
                      "output": f"forward/{name}.x_u8.golden.npy"})
        for image in images if name != "torchvision" else []:
            x = preprocess(os.path.join(FIXTURES, "images", image), spec["input"])
            logits = run_torch(model, x, logits=True)[0]
            order = np.argsort(-logits, kind="stable")
            gaps = -np.diff(logits[order[:4]])
            # The longest prefix (up to 3) of the ranking whose gaps are clear of float noise.
            clear = gaps > 1e-3 * max(1.0, abs(logits).max())
            k = 3 if clear.all() else int(np.argmin(clear))
            assert k >= 1, f"{name} {image}: top-1 too close to call"
            cases.append({"name": f"{name} {image}", "model": model_path, "image": f"images/{image}",
                          "top": [int(i) for i in order[:k]], "topk": k})
    # Preprocessing goldens: every 7th row and column of two photographs under two input specs.
    for image in ("chelsea.png", "coffee.jpg"):
        for name in ("torchvision", "caffe-alexnet"):
            x = preprocess(os.path.join(FIXTURES, "images", image), models[name][0]["input"])
            np.save(os.path.join(HERE, f"{image.split('.')[0]}.{image.split('.')[1]}.{name}.sample.npy"),
                    np.ascontiguousarray(x[:, :, ::7, ::7]))

    expected = {"tolerance": {"atol": 1e-4, "rtol": 1e-3}, "cases": cases}
    with open(os.path.join(FIXTURES, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2)
        f.write("\n")
    print(f"expected.json: {len(cases)} cases")


if __name__ == "__main__":
    sys.exit(main())
