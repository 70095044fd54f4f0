#!/usr/bin/env python3
"""Interop check: a .pth written by `alexconv export --format pth` loads with real PyTorch.

For each pair (CANONICAL.safetensors, EXPORTED.pth):
  1. reads the architecture spec from the canonical file's `alexconv.spec` metadata
     (schema: Sources/AlexConvCore/Spec/ArchitectureSpec.swift);
  2. builds the matching nn.Module in the requested naming (sequential / canonical / layers);
  3. `torch.load(path)` with the default weights_only=True, then `load_state_dict(strict=True)`;
  4. compares the module's outputs on a seeded random batch with an independent functional
     forward pass over the canonical tensors (atol 1e-4), index by index;
  5. with --source SOURCE.pth (a state dict torch itself wrote, in the same naming), also loads
     that into a second module and compares outputs.

Usage: check_torch.py --canonical C.safetensors --pth OUT.pth [--naming N] [--source S.pth]
Exit 0 when every check passes, 1 otherwise.
"""
import argparse
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import safe_open

ATOL = 1e-4


# MARK: - Spec

def read_canonical(path):
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k).float() for k in f.keys()}
    if "alexconv.spec" not in meta:
        sys.exit(f"{path}: no alexconv.spec metadata (not an alexconv canonical file)")
    return json.loads(meta["alexconv.spec"]), tensors


def pair(values):
    return (values[0], values[1]) if isinstance(values, list) else (values, values)


def symmetric_padding(padding, what):
    top, left, bottom, right = padding
    if top != bottom or left != right:
        return None
    return (top, left)


# MARK: - Reference: a functional forward pass over canonical tensors

def reference_forward(spec, tensors, x):
    for layer in spec["layers"]:
        kind = layer["type"]
        if kind == "conv":
            t, l, b, r = layer["padding"]
            x = F.pad(x, (l, r, t, b))
            x = F.conv2d(x, tensors[layer["name"] + ".weight"], tensors.get(layer["name"] + ".bias"),
                         stride=tuple(layer["stride"]), groups=layer["groups"])
        elif kind == "relu":
            x = F.relu(x)
        elif kind == "lrn":
            x = F.local_response_norm(x, layer["size"], alpha=layer["alpha"], beta=layer["beta"], k=layer["k"])
        elif kind == "batchnorm":
            n = layer["name"]
            x = F.batch_norm(x, tensors[n + ".running_mean"], tensors[n + ".running_var"], tensors[n + ".weight"],
                             tensors[n + ".bias"], training=False, eps=layer["epsilon"])
        elif kind in ("maxpool", "avgpool"):
            padding = symmetric_padding(layer["padding"], kind)
            if padding is None:
                raise SystemExit(f"asymmetric pool padding {layer['padding']} is not supported by this check")
            if kind == "maxpool":
                x = F.max_pool2d(x, tuple(layer["kernel"]), tuple(layer["stride"]), padding, ceil_mode=layer["ceilMode"])
            else:
                x = F.avg_pool2d(x, tuple(layer["kernel"]), tuple(layer["stride"]), padding, ceil_mode=layer["ceilMode"],
                                 count_include_pad=layer["countIncludePad"])
        elif kind == "adaptiveavgpool":
            x = F.adaptive_avg_pool2d(x, tuple(layer["outputSize"]))
        elif kind == "flatten":
            x = torch.flatten(x, 1)
        elif kind == "dense":
            x = F.linear(x, tensors[layer["name"] + ".weight"], tensors.get(layer["name"] + ".bias"))
        elif kind == "dropout":
            pass
        elif kind == "softmax":
            x = F.softmax(x, dim=1)
        else:
            raise SystemExit(f"unknown layer type {kind}")
    return x


# MARK: - nn.Module in each naming

class PaddedConv2d(nn.Conv2d):
    """A Conv2d with per-side zero padding applied first (state dict names unchanged)."""

    def __init__(self, pads, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pads = pads

    def forward(self, x):
        return super().forward(F.pad(x, self.pads))


def make_module(layer, tensors):
    kind = layer["type"]
    if kind == "conv":
        w = tensors[layer["name"] + ".weight"]
        groups = layer["groups"]
        args = (w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]))
        padding = symmetric_padding(layer["padding"], "conv")
        if padding is None:
            t, l, b, r = layer["padding"]
            return PaddedConv2d((l, r, t, b), *args, stride=tuple(layer["stride"]), groups=groups, bias=layer["bias"])
        return nn.Conv2d(*args, stride=tuple(layer["stride"]), padding=padding, groups=groups, bias=layer["bias"])
    if kind == "relu":
        return nn.ReLU()
    if kind == "lrn":
        return nn.LocalResponseNorm(layer["size"], alpha=layer["alpha"], beta=layer["beta"], k=layer["k"])
    if kind == "batchnorm":
        return nn.BatchNorm2d(tensors[layer["name"] + ".weight"].shape[0], eps=layer["epsilon"])
    if kind == "maxpool":
        return nn.MaxPool2d(tuple(layer["kernel"]), tuple(layer["stride"]), symmetric_padding(layer["padding"], kind),
                            ceil_mode=layer["ceilMode"])
    if kind == "avgpool":
        return nn.AvgPool2d(tuple(layer["kernel"]), tuple(layer["stride"]), symmetric_padding(layer["padding"], kind),
                            ceil_mode=layer["ceilMode"], count_include_pad=layer["countIncludePad"])
    if kind == "adaptiveavgpool":
        return nn.AdaptiveAvgPool2d(tuple(layer["outputSize"]))
    if kind == "flatten":
        return nn.Flatten()
    if kind == "dense":
        w = tensors[layer["name"] + ".weight"]
        return nn.Linear(w.shape[1], w.shape[0], bias=layer["bias"])
    if kind == "dropout":
        return nn.Dropout(layer["rate"])
    if kind == "softmax":
        return nn.Softmax(dim=1)
    raise SystemExit(f"unknown layer type {kind}")


class Chain(nn.Module):
    """Runs named children in a given order (names are the state dict prefixes)."""

    def __init__(self, named):
        super().__init__()
        self.order = []
        for name, module in named:
            self.add_module(name, module)
            self.order.append(name)

    def forward(self, x):
        for name in self.order:
            x = getattr(self, name)(x)
        return x


def build_module(spec, tensors, naming):
    layers = spec["layers"]
    if naming == "canonical":
        named, unnamed = [], 0
        for layer in layers:
            if layer["type"] in ("conv", "dense", "batchnorm"):
                named.append((layer["name"], make_module(layer, tensors)))
            else:
                named.append((f"op{unnamed}", make_module(layer, tensors)))
                unnamed += 1
        return Chain(named)
    if naming == "sequential":
        split = next((i for i, l in enumerate(layers) if l["type"] in ("flatten", "adaptiveavgpool")), len(layers))
        features = nn.Sequential(*[make_module(l, tensors) for l in layers[:split]])
        rest = layers[split:]
        named = [("features", features)]
        if rest and rest[0]["type"] == "adaptiveavgpool":
            named.append(("avgpool", make_module(rest[0], tensors)))
            rest = rest[1:]
        if rest and rest[0]["type"] == "flatten":
            named.append(("flatten", nn.Flatten()))
            rest = rest[1:]
        named.append(("classifier", nn.Sequential(*[make_module(l, tensors) for l in rest])))
        return Chain(named)
    if naming == "layers":
        blocks, flattened = [], False
        for layer in layers:
            if layer["type"] == "flatten":
                flattened = True
                blocks.append(("flatten", [layer]))
            elif layer["type"] == "conv" or (layer["type"] == "dense" and flattened):
                blocks.append(("block", [layer]))
            elif blocks and blocks[-1][0] == "block":
                blocks[-1][1].append(layer)
            else:
                blocks.append(("block", [layer]))
        named, index = [], 0
        for kind, block in blocks:
            if kind == "flatten":
                named.append(("fallen", nn.Flatten()))
                continue
            index += 1
            modules = [make_module(l, tensors) for l in block]
            named.append((f"layer{index}", modules[0] if len(modules) == 1 else nn.Sequential(*modules)))
        return Chain(named)
    raise SystemExit(f"unknown naming {naming}")


# MARK: - Check

def unwrap(obj):
    """The state dict inside a checkpoint dict ({'net': ...}, {'model': ...}, ...), with the
    DataParallel 'module.' prefix removed."""
    for key in ("state_dict", "model_state_dict", "model", "net"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            return unwrap(obj[key])
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def load(module, state, label):
    try:
        module.load_state_dict(state, strict=True)
        return True
    except RuntimeError as error:
        print(f"FAIL {label}: load_state_dict(strict=True): {error}")
        return False


def compare(label, got, want):
    if got.shape != want.shape:
        print(f"FAIL {label}: output shape {tuple(got.shape)} vs {tuple(want.shape)}")
        return False
    diff = (got - want).abs()
    worst = diff.max().item()
    where = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
    ok = worst <= ATOL
    scale = want.abs().max().item()
    if scale == 0:
        print(f"FAIL {label}: the reference output is all zeros, nothing was compared")
        return False
    print(f"{'ok  ' if ok else 'FAIL'} {label}: max |diff| {worst:.3g} at {where} (atol {ATOL}, max |output| {scale:.3g})")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--canonical", required=True)
    parser.add_argument("--pth", required=True)
    parser.add_argument("--naming", default=None)
    parser.add_argument("--source", default=None)
    parser.add_argument("--batch", type=int, default=2)
    args = parser.parse_args()

    spec, tensors = read_canonical(args.canonical)
    naming = args.naming or ("layers" if spec["name"] == "alexnet8" else "sequential")
    inp = spec["input"]
    torch.manual_seed(0)
    x = torch.randn(args.batch, inp["channels"], inp["height"], inp["width"])

    label = f"{args.pth} ({spec['name']}, naming {naming})"
    try:
        state = torch.load(args.pth)  # the default: weights_only=True
    except Exception as error:  # noqa: BLE001 -- report any refusal as a failure line
        print(f"FAIL {label}: torch.load: {error}")
        sys.exit(1)
    module = build_module(spec, tensors, naming).eval()
    if not load(module, state, label):
        sys.exit(1)
    with torch.no_grad():
        got = module(x)
        want = reference_forward(spec, tensors, x)
    ok = compare(label, got, want)
    if args.source:
        source = build_module(spec, tensors, naming).eval()
        source_label = f"{args.pth} vs source {args.source}"
        if load(source, unwrap(torch.load(args.source)), source_label):
            with torch.no_grad():
                ok = compare(source_label, got, source(x)) and ok
        else:
            ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
