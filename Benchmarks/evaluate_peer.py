#!/usr/bin/env python3
"""The Python way of evaluating on an image folder: torchvision's ImageFolder with the classic
transforms (Resize(256), CenterCrop(224), ToTensor, Normalize), a DataLoader decoding in
--threads worker processes, and full-size torchvision AlexNet (random weights) in PyTorch eager with
torch.set_num_threads(--threads). Prints JSON: images per second overall (best of --repeats), of the
DataLoader alone (decoding + transforms) and of the model alone on a fixed batch.

  python Benchmarks/evaluate_peer.py --images DIR --threads 2 --batch 32

`alexconv-bench evaluate` runs this on the same folder with the same threads in the same run.
"""
import argparse
import json
import time

import torch
import torchvision
from torchvision import datasets, transforms

p = argparse.ArgumentParser()
p.add_argument("--images", required=True)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--repeats", type=int, default=2)
args = p.parse_args()

torch.set_num_threads(args.threads)
transform = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
dataset = datasets.ImageFolder(args.images, transform=transform)
model = torchvision.models.alexnet(weights=None).eval()


def loader():
    return torch.utils.data.DataLoader(dataset, batch_size=args.batch, num_workers=args.threads, shuffle=False)


def best(fn):
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def evaluate():
    correct = 0
    with torch.no_grad():
        for x, y in loader():
            correct += int((model(x).argmax(1) == y).sum())
    return correct


def decode_only():
    for _ in loader():
        pass


x = torch.stack([dataset[i][0] for i in range(args.batch)])


def forward_only():
    with torch.no_grad():
        for _ in range(max(1, len(dataset) // args.batch)):
            model(x)


n = len(dataset)
overall = best(evaluate)
decode = best(decode_only)
forward = best(forward_only)
print(json.dumps({"images": n, "threads": args.threads, "torch": torch.__version__, "torchvision": torchvision.__version__,
                  "imagesPerSecond": n / overall, "decodeImagesPerSecond": n / decode,
                  "forwardImagesPerSecond": (max(1, n // args.batch) * args.batch) / forward}))
