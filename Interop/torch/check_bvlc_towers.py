#!/usr/bin/env python3
"""bvlc (two towers, BGR, TF layout) -> pth with --towers 1: the written tensors are exactly the
block-diagonal OIHW weights and (C, H, W) fc6 columns a careful numpy script computes.

Usage: check_bvlc_towers.py BVLC.npy OUT.pth
(OUT.pth from `alexconv convert BVLC.npy OUT.pth --towers 1`.) Exit 0 when every tensor is
bit-identical, 1 otherwise.
"""
import sys

import numpy as np
import torch

LAYERS = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]


def expected_tensors(npy):
    params = np.load(npy, allow_pickle=True, encoding="latin1").item()
    params = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in params.items()}
    out = []
    last_conv_out = None
    for name in LAYERS:
        entry = params[name]
        w, b = (entry[0], entry[1]) if isinstance(entry, (list, tuple)) else (entry["weights"], entry["biases"])
        w, b = np.asarray(w, dtype=np.float32), np.asarray(b, dtype=np.float32)
        if name.startswith("conv"):
            kh, kw, in_per_group, n_out = w.shape
            oihw = w.transpose(3, 2, 0, 1)                      # (out, in/groups, kh, kw)
            in_total = in_per_group if last_conv_out is None else last_conv_out
            groups = in_total // in_per_group
            dense = np.zeros((n_out, in_total, kh, kw), dtype=np.float32)
            out_per_group = n_out // groups
            for o in range(n_out):                               # block diagonal, zeros elsewhere
                g = o // out_per_group
                dense[o, g * in_per_group:(g + 1) * in_per_group] = oihw[o]
            out.append((name, dense, b))
            last_conv_out = n_out
        elif name == "fc6":
            n_in, n_out = w.shape
            c = last_conv_out
            side = int(round((n_in // c) ** 0.5))
            chw = w.reshape(side, side, c, n_out).transpose(3, 2, 0, 1).reshape(n_out, n_in)  # rows H,W,C -> cols C,H,W
            out.append((name, chw, b))
        else:
            out.append((name, w.T.copy(), b))                     # (in, out) -> (out, in)
    return out


def main():
    npy, pth = sys.argv[1], sys.argv[2]
    state = torch.load(pth)  # weights_only=True
    weights = [k for k in state if k.endswith(".weight")]
    ok = True
    for (name, w, b), key in zip(expected_tensors(npy), weights):
        got_w = state[key].numpy()
        got_b = state[key[: -len("weight")] + "bias"].numpy()
        same = got_w.shape == w.shape and np.array_equal(got_w, w) and np.array_equal(got_b, b)
        print(f"{'ok  ' if same else 'FAIL'} {name} -> {key}: {tuple(got_w.shape)}"
              + ("" if same else f" expected {tuple(w.shape)}, max |diff| {np.abs(got_w - w).max() if got_w.shape == w.shape else 'shape'}"))
        ok = ok and same
    if len(weights) != len(LAYERS):
        print(f"FAIL: {pth} has {len(weights)} weight tensors, expected {len(LAYERS)}")
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
