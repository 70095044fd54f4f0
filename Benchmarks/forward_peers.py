#!/usr/bin/env python3
"""Times full-size torchvision AlexNet (random weights) in PyTorch eager and ONNX Runtime and prints
JSON: {"threads": T, "torch": {"version": .., "1": seconds per batch, "8": ...}, "onnxruntime": {...}}.

  python Benchmarks/forward_peers.py --threads 2 --batches 1,8 --iterations 20

alexconv's bench (`alexconv-bench forward`) runs this with the same thread count in the same run
and prints the ratios. The model is built in plain torch (no torchvision needed) and, for ONNX
Runtime, as an ONNX graph written with onnx.helper from the same weights. Each timing is the median
over --iterations runs after two warm-up runs. A peer that is not installed is reported as null.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np


def alexnet_weights(rng, classes=1000):
    """Canonical (PyTorch-layout) weights of torchvision AlexNet, He-scaled uniform."""
    shapes = [("conv1", (64, 3, 11, 11)), ("conv2", (192, 64, 5, 5)), ("conv3", (384, 192, 3, 3)),
              ("conv4", (256, 384, 3, 3)), ("conv5", (256, 256, 3, 3)),
              ("fc6", (4096, 9216)), ("fc7", (4096, 4096)), ("fc8", (classes, 4096))]
    weights = {}
    for name, shape in shapes:
        fan_in = int(np.prod(shape[1:]))
        bound = np.sqrt(6.0 / fan_in)
        weights[name + ".weight"] = rng.uniform(-bound, bound, shape).astype(np.float32)
        weights[name + ".bias"] = rng.uniform(-0.01, 0.01, shape[0]).astype(np.float32)
    return weights


def median_time(fn, iterations):
    fn()
    fn()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_torch(weights, batches, iterations, threads):
    import torch
    import torch.nn as nn
    torch.set_num_threads(threads)
    features = nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
    classifier = nn.Sequential(nn.Dropout(), nn.Linear(9216, 4096), nn.ReLU(inplace=True), nn.Dropout(),
                               nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Linear(4096, 1000))
    model = nn.Sequential(features, nn.AdaptiveAvgPool2d((6, 6)), nn.Flatten(), classifier).eval()
    convs = [m for m in features if isinstance(m, nn.Conv2d)]
    linears = [m for m in classifier if isinstance(m, nn.Linear)]
    for module, name in zip(convs + linears, ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]):
        module.weight.data = torch.from_numpy(weights[name + ".weight"])
        module.bias.data = torch.from_numpy(weights[name + ".bias"])
    result = {"version": torch.__version__}
    with torch.inference_mode():
        for batch in batches:
            x = torch.from_numpy(np.random.default_rng(1).standard_normal((batch, 3, 224, 224)).astype(np.float32))
            result[str(batch)] = median_time(lambda: model(x), iterations)
    return result


def onnx_model(weights):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    nodes, inits = [], [numpy_helper.from_array(v, k) for k, v in weights.items()]
    x = "input"

    def conv(name, x, k, s, p):
        nodes.append(helper.make_node("Conv", [x, name + ".weight", name + ".bias"], [name], kernel_shape=[k, k],
                                      strides=[s, s], pads=[p, p, p, p]))
        nodes.append(helper.make_node("Relu", [name], [name + "_relu"]))
        return name + "_relu"

    def pool(name, x):
        nodes.append(helper.make_node("MaxPool", [x], [name], kernel_shape=[3, 3], strides=[2, 2]))
        return name

    x = pool("pool1", conv("conv1", x, 11, 4, 2))
    x = pool("pool2", conv("conv2", x, 5, 1, 2))
    x = conv("conv3", x, 3, 1, 1)
    x = conv("conv4", x, 3, 1, 1)
    x = pool("pool5", conv("conv5", x, 3, 1, 1))  # 6x6 at 224: the adaptive pool is the identity
    nodes.append(helper.make_node("Flatten", [x], ["flat"], axis=1))
    x = "flat"
    for name in ("fc6", "fc7", "fc8"):
        nodes.append(helper.make_node("Gemm", [x, name + ".weight", name + ".bias"], [name], transB=1))
        x = name
        if name != "fc8":
            nodes.append(helper.make_node("Relu", [x], [name + "_relu"]))
            x = name + "_relu"
    graph = helper.make_graph(nodes, "alexnet", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", 1000])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def time_onnxruntime(weights, batches, iterations, threads):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_model(weights), options, providers=["CPUExecutionProvider"])
    result = {"version": ort.__version__}
    for batch in batches:
        x = np.random.default_rng(1).standard_normal((batch, 3, 224, 224)).astype(np.float32)
        result[str(batch)] = median_time(lambda: session.run(None, {"input": x}), iterations)
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    weights = alexnet_weights(np.random.default_rng(0))
    report = {"threads": args.threads}
    for peer, timer in (("torch", time_torch), ("onnxruntime", time_onnxruntime)):
        try:
            report[peer] = timer(weights, batches, args.iterations, args.threads)
        except ImportError as error:
            report[peer] = None
            print(f"{peer} not available: {error}", file=sys.stderr)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
