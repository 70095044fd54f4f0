#!/usr/bin/env python3
"""The TensorFlow way of alexconv's checkpoint -> canonical import, for Sources/alexconv-bench
(TensorFlowBenchmark.swift): tf.train.load_checkpoint, every tensor to the canonical layout with
numpy (OIHW kernels, (out, in) dense, fc6 columns in C,H,W order), safetensors.numpy.save_file.
Prints one JSON line: import_seconds (import tensorflow, numpy, safetensors), seconds (load +
convert + save, timed here), rss_after_import_bytes, peak_rss_bytes.
Usage: tensorflow_peer.py PREFIX OUT.safetensors   (ALEXCONV_BENCH_FSYNC=1 also fsyncs the output)
"""
import json
import os
import resource
import sys
import time

t0 = time.perf_counter()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402
t1 = time.perf_counter()

MAP = (256, 6, 6)  # caffe-alexnet's last pooled map (C, H, W)


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


rss_after_import = rss_bytes()
prefix, dst = sys.argv[1], sys.argv[2]
t2 = time.perf_counter()
reader = tf.train.load_checkpoint(prefix)
out = {}
for name in ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]:
    w = reader.get_tensor(name + "/weights")
    if w.ndim == 4:
        w = w.transpose(3, 2, 0, 1)
    elif name == "fc6":
        c, h, wd = MAP
        w = w.reshape(h, wd, c, -1).transpose(3, 2, 0, 1).reshape(w.shape[1], -1)
    else:
        w = w.T
    out[name + ".weight"] = np.ascontiguousarray(w, dtype=np.float32)
    out[name + ".bias"] = reader.get_tensor(name + "/biases")
save_file(out, dst)
if os.environ.get("ALEXCONV_BENCH_FSYNC") == "1":
    fd = os.open(dst, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
t3 = time.perf_counter()
print(json.dumps({
    "import_seconds": t1 - t0,
    "seconds": t3 - t2,
    "rss_after_import_bytes": rss_after_import,
    "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
}))
