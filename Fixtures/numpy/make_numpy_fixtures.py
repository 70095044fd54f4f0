"""NumPy fixtures for AlexConvNumPy, written by numpy itself (plus one hand-assembled Python 2 pickle).

Run with the fixture venv (numpy 2):   $(../venv.sh) make_numpy_fixtures.py
A second venv with numpy 1.x writes the protocol-3 file when present:
    python3 -m venv .venv-fixtures-np1 && .venv-fixtures-np1/bin/pip install 'numpy<2'
Everything written is committed so `swift test` needs no Python.

Tiny bvlc-shaped model: conv widths [8, 16, 24, 24, 16], groups [1, 2, 1, 2, 2] (in/group 3, 4, 16,
12, 12), fc [32, 32], 10 classes, 227 input (fc6 takes 6*6*16 = 576), weights from
np.random.default_rng(0) scaled 0.05, stored in TF layout: conv (kh, kw, in/groups, out), dense (in, out),
fc6 rows in (H, W, C) order.

With --check-swift DIR: loads the files Swift's exporter wrote into DIR (ALEXCONV_WRITE_FIXTURES=1 swift
test ...) with numpy 2 and numpy 1, compares them with the model, and records CRC-32s in
swift_export_check.json (the Swift test checks its output still has those CRCs).
"""
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NP1_PYTHON = os.path.join(ROOT, ".venv-fixtures-np1", "bin", "python")

CONV = [  # name, kernel, in/groups, out
    ("conv1", 11, 3, 8), ("conv2", 5, 4, 16), ("conv3", 3, 16, 24), ("conv4", 3, 12, 24), ("conv5", 3, 12, 16)]
FC = [("fc6", 576, 32), ("fc7", 32, 32), ("fc8", 32, 10)]
MAP = (16, 6, 6)  # C, H, W before fc6


def tf_weights(seed=0):
    """{name: (W, b)} in TF layout, float32."""
    rng = np.random.default_rng(seed)
    layers = {}
    for name, k, cin, cout in CONV:
        layers[name] = ((rng.standard_normal((k, k, cin, cout)) * 0.05).astype(np.float32),
                        (rng.standard_normal(cout) * 0.05).astype(np.float32))
    for name, fin, fout in FC:
        layers[name] = ((rng.standard_normal((fin, fout)) * 0.05).astype(np.float32),
                        (rng.standard_normal(fout) * 0.05).astype(np.float32))
    return layers


def canonical(layers):
    """{canonical name: array} in channels-first layout (OIHW, (out, in), fc6 columns in C,H,W order)."""
    out = {}
    for name, (w, b) in layers.items():
        if w.ndim == 4:
            out[name + ".weight"] = np.ascontiguousarray(w.transpose(3, 2, 0, 1))
        elif name == "fc6":
            c, h, wd = MAP
            out[name + ".weight"] = np.ascontiguousarray(w.reshape(h, wd, c, -1).transpose(3, 2, 0, 1).reshape(-1, c * h * wd))
        else:
            out[name + ".weight"] = np.ascontiguousarray(w.T)
        out[name + ".bias"] = b
    return out


# MARK: - Python 2 style pickle, assembled by hand

class Py2Pickler:
    """Emits the opcodes Python 2's cPickle writes at protocol 2 for numpy arrays in a dict."""

    def __init__(self):
        self.out = bytearray(b"\x80\x02")
        self.memo = 0

    def put(self):
        self.out += b"q" + bytes([self.memo])
        self.memo += 1
        return self.memo - 1

    def int(self, v):
        if 0 <= v < 256:
            self.out += b"K" + bytes([v])
        elif 0 <= v < 65536:
            self.out += b"M" + struct.pack("<H", v)
        else:
            self.out += b"J" + struct.pack("<i", v)

    def str(self, s):  # Python 2 str
        s = s if isinstance(s, bytes) else s.encode("latin1")
        if len(s) < 256:
            self.out += b"U" + bytes([len(s)]) + s
        else:
            self.out += b"T" + struct.pack("<i", len(s)) + s
        self.put()

    def dtype(self, code, endian, flags):
        self.out += b"cnumpy\ndtype\n"
        self.put()
        self.str(code)
        self.int(0)
        self.int(1)  # Python 2 writes the bools as ints
        self.out += b"\x87R"
        self.put()
        self.out += b"("
        self.int(3)
        self.str(endian)
        self.out += b"NNN"
        self.int(-1)
        self.int(-1)
        self.int(flags)
        self.out += b"tb"

    def array_start(self):
        self.out += b"cnumpy.core.multiarray\n_reconstruct\n"
        self.put()
        self.out += b"cnumpy\nndarray\n"
        self.put()
        self.int(0)
        self.out += b"\x85"
        self.put()
        self.str(b"b")
        self.out += b"\x87R"
        self.put()

    def array(self, a):
        self.array_start()
        self.out += b"("
        self.int(1)
        if 1 <= a.ndim <= 3:  # TUPLE1..3 as cPickle writes them
            for d in a.shape:
                self.int(d)
            self.out += {1: b"\x85", 2: b"\x86", 3: b"\x87"}[a.ndim]
        else:
            self.out += b"("
            for d in a.shape:
                self.int(d)
            self.out += b"t"
        self.put()
        self.dtype("f4", "<", 0)
        self.out += b"\x89"  # NEWFALSE (is_fortran)
        self.str(a.astype("<f4").tobytes())
        self.out += b"tb"
        self.put()


def python2_bvlc_npy(layers):
    p = Py2Pickler()
    p.array_start()
    p.out += b"("
    p.int(1)
    p.out += b")"
    p.dtype("O8", "|", 63)
    p.out += b"\x89]"
    p.put()
    p.out += b"}"
    p.put()
    p.out += b"("
    for name in ["fc6", "conv1", "fc7", "conv3", "conv2", "fc8", "conv5", "conv4"]:  # Python 2 hash order
        w, b = layers[name]
        p.str(name)
        p.out += b"]"
        p.put()
        p.out += b"("
        p.array(w)
        p.array(b)
        p.out += b"e"
    p.out += b"ua"  # SETITEMS, APPEND the dict to the object list
    p.out += b"tb."
    # numpy 1.x-era v1 header: '|O8', padded to a multiple of 16.
    header = "{'descr': '|O8', 'fortran_order': False, 'shape': (), }"
    total = 10 + len(header) + 1
    header += " " * ((16 - total % 16) % 16) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + bytes(p.out)


# MARK: - Plain arrays with every header and layout variant

def plain_arrays():
    rng = np.random.default_rng(1)
    base = (rng.standard_normal((3, 4)) * 0.05).astype(np.float32)
    cube = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 8
    return {
        "plain_f4": base,
        "big_endian_f4": base.astype(">f4"),
        "big_endian_f8": base.astype(">f8"),
        "fortran_f4": np.asfortranarray(cube),
        "half_f2": (rng.standard_normal(7) * 0.05).astype(np.float16),
        "double_f8": base.astype(np.float64),
        "bytes_u1": np.arange(10, dtype=np.uint8),
        "ints_i8": np.array([-3, 0, 1 << 40], dtype=np.int64),
        "scalar_f4": np.array(2.5, dtype=np.float32),
        "empty_f4": np.zeros((0, 3), dtype=np.float32),
    }


def write_plain(directory):
    expected = {}
    for name, a in plain_arrays().items():
        np.save(os.path.join(directory, name + ".npy"), a)
        expected[name] = {"shape": list(a.shape), "values": [float(v) for v in np.asarray(a, dtype=np.float64).ravel(order="C")]}
    # Version 2.0 and 3.0 headers, written by numpy's own format module.
    a = plain_arrays()["plain_f4"]
    for version in [(2, 0), (3, 0)]:
        with open(os.path.join(directory, f"header_v{version[0]}.npy"), "wb") as f:
            np.lib.format.write_array(f, a, version=version)
        expected[f"header_v{version[0]}"] = expected["plain_f4"]
    # Python 2 style header: `3L` shapes, '|O8'-era padding to 16 (numpy reads it with a warning).
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4L), }"
    total = 10 + len(header) + 1
    header += " " * ((16 - total % 16) % 16) + "\n"
    with open(os.path.join(directory, "python2_header.npy"), "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + a.tobytes())
    assert np.array_equal(np.load(os.path.join(directory, "python2_header.npy")), a)
    expected["python2_header"] = expected["plain_f4"]
    return expected


def spot_values(layers_by_name):
    """Index-by-index expectations: shape, float64 sum and 64 evenly spaced values per tensor (C order)."""
    out = {}
    for name, a in layers_by_name.items():
        flat = a.ravel()
        idx = np.unique(np.linspace(0, flat.size - 1, num=min(64, flat.size)).astype(int))
        out[name] = {"shape": list(a.shape), "sum": float(flat.astype(np.float64).sum()),
                     "indices": idx.tolist(), "values": [float(flat[i]) for i in idx]}
    return out


NP1_SCRIPT = r"""
import sys, numpy as np
src, dst = sys.argv[1], sys.argv[2]
z = np.load(src)
names = sorted({k.rsplit('_', 1)[0] for k in z.files})
np.save(dst, {n: [z[n + '_W'], z[n + '_b']] for n in names})
print(np.__version__)
"""


def main():
    layers = tf_weights()
    bvlc = {n: [w, b] for n, (w, b) in layers.items()}

    # npy dict files.
    np.save(os.path.join(HERE, "bvlc_np2.npy"), bvlc)                                   # protocol 4
    np.save(os.path.join(HERE, "caffe_tf.npy"), {n: {"weights": w, "biases": b} for n, (w, b) in layers.items()})
    with open(os.path.join(HERE, "bvlc_py2.npy"), "wb") as f:
        f.write(python2_bvlc_npy(layers))
    for encoding in ("latin1", "bytes"):
        loaded = np.load(os.path.join(HERE, "bvlc_py2.npy"), allow_pickle=True, encoding=encoding).item()
        key = "conv2" if encoding == "latin1" else b"conv2"
        assert np.array_equal(loaded[key][0], layers["conv2"][0]), encoding
    if os.path.exists(NP1_PYTHON):
        tmp = os.path.join(HERE, "_tmp_weights.npz")
        np.savez(tmp, **{f"{n}_W": w for n, (w, b) in layers.items()}, **{f"{n}_b": b for n, (w, b) in layers.items()})
        version = subprocess.check_output([NP1_PYTHON, "-c", NP1_SCRIPT, tmp, os.path.join(HERE, "bvlc_np1.npy")], text=True)
        os.remove(tmp)
        print("numpy 1.x wrote bvlc_np1.npy:", version.strip())
    else:
        print("no numpy 1.x venv; bvlc_np1.npy not rewritten")

    # npz in three key styles, stored and deflated.
    tf_keys = {}
    for n, (w, b) in layers.items():
        tf_keys[f"{n}_W"], tf_keys[f"{n}_b"] = w, b
    slash_keys = {}
    for n, (w, b) in layers.items():
        slash_keys[f"{n}/weights"], slash_keys[f"{n}/biases"] = w, b
    torch_keys = canonical(layers)
    for style, arrays in [("tf", tf_keys), ("slash", slash_keys), ("torch", torch_keys)]:
        np.savez(os.path.join(HERE, f"{style}_keys_stored.npz"), **arrays)
        np.savez_compressed(os.path.join(HERE, f"{style}_keys_deflated.npz"), **arrays)

    # Plain arrays.
    plain_dir = os.path.join(HERE, "plain")
    os.makedirs(plain_dir, exist_ok=True)
    plain_expected = write_plain(plain_dir)

    # numpy's own Python 2/3 test files.
    tests_dir = os.path.join(os.path.dirname(np.__file__), "lib", "tests", "data")
    copied = os.path.join(HERE, "numpy_tests")
    os.makedirs(copied, exist_ok=True)
    if os.path.isdir(tests_dir):
        for name in sorted(os.listdir(tests_dir)):
            if name.endswith((".npy", ".npz")):
                shutil.copy(os.path.join(tests_dir, name), os.path.join(copied, name))

    expected = {
        "tf": spot_values({f"{n}/{i}": a for n, pair in bvlc.items() for i, a in enumerate(pair)}),
        "canonical": spot_values(torch_keys),
        "plain": plain_expected,
        "layer_order": list(layers.keys()),
    }
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
    print("wrote fixtures")


def check_swift(directory):
    """Loads the exporter's output with numpy 2 and numpy 1 and records what was checked."""
    layers = tf_weights()
    torch_keys = canonical(layers)
    report = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        data = open(path, "rb").read()
        entry = {"bytes": len(data), "crc32": zlib.crc32(data)}
        if name.endswith(".npy"):
            for encoding in ("ASCII", "bytes", "latin1"):
                d = np.load(path, allow_pickle=True, encoding=encoding).item()
                for n, (w, b) in layers.items():
                    assert np.array_equal(d[n][0], w) and np.array_equal(d[n][1], b), (name, n)
            entry["numpy2"] = "np.load(allow_pickle=True).item() equals the TF-layout weights"
        else:
            z = np.load(path)
            if "canonical" in name:
                for k, a in torch_keys.items():
                    assert np.array_equal(z[k], a), (name, k)
            else:
                for n, (w, b) in layers.items():
                    assert np.array_equal(z[n + "_W"], w) and np.array_equal(z[n + "_b"], b), (name, n)
            with zipfile.ZipFile(path) as zf:
                entry["members"] = [i.filename for i in zf.infolist()]
                reference = io.BytesIO()
                first = zf.infolist()[0]
                np.save(reference, z[first.filename[:-4]])
                entry["first_member_equals_np_save"] = zf.read(first) == reference.getvalue()
            entry["numpy2"] = "np.load equals the expected arrays"
        if os.path.exists(NP1_PYTHON):
            script = ("import sys, numpy as np; p = sys.argv[1]\n"
                      "d = np.load(p, allow_pickle=True, encoding='latin1')\n"
                      "d = d.item() if p.endswith('.npy') else dict(d)\n"
                      "print(np.__version__, len(d))")
            entry["numpy1"] = subprocess.check_output([NP1_PYTHON, "-c", script, path], text=True).strip()
        report[name] = entry
        print(name, entry)
    with open(os.path.join(HERE, "swift_export_check.json"), "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check-swift":
        check_swift(sys.argv[2])
    else:
        main()
