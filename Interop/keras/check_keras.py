#!/usr/bin/env python3
"""Interop check: files alexconv writes open in Keras 3 and tf-keras and predict like the source.

For every case written by the Swift test `writeKerasInteropFiles` (tiny models from the Keras
fixtures, plus synthetic torchvision, caffe-alexnet, caffenet and alexnet-v1 models):
  reference  PyTorch runs the canonical model (<case>.alexnet.safetensors) from its recorded spec, NCHW;
             for Keras fixtures it must also equal what Keras itself predicted (Fixtures/keras/*_probs.npy)
  keras 3    keras.models.load_model(<case>.h5), load_model(<case>.keras), and a fresh copy of the
             model with load_weights(<case>.weights.h5)
  tf-keras   tf_keras.models.load_model(<case>.h5)
Every prediction (NHWC input) must match the reference within 1e-4, index by index.

Usage: Interop/keras/check_keras.py [--dir DIR]   (DIR: already written files; default: write them now)
Skips with a notice (exit 0) when the fixture venv cannot be set up.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOLERANCE = 1e-4


def reexec_in_venv():
    if os.environ.get("ALEXCONV_KERAS_IN_VENV"):
        return
    try:
        python = subprocess.run([os.path.join(ROOT, "Fixtures", "venv.sh")], check=True, capture_output=True, text=True).stdout.strip()
    except Exception as error:  # noqa: BLE001
        print(f"SKIP: the fixture venv cannot be set up ({error}); Keras interop not checked")
        sys.exit(0)
    os.environ["ALEXCONV_KERAS_IN_VENV"] = "1"
    os.execv(python, [python] + sys.argv)


def write_files(directory):
    env = dict(os.environ, ALEXCONV_KERAS_INTEROP_DIR=directory)
    # The same build folder as `swift test` (ALEXCONV_SCRATCH to choose another), so CI builds once.
    scratch = os.environ.get("ALEXCONV_SCRATCH", os.path.join(ROOT, ".build"))
    subprocess.run(["swift", "test", "--scratch-path", scratch, "--filter", "writeKerasInteropFiles"],
                   cwd=ROOT, check=True, env=env, stdout=subprocess.DEVNULL)


# MARK: - PyTorch reference from the canonical spec

def torch_reference(spec, tensors, x_nchw):
    import torch
    import torch.nn.functional as F
    x = torch.from_numpy(x_nchw)
    t = {k: torch.from_numpy(v.copy()) for k, v in tensors.items()}
    with torch.no_grad():
        for layer in spec["layers"]:
            kind = layer["type"]
            if kind == "conv":
                top, left, bottom, right = layer["padding"]
                x = F.pad(x, (left, right, top, bottom))
                x = F.conv2d(x, t[layer["name"] + ".weight"], t.get(layer["name"] + ".bias"), stride=layer["stride"], groups=layer["groups"])
            elif kind == "relu":
                x = F.relu(x)
            elif kind == "lrn":
                x = F.local_response_norm(x, layer["size"], alpha=layer["alpha"], beta=layer["beta"], k=layer["k"])
            elif kind in ("maxpool", "avgpool"):
                top, left, bottom, right = layer["padding"]
                assert top == bottom and left == right, "asymmetric pool padding in the reference"
                if kind == "maxpool":
                    x = F.max_pool2d(x, layer["kernel"], layer["stride"], (top, left), ceil_mode=layer["ceilMode"])
                else:
                    x = F.avg_pool2d(x, layer["kernel"], layer["stride"], (top, left), ceil_mode=layer["ceilMode"],
                                     count_include_pad=layer["countIncludePad"])
            elif kind == "adaptiveavgpool":
                x = F.adaptive_avg_pool2d(x, layer["outputSize"])
            elif kind == "flatten":
                x = torch.flatten(x, 1)
            elif kind == "dense":
                x = F.linear(x, t[layer["name"] + ".weight"], t.get(layer["name"] + ".bias"))
            elif kind == "batchnorm":
                n = layer["name"]
                x = F.batch_norm(x, t[n + ".running_mean"], t[n + ".running_var"], t[n + ".weight"], t[n + ".bias"],
                                 training=False, eps=layer["epsilon"])
            elif kind == "softmax":
                x = F.softmax(x, dim=1)
            elif kind == "dropout":
                pass
            else:
                raise ValueError(f"unknown layer {kind}")
    return x.numpy()


# MARK: - Checks

def main():
    reexec_in_venv()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    from safetensors import safe_open

    directory = None
    if "--dir" in sys.argv:
        directory = sys.argv[sys.argv.index("--dir") + 1]
    else:
        directory = tempfile.mkdtemp(prefix="alexconv-keras-interop-")
        write_files(directory)

    import keras
    import tf_keras
    sys.path.insert(0, HERE)
    from alexconv_keras_layers import LocalResponseNormalization, tf_keras_layer
    k3_custom = {"LocalResponseNormalization": LocalResponseNormalization}
    tk_custom = {"LocalResponseNormalization": tf_keras_layer()}

    x_u8 = np.load(os.path.join(ROOT, "Fixtures", "keras", "input_u8.npy"))
    fixture_probs = {"bn": "bn_probs.npy", "bn_archive": "bn_probs.npy", "functional": "subclass_probs.npy", "grouped": "grouped_probs.npy"}
    failures = 0
    cases = sorted(f[:-len(".alexnet.safetensors")] for f in os.listdir(directory) if f.endswith(".alexnet.safetensors"))
    if not cases:
        print(f"FAIL: no interop files in {directory}")
        return 1

    def report(label, got, want):
        nonlocal failures
        got = np.asarray(got, np.float32)
        if got.shape != want.shape:
            failures += 1
            print(f"  FAIL {label}: shape {got.shape} vs {want.shape}")
            return
        err = float(np.abs(got - want).max())
        ok = err <= TOLERANCE
        failures += 0 if ok else 1
        print(f"  {'ok  ' if ok else 'FAIL'} {label}: max abs error {err:.2e}")

    for case in cases:
        base = os.path.join(directory, case)
        with safe_open(base + ".alexnet.safetensors", "np") as f:
            spec = json.loads(f.metadata()["alexconv.spec"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        size = spec["input"]["height"], spec["input"]["width"]
        x = (x_u8[:, :size[0], :size[1], :].astype(np.float32) / np.float32(255))
        reference = torch_reference(spec, tensors, np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        print(f"{case} ({spec['name']}, {size[0]}x{size[1]}):")
        if case in fixture_probs:
            report("PyTorch on the canonical model vs Keras' own prediction", reference,
                   np.load(os.path.join(ROOT, "Fixtures", "keras", fixture_probs[case])))
        try:
            m = keras.models.load_model(base + ".h5", custom_objects=k3_custom, compile=False)
            report("Keras 3 load_model(.h5)", m.predict(x, verbose=0), reference)
            fresh = keras.models.clone_model(m)
            fresh.load_weights(base + ".weights.h5")
            report("Keras 3 load_weights(.weights.h5) on a fresh copy", fresh.predict(x, verbose=0), reference)
        except Exception as error:  # noqa: BLE001
            failures += 1
            print(f"  FAIL Keras 3 .h5 / .weights.h5: {type(error).__name__}: {error}")
        try:
            m = keras.models.load_model(base + ".keras", custom_objects=k3_custom, compile=False)
            report("Keras 3 load_model(.keras)", m.predict(x, verbose=0), reference)
        except Exception as error:  # noqa: BLE001
            failures += 1
            print(f"  FAIL Keras 3 .keras: {type(error).__name__}: {error}")
        try:
            m = tf_keras.models.load_model(base + ".h5", custom_objects=tk_custom, compile=False)
            report("tf-keras load_model(.h5)", m.predict(x, verbose=0), reference)
        except Exception as error:  # noqa: BLE001
            failures += 1
            print(f"  FAIL tf-keras .h5: {type(error).__name__}: {error}")
    print("PASS" if failures == 0 else f"FAILED: {failures} check(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
