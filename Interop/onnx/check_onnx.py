#!/usr/bin/env python3
"""Checks ONNX files alexconv wrote (see run.sh): onnx.checker accepts them, they are what the
contract says (opset >= 13, input `data` (N, C, H, W) with a dynamic batch, the spec in
metadata_props), and onnxruntime computes the source framework's outputs within 1e-4.

Manifest lines (written by run.sh or the Swift test writesONNXInteropFiles):
  forward <name> <canonical .alexnet.safetensors> <exported .onnx>
      reference: Fixtures/forward/<name>.golden.npy, PyTorch's output for det_input(3, ...)
  reexport <name> <source .onnx> <exported .onnx>
      reference: Fixtures/onnx/<name>_output.npy, onnxruntime's output on the source model
With --alexconv, `alexconv run` on each exported file (alexconv's own forward pass over the ONNX
import) must match onnxruntime too, and so must `alexconv run` on the torch.onnx-written sources.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from safetensors import safe_open

TOLERANCE = 1e-4
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


def run_onnxruntime(path, x):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def run_alexconv(alexconv, model, x):
    with tempfile.TemporaryDirectory() as tmp:
        xin, yout = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
        np.save(xin, x)
        result = subprocess.run([alexconv, "run", model, "--input", xin, "--output", yout], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"alexconv run {model} failed ({result.returncode}): {result.stderr.strip()}")
        return np.load(yout)


def structure_problems(model):
    """What in the exported graph breaks the contract (empty list when nothing)."""
    problems = []
    opset = {o.domain: o.version for o in model.opset_import}.get("", 0)
    if opset < 13:
        problems.append(f"opset {opset} < 13")
    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if [i.name for i in inputs] != ["data"]:
        problems.append(f"inputs {[i.name for i in inputs]}, expected ['data']")
    else:
        dims = inputs[0].type.tensor_type.shape.dim
        if len(dims) != 4 or not dims[0].dim_param:
            problems.append("input 'data' is not (N, C, H, W) with a symbolic batch dimension")
    props = {p.key: p.value for p in model.metadata_props}
    if "alexconv.spec" not in props:
        problems.append("metadata_props has no alexconv.spec")
    return problems, props


def max_error(a, b):
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def check(kind, name, source, exported, fixtures, alexconv):
    model = onnx.load(exported)
    onnx.checker.check_model(model, full_check=True)
    problems, props = structure_problems(model)
    ops = sorted({n.op_type for n in model.graph.node})

    if kind == "forward":
        with safe_open(source, "np") as f:
            spec = json.loads(f.metadata()["alexconv.spec"])
        if "alexconv.spec" in props and json.loads(props["alexconv.spec"]) != spec:
            problems.append("metadata_props alexconv.spec differs from the canonical file's spec")
        inp = spec["input"]
        step = 1.0 / 8.0 if name in CAFFE_PRESETS else 1.0 / 64.0
        x = det_input(3, inp["channels"], inp["height"], inp["width"], seed=7, step=step)
        reference = np.load(os.path.join(fixtures, "forward", f"{name}.golden.npy"))
        what = "PyTorch golden"
    else:
        u8 = np.load(os.path.join(fixtures, "onnx", f"{name}_input.npy"))
        x = (u8.astype(np.float32) - 128.0) / 32.0
        reference = np.load(os.path.join(fixtures, "onnx", f"{name}_output.npy"))
        what = "onnxruntime on the source model"

    y = run_onnxruntime(exported, x)
    errors = {what: max_error(y, reference)}
    if alexconv:
        errors["alexconv run (exported)"] = max_error(run_alexconv(alexconv, exported, x), y)
        if kind == "reexport":
            errors["alexconv run (source)"] = max_error(run_alexconv(alexconv, source, x), reference)
    for label, err in errors.items():
        if not err <= TOLERANCE:
            problems.append(f"onnxruntime vs {label}: max abs error {err:.3g} > {TOLERANCE}")
    summary = ", ".join(f"{label} {err:.2g}" for label, err in errors.items())
    status = "FAIL" if problems else "ok"
    print(f"{status:4} {kind:8} {name:16} batch {x.shape[0]}, {summary}; ops {' '.join(ops)}")
    for problem in problems:
        print(f"       {problem}")
    return not problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--fixtures", required=True, help="the repository's Fixtures/ folder")
    parser.add_argument("--alexconv", help="the alexconv executable, to compare its forward pass too")
    args = parser.parse_args()
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    if args.alexconv and "--input" not in subprocess.run([args.alexconv, "run", "--help"], capture_output=True, text=True).stdout:
        print(f"NOTICE: {args.alexconv} has no working 'run' command; alexconv's own forward pass is not compared")
        args.alexconv = None
    ok = True
    with open(args.manifest) as manifest:
        for line in manifest:
            if not line.strip():
                continue
            kind, name, source, exported = line.split()
            try:
                ok &= check(kind, name, source, exported, args.fixtures, args.alexconv)
            except Exception as error:  # a checker or runtime refusal is a failure, reported per file
                print(f"FAIL {kind:8} {name:16} {type(error).__name__}: {error}")
                ok = False
    print("onnx interop: all exported models pass onnx.checker and match" if ok else "onnx interop: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
