#!/usr/bin/env python3
"""Peer for TorchBenchmark (Sources/alexconv-bench/TorchBenchmark.swift): what a Python user runs to
turn a .pth into safetensors -- torch.load (default weights_only=True) then
safetensors.torch.save_file -- timed in this process. Prints one JSON line:
  {"import_seconds", "load_seconds", "save_seconds", "seconds" (load + save),
   "rss_after_import_bytes", "peak_rss_bytes"}
Usage: torch_peer.py IN.pth OUT.safetensors [--mmap] [--fsync]
  --fsync: also fsync the output before returning (alexconv's writer flushes to disk before it
           renames the finished file into place; this makes the two do the same work).
"""
import json
import resource
import sys
import time

t0 = time.perf_counter()
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
t1 = time.perf_counter()


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


rss_after_import = rss_bytes()
src, dst = sys.argv[1], sys.argv[2]
mmap = "--mmap" in sys.argv[3:]
fsync = "--fsync" in sys.argv[3:]
t2 = time.perf_counter()
state = torch.load(src, mmap=mmap)
t3 = time.perf_counter()
save_file(state, dst)
if fsync:
    import os
    fd = os.open(dst, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
t4 = time.perf_counter()
print(json.dumps({
    "import_seconds": t1 - t0,
    "load_seconds": t3 - t2,
    "save_seconds": t4 - t3,
    "seconds": t4 - t2,
    "rss_after_import_bytes": rss_after_import,
    "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
}))
