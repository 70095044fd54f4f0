#!/usr/bin/env python3
"""Writes the torch/zip/safetensors fixtures with the real libraries (zipfile, numpy, torch,
safetensors). Run with the fixture venv:  $(Fixtures/venv.sh) Fixtures/torch/make_torch_fixtures.py

Tiny AlexNet-shaped models: conv widths [8, 16, 24, 24, 16], fc [32, 32], 10 classes, the
presets' real kernels/strides, weights from np.random.default_rng(seed) * 0.05. For every model
`expected_<name>.safetensors` (written by the safetensors library) holds the state dict's values,
contiguous, so tests compare index by index.
"""
import collections
import os
import zipfile

import numpy as np
import torch
import torch.nn as nn
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import save_file as save_torch

HERE = os.path.dirname(os.path.abspath(__file__))
ZIP = os.path.join(HERE, "zip")
os.makedirs(ZIP, exist_ok=True)
C = [8, 16, 24, 24, 16]
FC = [32, 32]
CLASSES = 10


def seeded(model, seed):
    """Fills every parameter and buffer of `model` from a seeded numpy RNG (deterministic)."""
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for name, p in list(model.named_parameters()) + list(model.named_buffers()):
            if p.dtype.is_floating_point:
                values = rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.05
                if name.endswith("running_var"):
                    values = np.abs(values) + 0.5
                p.copy_(torch.from_numpy(values))
    return model.eval()


def expected(name, state):
    save_torch({k: v.detach().contiguous().clone() for k, v in state.items() if torch.is_tensor(v)},
               os.path.join(HERE, f"expected_{name}.safetensors"))


def save(obj, name, **kwargs):
    torch.save(obj, os.path.join(HERE, name), **kwargs)


# MARK: - Models

def torchvision_style():
    return nn.Sequential(collections.OrderedDict([
        ("features", nn.Sequential(
            nn.Conv2d(3, C[0], 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(C[0], C[1], 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(C[1], C[2], 3, padding=1), nn.ReLU(),
            nn.Conv2d(C[2], C[3], 3, padding=1), nn.ReLU(),
            nn.Conv2d(C[3], C[4], 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))),
        ("avgpool", nn.AdaptiveAvgPool2d((6, 6))),
        ("flatten", nn.Flatten()),
        ("classifier", nn.Sequential(
            nn.Dropout(), nn.Linear(C[4] * 36, FC[0]), nn.ReLU(),
            nn.Dropout(), nn.Linear(FC[0], FC[1]), nn.ReLU(), nn.Linear(FC[1], CLASSES))),
    ]))


def alexnet_v1_style():
    return nn.Sequential(collections.OrderedDict([
        ("features", nn.Sequential(
            nn.Conv2d(3, C[0], 11, 4, 2), nn.ReLU(), nn.LocalResponseNorm(5), nn.MaxPool2d(3, 2),
            nn.Conv2d(C[0], C[1], 5, padding=2), nn.ReLU(), nn.LocalResponseNorm(5), nn.MaxPool2d(3, 2),
            nn.Conv2d(C[1], C[2], 3, padding=1), nn.ReLU(),
            nn.Conv2d(C[2], C[3], 3, padding=1), nn.ReLU(),
            nn.Conv2d(C[3], C[4], 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))),
        ("flatten", nn.Flatten()),
        ("classifier", nn.Sequential(
            nn.Dropout(), nn.Linear(C[4] * 36, FC[0]), nn.ReLU(),
            nn.Dropout(), nn.Linear(FC[0], FC[1]), nn.ReLU(), nn.Linear(FC[1], CLASSES))),
    ]))


def half_style():
    m = torchvision_style()
    del m.avgpool
    return m


class AlexNet8(nn.Module):
    """Seed 003's AlexNet8 at tiny widths: 227 input, no ReLU, LRN then pool in blocks 1-2."""

    def __init__(self):
        super().__init__()
        self.layer1 = nn.Sequential(nn.Conv2d(3, C[0], 11, 4), nn.LocalResponseNorm(5), nn.MaxPool2d(3, 2))
        self.layer2 = nn.Sequential(nn.Conv2d(C[0], C[1], 5, padding=2), nn.LocalResponseNorm(5), nn.MaxPool2d(3, 2))
        self.layer3 = nn.Conv2d(C[1], C[2], 3, padding=1)
        self.layer4 = nn.Conv2d(C[2], C[3], 3, padding=1)
        self.layer5 = nn.Sequential(nn.Conv2d(C[3], C[4], 3, padding=1), nn.MaxPool2d(3, 2))
        self.fallen = nn.Flatten()
        self.layer6 = nn.Linear(C[4] * 36, FC[0])
        self.layer7 = nn.Linear(FC[0], FC[1])
        self.layer8 = nn.Linear(FC[1], CLASSES)

    def forward(self, x):
        for layer in [self.layer1, self.layer2, self.layer3, self.layer4, self.layer5, self.fallen,
                      self.layer6, self.layer7, self.layer8]:
            x = layer(x)
        return x


class CaffeGrouped(nn.Module):
    """Caffe-style two-tower AlexNet (groups 2 on conv2/4/5), layers named conv1..fc8, 227 input."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, C[0], 11, 4)
        self.conv2 = nn.Conv2d(C[0], C[1], 5, padding=2, groups=2)
        self.conv3 = nn.Conv2d(C[1], C[2], 3, padding=1)
        self.conv4 = nn.Conv2d(C[2], C[3], 3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(C[3], C[4], 3, padding=1, groups=2)
        self.fc6 = nn.Linear(C[4] * 36, FC[0])
        self.fc7 = nn.Linear(FC[0], FC[1])
        self.fc8 = nn.Linear(FC[1], CLASSES)


# MARK: - torch.save fixtures

def torch_fixtures():
    tv = seeded(torchvision_style(), 1)
    sd = tv.state_dict()
    expected("torchvision", sd)
    save(sd, "torchvision.pth")
    save(sd, "torchvision_legacy.pth", _use_new_zipfile_serialization=False)

    optimizer = torch.optim.SGD(tv.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    save({"epoch": 5, "model_state_dict": sd, "optimizer_state_dict": optimizer.state_dict(),
          "loss": 0.25, "arch": "alexnet"}, "checkpoint.pth")

    # DataParallel prefix inside a {'state_dict': ...} checkpoint, stored as float16.
    half_tv = seeded(torchvision_style(), 1).half()
    dp = nn.DataParallel(half_tv)
    save({"state_dict": dp.state_dict(), "epoch": 2}, "dataparallel_fp16.pth")
    save(seeded(torchvision_style(), 1).to(torch.bfloat16).state_dict(), "torchvision_bf16.pth")

    v1 = seeded(alexnet_v1_style(), 2)
    expected("alexnet_v1", v1.state_dict())
    save(v1.state_dict(), "alexnet_v1.pth")

    half = seeded(half_style(), 3)
    expected("half", half.state_dict())
    save(half.state_dict(), "half.pth")

    a8 = seeded(AlexNet8(), 4)
    expected("alexnet8", a8.state_dict())
    save({"net": a8.state_dict()}, "alexnet8_net.pth")

    caffe = seeded(CaffeGrouped(), 5)
    expected("caffe_grouped", caffe.state_dict())
    save({"model": caffe.state_dict()}, "caffe_grouped_model.pth")

    # Views: a transposed weight saved without .contiguous(), slices sharing one storage.
    base = torch.arange(48, dtype=torch.float32).reshape(6, 8) * 0.5 - 3.0
    views = collections.OrderedDict([
        ("base", base),
        ("transposed", base.t()),          # stride (1, 8), not contiguous
        ("row2", base[2]),                 # storage offset 16
        ("columns", base[:, 1::3]),        # stride (8, 3), offset 1
        ("scalar", base[3, 4]),            # 0-d view, offset 28
    ])
    save(views, "views.pth")
    save_torch({k: v.contiguous().clone() for k, v in views.items()}, os.path.join(HERE, "expected_views.safetensors"))

    # dtypes (typed storages and the newer UntypedStorage path) and a legacy file of them.
    dtypes = dtype_tensors()
    save(dtypes, "dtypes.pth")
    save(dtypes, "dtypes_legacy.pth", _use_new_zipfile_serialization=False)


def dtype_tensors():
    values = torch.arange(24, dtype=torch.float64).reshape(2, 3, 4) * 0.25 - 1.0
    return collections.OrderedDict([
        ("f32", values.float()),
        ("f16", values.half()),
        ("bf16", values.bfloat16()),
        ("f64", values.clone()),
        ("i64", torch.arange(-5, 5, dtype=torch.int64) * 1_000_000_000_000),
        ("i32", torch.arange(-3, 3, dtype=torch.int32)),
        ("u8", torch.arange(0, 250, 50, dtype=torch.uint8)),
        ("b", torch.tensor([True, False, True])),
    ])


# MARK: - safetensors written by the library

def safetensors_fixtures():
    values = np.arange(24, dtype=np.float64).reshape(2, 3, 4) * 0.25 - 1.0
    t = torch.from_numpy(values)
    save_torch({"f32": t.float(), "f16": t.half(), "bf16": t.bfloat16(),
                "i64": torch.arange(-5, 5, dtype=torch.int64) * 1_000_000_000_000},
               os.path.join(HERE, "library_dtypes.safetensors"), metadata={"made_by": "safetensors.torch"})


# MARK: - zip fixtures (Python zipfile, numpy savez)

def zip_fixtures():
    hello = b"hello zip\n"
    counting = bytes(range(256)) * 40
    zeros = b"\0" * 50000
    with zipfile.ZipFile(os.path.join(ZIP, "python_stored.zip"), "w", zipfile.ZIP_STORED) as z:
        z.writestr("hello.txt", hello)
        z.writestr("dir/counting.bin", counting)
        z.writestr("empty", b"")
        z.comment = b"an archive comment"
    with zipfile.ZipFile(os.path.join(ZIP, "python_deflated.zip"), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("hello.txt", hello)
        z.writestr("dir/counting.bin", counting)
        z.writestr("zeros.bin", zeros)
        z.writestr("empty", b"")
    with zipfile.ZipFile(os.path.join(ZIP, "python_zip64.zip"), "w", zipfile.ZIP_STORED) as z:
        for name, data in [("hello.txt", hello), ("dir/counting.bin", counting)]:
            with z.open(name, "w", force_zip64=True) as f:
                f.write(data)
    a = np.arange(12, dtype=np.float32).reshape(3, 4) / 8
    b = np.arange(-3, 3, dtype=np.int64)
    np.savez(os.path.join(ZIP, "numpy_savez.npz"), a=a, b=b)
    np.savez_compressed(os.path.join(ZIP, "numpy_savez_compressed.npz"), a=a, b=b)


if __name__ == "__main__":
    zip_fixtures()
    safetensors_fixtures()
    torch_fixtures()
    print("torch", torch.__version__, "numpy", np.__version__)
