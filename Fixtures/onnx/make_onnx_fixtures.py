#!/usr/bin/env python3
"""Writes the ONNX fixtures alexconv's tests read (Fixtures/onnx/).

Run with the fixture venv:   "$(Fixtures/venv.sh)" Fixtures/onnx/make_onnx_fixtures.py

Every file is made by the real libraries (torch.onnx, onnx.helper, onnxruntime) from weights drawn
with np.random.default_rng(seed), so rerunning the script reproduces them bit for bit.

Per fixture <name>:
  <name>.onnx                  the model
  <name>_input.npy             uint8 (1, 3, H, W); the float32 network input is (u8 - 128) / 32
                               (exact in float32; stored as uint8 to keep the file small)
  <name>_output.npy            float32 (1, classes): onnxruntime's output for that input
  <name>_expected.safetensors  the canonical tensors (conv1.weight ... fc8.bias) the importer
                               must produce, bit for bit

Fixtures:
  torchvision_tiny   torchvision.models.AlexNet layout, widths [8,16,24,24,16], fc [32,32], 10 classes,
                     224 input, exported by torch.onnx.export (TorchScript exporter, opset 13,
                     dynamic batch "N"). Adaptive average pool 6x6 over a 6x6 map.
  kerasbn_tiny       keras-bn layout (Conv -> ReLU -> BatchNorm(eps 1e-3) in every block, pools after
                     1, 2, 5, Softmax), 227 input, exported by torch.onnx.export at opset 13.
  zoo_tiny           a graph built with onnx.helper the way the ONNX model zoo's bvlcalexnet is:
                     IR 3, opset 9, initializers listed as graph inputs, float_data initializers,
                     grouped convs (groups 1,2,1,2,2), LRN(5, 1e-4, 0.75, 1) then MaxPool, a 224
                     input (as the zoo's data_0, onnx/models#7) with every pool padded [0,0,1,1]
                     (as the zoo's pool5_1, onnx/models#5) to reach Caffe's 27-13-6 sizes,
                     Reshape to [1, 576] before Gemm(transB=1), Dropout(ratio 0.5) nodes, Softmax.
"""
import os

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
from onnx import TensorProto, helper
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
CONV = [8, 16, 24, 24, 16]
FC = [32, 32]
CLASSES = 10
SCALE = 0.05


def coded_input(seed, size):
    """uint8 (1,3,size,size) and the float32 input it stands for: (u8 - 128) / 32."""
    u8 = np.random.default_rng(seed).integers(0, 256, size=(1, 3, size, size), dtype=np.uint8)
    return u8, (u8.astype(np.float32) - 128.0) / 32.0


def fill_seeded(module, seed):
    """Overwrites every parameter and BN buffer with seeded values; running_var stays positive."""
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if tensor.dtype != torch.float32:
                continue
            values = rng.standard_normal(tuple(tensor.shape)).astype(np.float32) * np.float32(SCALE)
            if name.endswith("running_var"):
                values = np.abs(values) + np.float32(0.5)
            elif name.endswith(".weight") and tensor.dim() == 1:  # BN gamma
                values = values + np.float32(1.0)
            tensor.copy_(torch.from_numpy(values))


def run_onnxruntime(path, x):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: x})[0]


def save_common(name, model_path, u8, x, expected, reference=None):
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    y = run_onnxruntime(model_path, x)
    if reference is not None:
        err = float(np.max(np.abs(y - reference)))
        assert err < 1e-4, f"{name}: onnxruntime vs torch max abs error {err}"
    np.save(os.path.join(HERE, f"{name}_input.npy"), u8)
    np.save(os.path.join(HERE, f"{name}_output.npy"), y.astype(np.float32))
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in expected.items()},
              os.path.join(HERE, f"{name}_expected.safetensors"))
    print(f"{name}: {os.path.getsize(model_path)} bytes, output {y.shape}, max |y| {np.max(np.abs(y)):.4f}")


# MARK: - torchvision layout, torch.onnx.export

class TinyTorchvisionAlexNet(nn.Module):
    """torchvision.models.AlexNet with tiny widths (same module names and indices)."""

    def __init__(self):
        super().__init__()
        c = CONV
        self.features = nn.Sequential(
            nn.Conv2d(3, c[0], kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c[0], c[1], kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c[1], c[2], kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c[2], c[3], kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c[3], c[4], kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=0.5), nn.Linear(c[4] * 6 * 6, FC[0]), nn.ReLU(inplace=True),
            nn.Dropout(p=0.5), nn.Linear(FC[0], FC[1]), nn.ReLU(inplace=True),
            nn.Linear(FC[1], CLASSES),
        )

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def export_torch(name, model, size, seed, canonical_names):
    fill_seeded(model, seed)
    model.eval()
    u8, x = coded_input(seed + 1, size)
    with torch.no_grad():
        reference = model(torch.from_numpy(x)).numpy()
    path = os.path.join(HERE, f"{name}.onnx")
    torch.onnx.export(model, (torch.from_numpy(x),), path, dynamo=False, opset_version=13,
                      input_names=["data"], output_names=["output"],
                      dynamic_axes={"data": {0: "N"}, "output": {0: "N"}})
    state = {k: v.numpy() for k, v in model.state_dict().items() if v.dtype == torch.float32}
    expected = {canonical: state[key] for key, canonical in canonical_names.items()}
    save_common(name, path, u8, x, expected, reference)


def torchvision_tiny():
    names = {}
    for k, index in enumerate([0, 3, 6, 8, 10]):
        names[f"features.{index}.weight"] = f"conv{k + 1}.weight"
        names[f"features.{index}.bias"] = f"conv{k + 1}.bias"
    for k, index in enumerate([1, 4, 6]):
        names[f"classifier.{index}.weight"] = f"fc{k + 6}.weight"
        names[f"classifier.{index}.bias"] = f"fc{k + 6}.bias"
    export_torch("torchvision_tiny", TinyTorchvisionAlexNet(), 224, 7, names)


# MARK: - keras-bn layout (Conv, ReLU, BatchNorm), torch.onnx.export

class TinyKerasBN(nn.Module):
    """keras-bn structure: Conv2D(relu) + BatchNormalization after every conv, pools after 1, 2, 5."""

    def __init__(self):
        super().__init__()
        c = CONV
        layers = []
        channels = 3
        specs = [(11, 4, 0), (5, 1, 2), (3, 1, 1), (3, 1, 1), (3, 1, 1)]
        for i, (k, s, p) in enumerate(specs):
            layers += [nn.Conv2d(channels, c[i], k, s, p), nn.ReLU(), nn.BatchNorm2d(c[i], eps=1e-3)]
            if i in (0, 1, 4):
                layers.append(nn.MaxPool2d(3, 2))
            channels = c[i]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c[4] * 36, FC[0]), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(FC[0], FC[1]), nn.ReLU(), nn.Dropout(0.5), nn.Linear(FC[1], CLASSES), nn.Softmax(dim=1))

    def forward(self, x):
        return self.classifier(self.features(x))


def kerasbn_tiny():
    names = {}
    # features: per block conv (i), relu, bn (i+2), [pool]
    index = 0
    for k in range(5):
        names[f"features.{index}.weight"] = f"conv{k + 1}.weight"
        names[f"features.{index}.bias"] = f"conv{k + 1}.bias"
        for suffix in ["weight", "bias", "running_mean", "running_var"]:
            names[f"features.{index + 2}.{suffix}"] = f"bn{k + 1}.{suffix}"
        index += 4 if k in (0, 1, 4) else 3
    for k, i in enumerate([1, 4, 7]):
        names[f"classifier.{i}.weight"] = f"fc{k + 6}.weight"
        names[f"classifier.{i}.bias"] = f"fc{k + 6}.bias"
    export_torch("kerasbn_tiny", TinyKerasBN(), 227, 11, names)


# MARK: - model-zoo style graph (bvlcalexnet), onnx.helper

def zoo_tiny():
    rng = np.random.default_rng(23)
    c = CONV
    groups = [1, 2, 1, 2, 2]
    kernels = [(11, 4, [0, 0, 0, 0]), (5, 1, [2, 2, 2, 2]), (3, 1, [1, 1, 1, 1]), (3, 1, [1, 1, 1, 1]), (3, 1, [1, 1, 1, 1])]
    weights = {}
    initializers = []
    nodes = []
    channels = 3

    def add_init(name, array):
        initializers.append(helper.make_tensor(name, TensorProto.FLOAT, array.shape, array.flatten().tolist()))

    def pool(inp, out, pads):
        nodes.append(helper.make_node("MaxPool", [inp], [out], name=out, kernel_shape=[3, 3], strides=[2, 2], pads=pads))

    def lrn(inp, out):
        nodes.append(helper.make_node("LRN", [inp], [out], name=out, size=5, alpha=1e-4, beta=0.75, bias=1.0))

    current = "data_0"
    for i in range(5):
        k, s, pads = kernels[i]
        w = (rng.standard_normal((c[i], channels // groups[i], k, k)) * SCALE).astype(np.float32)
        b = (rng.standard_normal((c[i],)) * SCALE).astype(np.float32)
        weights[f"conv{i + 1}.weight"], weights[f"conv{i + 1}.bias"] = w, b
        add_init(f"conv{i + 1}_w_0", w)
        add_init(f"conv{i + 1}_b_0", b)
        nodes.append(helper.make_node("Conv", [current, f"conv{i + 1}_w_0", f"conv{i + 1}_b_0"], [f"conv{i + 1}_1"],
                                      name=f"conv{i + 1}_1", kernel_shape=[k, k], strides=[s, s], pads=pads,
                                      dilations=[1, 1], group=groups[i]))
        nodes.append(helper.make_node("Relu", [f"conv{i + 1}_1"], [f"conv{i + 1}_2"], name=f"conv{i + 1}_2"))
        current = f"conv{i + 1}_2"
        if i == 0:
            lrn(current, "norm1_1")
            pool("norm1_1", "pool1_1", [0, 0, 1, 1])
            current = "pool1_1"
        elif i == 1:
            lrn(current, "norm2_1")
            pool("norm2_1", "pool2_1", [0, 0, 1, 1])
            current = "pool2_1"
        elif i == 4:
            pool(current, "pool5_1", [0, 0, 1, 1])
            current = "pool5_1"
        channels = c[i]

    flat = c[4] * 6 * 6
    initializers.append(helper.make_tensor("OC2_DUMMY_1", TensorProto.INT64, [2], [1, flat]))
    nodes.append(helper.make_node("Reshape", [current, "OC2_DUMMY_1"], ["OC2_DUMMY_0"], name="OC2_DUMMY_0"))
    current = "OC2_DUMMY_0"
    widths = FC + [CLASSES]
    fan_in = flat
    for j, width in enumerate(widths):
        layer = f"fc{6 + j}"
        w = (rng.standard_normal((width, fan_in)) * SCALE).astype(np.float32)
        b = (rng.standard_normal((width,)) * SCALE).astype(np.float32)
        weights[f"{layer}.weight"], weights[f"{layer}.bias"] = w, b
        add_init(f"{layer}_w_0", w)
        add_init(f"{layer}_b_0", b)
        nodes.append(helper.make_node("Gemm", [current, f"{layer}_w_0", f"{layer}_b_0"], [f"{layer}_1"], name=f"{layer}_1",
                                      alpha=1.0, beta=1.0, transA=0, transB=1))
        current = f"{layer}_1"
        if j < 2:
            nodes.append(helper.make_node("Relu", [current], [f"{layer}_2"], name=f"{layer}_2"))
            nodes.append(helper.make_node("Dropout", [f"{layer}_2"], [f"{layer}_3"], name=f"{layer}_3", ratio=0.5))
            current = f"{layer}_3"
        fan_in = width
    nodes.append(helper.make_node("Softmax", [current], ["prob_1"], name="prob_1"))

    data = helper.make_tensor_value_info("data_0", TensorProto.FLOAT, [1, 3, 224, 224])
    prob = helper.make_tensor_value_info("prob_1", TensorProto.FLOAT, [1, CLASSES])
    # IR 3 lists every initializer among the graph inputs, as the zoo files do.
    init_inputs = [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in initializers]
    graph = helper.make_graph(nodes, "tiny_bvlcalexnet", [data] + init_inputs, [prob], initializer=initializers)
    model = helper.make_model(graph, producer_name="onnx-caffe2", opset_imports=[helper.make_opsetid("", 9)])
    model.ir_version = 3
    path = os.path.join(HERE, "zoo_tiny.onnx")
    onnx.save(model, path)
    u8, x = coded_input(29, 224)
    save_common("zoo_tiny", path, u8, x, weights)


if __name__ == "__main__":
    torchvision_tiny()
    kerasbn_tiny()
    zoo_tiny()
