"""The Python way of alexconv's caffemodel <-> canonical conversions, for Sources/alexconv-bench.

Messages come from Caffe's caffe.proto (Sources/AlexConvCaffe/Proto), compiled by protoc into a
temporary directory on each run (as pycaffe users have caffe_pb2 from their Caffe build).
to-canonical IN.caffemodel OUT.safetensors: NetParameter.ParseFromString on the whole file, each
blob's values into numpy (np.array(blob.data, float32) with the blob's shape; Caffe's layout is the
canonical one), saved with safetensors.numpy under <layer>.weight / <layer>.bias.
to-caffemodel IN.safetensors PROTOTXT OUT.caffemodel: the deploy net parsed with text_format, each
layer's blobs filled from the tensors, SerializeToString written out.
ALEXCONV_BENCH_FSYNC=1 also fsyncs the output (alexconv's writer does, for durability).
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(os.path.dirname(HERE), "Sources", "AlexConvCaffe", "Proto", "caffe.proto")
work = tempfile.mkdtemp(prefix="caffe-peer-")
subprocess.run(["protoc", f"--proto_path={os.path.dirname(PROTO)}", f"--python_out={work}", PROTO], check=True)
sys.path.insert(0, work)
import caffe_pb2  # noqa: E402
from google.protobuf import text_format  # noqa: E402


def fsync(path):
    if os.environ.get("ALEXCONV_BENCH_FSYNC") == "1":
        fd = os.open(path, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)


def to_canonical(src, dst):
    net = caffe_pb2.NetParameter()
    with open(src, "rb") as f:
        net.ParseFromString(f.read())
    out = {}
    for layer in net.layer:
        for suffix, blob in zip(("weight", "bias"), layer.blobs):
            out[f"{layer.name}.{suffix}"] = np.array(blob.data, dtype=np.float32).reshape(tuple(blob.shape.dim))
    save_file(out, dst)
    fsync(dst)


def to_caffemodel(src, prototxt, dst):
    tensors = load_file(src)
    net = caffe_pb2.NetParameter()
    with open(prototxt) as f:
        text_format.Merge(f.read(), net)
    for layer in net.layer:
        for suffix in ("weight", "bias"):
            key = f"{layer.name}.{suffix}"
            if key in tensors:
                blob = layer.blobs.add()
                blob.shape.dim.extend(tensors[key].shape)
                blob.data.extend(tensors[key].ravel())
    with open(dst, "wb") as f:
        f.write(net.SerializeToString())
    fsync(dst)


if __name__ == "__main__":
    if sys.argv[1] == "to-canonical":
        to_canonical(sys.argv[2], sys.argv[3])
    else:
        to_caffemodel(sys.argv[2], sys.argv[3], sys.argv[4])
