"""The numpy way of alexconv's npy <-> canonical conversions, for Sources/alexconv-bench.

to-canonical IN.npy OUT.safetensors: load the bvlc dict, move every tensor to the canonical layout
(OIHW kernels, (out, in) dense, fc6 columns in C,H,W order), save with safetensors.numpy.
to-npy IN.safetensors OUT.npy: the inverse, saved as a pickled dict like bvlc_alexnet.npy.
ALEXCONV_BENCH_FSYNC=1 also fsyncs the output (alexconv's writer does, for durability).
"""
import os
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

MAP = (256, 6, 6)  # caffe-alexnet's last pooled map (C, H, W)


def fsync(path):
    if os.environ.get("ALEXCONV_BENCH_FSYNC") == "1":
        fd = os.open(path, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)


def to_canonical(src, dst):
    d = np.load(src, allow_pickle=True, encoding="latin1").item()
    out = {}
    for name, (w, b) in d.items():
        if w.ndim == 4:
            w = w.transpose(3, 2, 0, 1)
        elif name == "fc6":
            c, h, wd = MAP
            w = w.reshape(h, wd, c, -1).transpose(3, 2, 0, 1).reshape(w.shape[1], -1)
        else:
            w = w.T
        out[name + ".weight"] = np.ascontiguousarray(w, dtype=np.float32)
        out[name + ".bias"] = np.ascontiguousarray(b, dtype=np.float32)
    save_file(out, dst)
    fsync(dst)


def to_npy(src, dst):
    t = load_file(src)
    d = {}
    for key in t:
        if not key.endswith(".weight"):
            continue
        name = key[:-7]
        w = t[key]
        if w.ndim == 4:
            w = w.transpose(2, 3, 1, 0)
        elif name == "fc6":
            c, h, wd = MAP
            w = w.reshape(-1, c, h, wd).transpose(2, 3, 1, 0).reshape(h * wd * c, -1)
        else:
            w = w.T
        d[name] = [np.ascontiguousarray(w), t[name + ".bias"]]
    np.save(dst, d, allow_pickle=True)
    fsync(dst)


if __name__ == "__main__":
    {"to-canonical": to_canonical, "to-npy": to_npy}[sys.argv[1]](sys.argv[2], sys.argv[3])
