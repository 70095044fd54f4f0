#!/usr/bin/env python3
"""Writes small HDF5 files (with h5py) whose string attributes are stored in every layout
alexconv's variable-length string check must find before libhdf5 reads them.

Run with the fixture venv:  $(Fixtures/venv.sh) Fixtures/hdf5/make_hdf5_layout_fixtures.py

  v1.h5           h5py defaults: version 1 object headers, version 1 attribute messages; the root
                  gets enough attributes after creation that libhdf5 adds continuation chunks
  latest.h5       libver="latest": OHDR (version 2) headers, version 3 attribute messages; group
                  "dense" has 12 attributes, more than the 8 kept compact, so they go to dense storage
  track_order.h5  track_order=True: version 2 headers whose messages carry a creation-order field
  userblock.h5    a 512-byte user block before the superblock (addresses count from the base address)
  offsets4.h5     4-byte addresses and lengths (a file creation property), long strings in big heap objects
expected.json lists, per file, group and attribute, the strings h5py reads back (null: alexconv
must refuse the attribute with the reason given).
"""
import json
import os

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
VLEN = h5py.string_dtype("utf-8")
ASCII = h5py.string_dtype("ascii")


def put(expected, name, group, attr, value, dtype=None):
    """Writes one attribute and records what h5py reads back."""
    if dtype is None:
        group.attrs[attr] = value
    else:
        group.attrs.create(attr, value, dtype=dtype)
    back = group.attrs[attr]
    if isinstance(back, (str, bytes)):
        back = [back]
    values = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in np.asarray(back, dtype=object).ravel()]
    expected.setdefault(name, {}).setdefault(group.name, {})[attr] = values


def common(expected, name, f):
    put(expected, name, f, "backend", "tensorflow")                              # scalar UTF-8 vlen
    put(expected, name, f, "names", ["conv1", "fc6", "", "schön ✓"], dtype=VLEN)  # array of vlen
    put(expected, name, f, "ascii_names", [b"dense", b"dense_1"], dtype=ASCII)    # ASCII vlen array
    put(expected, name, f, "fixed", np.array([b"conv1", b"fc8"]))                # fixed-length 'S5'
    g = f.create_group("model_weights/conv1")
    put(expected, name, g, "weight_names", ["conv1/kernel:0", "conv1/bias:0"], dtype=VLEN)
    g.create_dataset("conv1/kernel:0", data=np.arange(12, dtype=np.float32).reshape(3, 4))


def main():
    expected = {}
    refusals = {}

    with h5py.File(os.path.join(HERE, "v1.h5"), "w") as f:
        common(expected, "v1.h5", f)
        for i in range(40):  # grows the root header past its first chunk
            put(expected, "v1.h5", f, f"extra{i}", "value %d " % i * 3)

    with h5py.File(os.path.join(HERE, "latest.h5"), "w", libver="latest") as f:
        common(expected, "latest.h5", f)
        dense = f.create_group("dense")
        for i in range(12):
            dense.attrs[f"a{i}"] = f"dense value {i}"
        refusals["latest.h5"] = {"/dense": {"a3": "dense attribute storage"}}

    with h5py.File(os.path.join(HERE, "track_order.h5"), "w", track_order=True) as f:
        common(expected, "track_order.h5", f)

    with h5py.File(os.path.join(HERE, "userblock.h5"), "w", userblock_size=512) as f:
        common(expected, "userblock.h5", f)

    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_sizes(4, 4)
    fid = h5py.h5f.create(os.path.join(HERE, "offsets4.h5").encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl)
    with h5py.File(fid) as f:
        common(expected, "offsets4.h5", f)
        put(expected, "offsets4.h5", f, "model_config", json.dumps({"layers": ["x" * 40] * 300}))  # ~13 KB object

    with open(os.path.join(HERE, "expected.json"), "w") as out:
        json.dump({"read": expected, "refuse": refusals}, out, indent=1, ensure_ascii=False, sort_keys=True)
        out.write("\n")


if __name__ == "__main__":
    main()
