#!/usr/bin/env python3
"""Checks the Caffe files alexconv writes (see run.sh) with OpenCV dnn.

For every canonical fixture Fixtures/forward/<name>.alexnet.safetensors (each preset, plus a chain
of every op variant):
  alexconv export <fixture> --format caffemodel -o <out>/<name>.caffemodel  (-> .caffemodel + .prototxt)
  cv2.dnn.readNetFromCaffe(<name>.prototxt, <name>.caffemodel) on the fixture's input (det_input, as
  make_forward_fixtures.py draws it), channels reversed when the source takes RGB (the files are BGR),
  must equal the PyTorch golden Fixtures/forward/<name>.golden.npy within 1e-4 of its largest value,
  and so must `alexconv run <name>.caffemodel` (alexconv reading its own files back).
A fixture alexconv refuses to write (a layer Caffe cannot express) must be refused with exit code 3
and a one-line message; every preset must be written.
Then a bvlc-style npy (Fixtures/numpy/bvlc_py2.npy) goes npy -> caffemodel -> npy and every array
must come back bit for bit.
"""
import argparse
import json
import os
import subprocess
import sys

import cv2
import numpy as np
from safetensors import safe_open

TOLERANCE = 1e-4  # of the largest golden value
PRESETS = {"caffe-alexnet", "caffenet", "torchvision", "alexnet-v1", "alexnet-v2", "half", "keras-bn", "alexnet8", "keras-2048"}
CAFFE_PRESETS = {"caffe-alexnet", "caffenet"}


def det_input(n, c, h, w, seed, step):
    """Mirrors Fixtures/forward/make_forward_fixtures.py det_input (a hash of the flat index)."""
    i = np.arange(n * c * h * w, dtype=np.uint64)
    x = (i * np.uint64(2654435761) + np.uint64(seed)) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(2246822519)) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(13)
    v = (x % np.uint64(2001)).astype(np.int64) - 1000
    return (v.astype(np.float32) * np.float32(step)).reshape(n, c, h, w)


def run(command):
    return subprocess.run(command, capture_output=True, text=True)


def alexconv_run(alexconv, model, x, out):
    xin, yout = os.path.join(out, "x.npy"), os.path.join(out, "y.npy")
    np.save(xin, x)
    result = run([alexconv, "run", model, "--input", xin, "--output", yout, "--force"])  # y.npy is reused per model
    if result.returncode != 0:
        raise RuntimeError(f"alexconv run {model} failed ({result.returncode}): {result.stderr.strip()}")
    return np.load(yout)


def opencv_run(prototxt, caffemodel, x):
    net = cv2.dnn.readNetFromCaffe(prototxt, caffemodel)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    net.setInput(np.ascontiguousarray(x))
    return np.asarray(net.forward(), dtype=np.float32).reshape(x.shape[0], -1)


def relative_error(y, reference):
    if y.shape != reference.shape:
        return float("inf")
    return float(np.max(np.abs(y.astype(np.float64) - reference))) / max(1e-12, float(np.max(np.abs(reference))))


def check_fixture(alexconv, fixtures, out, canonical):
    name = os.path.basename(canonical)[: -len(".alexnet.safetensors")]
    caffemodel = os.path.join(out, f"{name}.caffemodel")
    prototxt = os.path.join(out, f"{name}.prototxt")
    result = run([alexconv, "export", canonical, "--format", "caffemodel", "-o", caffemodel])
    if result.returncode != 0:
        message = result.stderr.strip()
        ok = name not in PRESETS and result.returncode == 3 and "\n" not in message
        print(f"{'ok' if ok else 'FAIL':4} {name:14} not written (exit {result.returncode}): {message}")
        return ok
    with safe_open(canonical, "np") as f:
        spec = json.loads(f.metadata()["alexconv.spec"])
    inp = spec["input"]
    step = 1.0 / 8.0 if name in CAFFE_PRESETS else 1.0 / 64.0
    x = det_input(3, inp["channels"], inp["height"], inp["width"], seed=7, step=step)
    golden = np.load(os.path.join(fixtures, "forward", f"{name}.golden.npy"))
    # The Caffe files take BGR: a model that took RGB gets its input channels reversed.
    x_caffe = x[:, ::-1] if inp["channelOrder"] == "rgb" and inp["channels"] == 3 else x
    errors = {
        "OpenCV vs PyTorch": relative_error(opencv_run(prototxt, caffemodel, x_caffe), golden),
        "alexconv run (caffemodel) vs PyTorch": relative_error(alexconv_run(alexconv, caffemodel, x_caffe, out), golden),
    }
    problems = [f"{label}: {err:.3g} of the largest value > {TOLERANCE}" for label, err in errors.items() if not err <= TOLERANCE]
    with open(prototxt) as f:
        types = sorted({line.split('"')[1] for line in f if line.strip().startswith("type:")})
    summary = ", ".join(f"{label} {err:.2g}" for label, err in errors.items())
    print(f"{'FAIL' if problems else 'ok':4} {name:14} {summary}; layers {' '.join(types)}")
    for problem in problems:
        print(f"       {problem}")
    return not problems


def check_npy_round_trip(alexconv, fixtures, out):
    source = os.path.join(fixtures, "numpy", "bvlc_py2.npy")
    caffemodel, back = os.path.join(out, "bvlc.caffemodel"), os.path.join(out, "bvlc_back.npy")
    for command in ([alexconv, "convert", source, caffemodel], [alexconv, "convert", caffemodel, back]):
        result = run(command)
        if result.returncode != 0:
            print(f"FAIL npy round trip: {' '.join(command)}: {result.stderr.strip()}")
            return False
    a = np.load(source, allow_pickle=True, encoding="latin1").item()
    b = np.load(back, allow_pickle=True).item()
    problems = []
    if sorted(a) != sorted(b):
        problems.append(f"keys {sorted(a)} came back as {sorted(b)}")
    for key in sorted(set(a) & set(b)):
        for i, (x, y) in enumerate(zip(a[key], b[key])):
            if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
                problems.append(f"{key}[{i}]: {x.dtype}{x.shape} came back as {y.dtype}{y.shape}, not bit for bit")
    count = sum(len(v) for v in a.values())
    print(f"{'FAIL' if problems else 'ok':4} npy -> caffemodel -> npy: {count} arrays of bvlc_py2.npy {'differ' if problems else 'bit-exact'}")
    for problem in problems:
        print(f"       {problem}")
    return not problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alexconv", required=True)
    parser.add_argument("--fixtures", required=True, help="the repository's Fixtures/ folder")
    parser.add_argument("--out", required=True, help="a scratch directory")
    args = parser.parse_args()
    print(f"opencv {cv2.__version__}, numpy {np.__version__}")
    forward = os.path.join(args.fixtures, "forward")
    names = sorted(f for f in os.listdir(forward) if f.endswith(".alexnet.safetensors"))
    written = {n[: -len(".alexnet.safetensors")] for n in names}
    ok = PRESETS <= written
    if not ok:
        print(f"FAIL presets without a canonical fixture: {sorted(PRESETS - written)}")
    for name in names:
        try:
            ok &= check_fixture(args.alexconv, args.fixtures, args.out, os.path.join(forward, name))
        except Exception as error:  # an OpenCV refusal is a failure, reported per file
            print(f"FAIL {name}: {type(error).__name__}: {error}")
            ok = False
    ok &= check_npy_round_trip(args.alexconv, args.fixtures, args.out)
    print("caffe interop: OpenCV dnn runs every file alexconv writes and matches" if ok else "caffe interop: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
