"""Hostile weight files for the umbrella-level hostile-file suite (Tests/AlexConvTests/Hostile*.swift).

Every file is written by the real library it imitates (pickle, zipfile, numpy, torch, h5py) so the
bytes are what an attacker would actually ship; each one must be refused with a clear error
(exit code 3) and must never run code, crash, hang or allocate beyond alexconv's limits.
Run with the fixture venv: $(Fixtures/venv.sh) Fixtures/hostile/make_hostile_fixtures.py
"""
import io
import os
import pickle
import struct
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def out(name):
    return os.path.join(HERE, name)


# MARK: - Pickles whose loading would run code (every protocol CPython writes)

class Call:
    """An object whose pickle calls `func(*args)` on load (the classic __reduce__ payload)."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)

    def __call__(self, *args):  # pickle wants a callable in a reduce tuple; never called here
        raise RuntimeError("not callable while writing fixtures")


class Chain:
    """__reduce__ whose argument is itself a call: getattr(__import__('os'), 'system')('id')."""

    def __reduce__(self):
        import builtins
        return (Call(builtins.getattr, (Call(builtins.__import__, ("os",)), "system")), ("id",))


def payloads():
    import builtins
    import subprocess
    return {
        "os_system": Call(os.system, ("touch /tmp/alexconv-pwned",)),
        "builtins_eval": Call(builtins.eval, ("__import__('os').system('id')",)),
        "builtins_exec": Call(builtins.exec, ("import os",)),
        "builtins_getattr": Call(builtins.getattr, (Call(builtins.__import__, ("os",)), "system")),
        "subprocess_popen": Call(subprocess.Popen, (["id"],)),
        "subprocess_check_output": Call(subprocess.check_output, (["id"],)),
        "reduce_chain": Chain(),
    }


def hostile_pickles():
    files = {}
    for name, payload in payloads().items():
        for protocol in (0, 2, 4):
            files[f"{name}_p{protocol}"] = pickle.dumps(payload, protocol=protocol)
    # A state dict whose value is the payload: refusal must happen inside a real-looking file.
    files["state_dict_with_payload_p2"] = pickle.dumps(
        {"conv1.weight": payloads()["os_system"]}, protocol=2)
    return files


def write_npy_object(path, pickled):
    """An .npy object array header (what np.save of a dict writes) followed by `pickled`."""
    header = np.lib.format.header_data_from_array_1_0(np.empty((), dtype=object))
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    with open(path, "wb") as f:
        f.write(buffer.getvalue())
        f.write(pickled)


def write_torch_zip(path, pickled, records=None):
    """The torch.save zip layout (archive/data.pkl, archive/data/<key>, version) with `pickled`."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickled)
        z.writestr("archive/byteorder", "little")
        for key, data in (records or {}).items():
            z.writestr(f"archive/data/{key}", data)
        z.writestr("archive/version", "3\n")


def write_torch_legacy(path, pickled):
    """The pre-1.6 torch.save stream: magic, protocol version, sys info, then `pickled`."""
    with open(path, "wb") as f:
        pickle.dump(0x1950A86A20F9469CFC6C, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": True,
                     "type_sizes": {"short": 2, "int": 4, "long": 4}}, f, protocol=2)
        f.write(pickled)


# MARK: - torch files with bad storage references

class Storage:
    """Stands in for a storage in a persistent id (what torch's pickler emits)."""

    def __init__(self, pid):
        self.pid = pid


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, Storage) else None


class Rebuild:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, {})

    def __reduce__(self):
        import torch._utils
        return (torch._utils._rebuild_tensor_v2, self.args)


def torch_pickle(state):
    import collections
    buffer = io.BytesIO()
    TorchPickler(buffer, protocol=2).dump(collections.OrderedDict(state))
    return buffer.getvalue()


def bad_storage_files():
    import torch  # noqa: F401  (the rebuild functions must be importable, as torch writes them)
    floats = np.arange(16, dtype="<f4").tobytes()
    float_storage = __import__("torch").FloatStorage

    def pid(key, numel, storage_type=None):
        return ("storage", storage_type or float_storage, key, "cpu", numel)

    cases = {
        # data/7 is not in the archive
        "missing_record": ({"w": Rebuild(Storage(pid("7", 16)), 0, [4, 4], [4, 1])}, {"0": floats}),
        # the record holds 16 floats, the storage says 1<<40
        "numel_beyond_record": ({"w": Rebuild(Storage(pid("0", 1 << 40)), 0, [1 << 20, 1 << 20], [1 << 20, 1])}, {"0": floats}),
        # the view reaches past its storage (offset 10 + 4x4)
        "view_past_storage": ({"w": Rebuild(Storage(pid("0", 16)), 10, [4, 4], [4, 1])}, {"0": floats}),
        # negative offset and stride
        "negative_offset": ({"w": Rebuild(Storage(pid("0", 16)), -4, [4, 4], [4, 1])}, {"0": floats}),
        "negative_stride": ({"w": Rebuild(Storage(pid("0", 16)), 0, [4, 4], [-4, 1])}, {"0": floats}),
        # sizes whose element count overflows 64 bits
        "overflowing_size": ({"w": Rebuild(Storage(pid("0", 16)), 0, [1 << 62, 1 << 62], [1, 1])}, {"0": floats}),
        # record shorter than numel * element size
        "short_record": ({"w": Rebuild(Storage(pid("0", 16)), 0, [4, 4], [4, 1])}, {"0": floats[:20]}),
        # a persistent id that is not a storage tuple
        "bad_persistent_id": ({"w": Rebuild(Storage(("module", "os.system")), 0, [1], [1])}, {}),
        # record key escaping the archive folder
        "path_key": ({"w": Rebuild(Storage(pid("../../etc/passwd", 16)), 0, [4, 4], [4, 1])}, {"0": floats}),
    }
    for name, (state, records) in cases.items():
        write_torch_zip(out(f"torch_{name}.pth"), torch_pickle(state), records)


# MARK: - npz bombs (real zipfile + zlib)

def npz_bombs():
    # One member: an .npy header claiming 256 MiB of float32 zeros, deflated (zlib level 9) to ~250 KB
    # would be too big for the repository; 64 MiB deflates to ~65 KB and exercises the inflate path
    # with a ratio of ~1000:1 (legal deflate, within the limits: it must read cleanly or be refused
    # by the allocation limit, never blow up).
    count = 16 << 20
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (count,)})
    with zipfile.ZipFile(out("npz_deflate_64mib.npz"), "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("conv1_W.npy", "w", force_zip64=True) as member:
            member.write(header.getvalue())
            zeros = bytes(1 << 20)
            for _ in range(count * 4 // len(zeros)):
                member.write(zeros)
    # Many small members (numpy writes one per array): 600 one-element arrays.
    with zipfile.ZipFile(out("npz_many_members.npz"), "w", compression=zipfile.ZIP_DEFLATED) as z:
        for i in range(600):
            b = io.BytesIO()
            np.save(b, np.zeros(1, dtype="<f4"))
            z.writestr(f"a{i}.npy", b.getvalue())


# MARK: - HDF5 bomb: a tiny file with a huge, never-written chunked dataset (h5py)

def hdf5_bombs():
    import h5py
    with h5py.File(out("h5_unwritten_huge_dataset.h5"), "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        g = f.create_group("conv1")
        g.attrs["weight_names"] = np.array([b"conv1/kernel:0"])
        f.attrs["layer_names"] = np.array([b"conv1"])
        # 2^33 float32 = 32 GiB of fill values; the file stays a few KB
        g.create_dataset("conv1/kernel:0", shape=(1 << 11, 1 << 11, 1 << 11), dtype="<f4",
                         chunks=(64, 64, 64), compression="gzip")
    with h5py.File(out("h5_gzip_bomb.h5"), "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        g = f.create_group("conv1")
        g.attrs["weight_names"] = np.array([b"conv1/kernel:0"])
        f.attrs["layer_names"] = np.array([b"conv1"])
        # 64 MiB of zeros in gzip chunks (~70 KB on disk)
        d = g.create_dataset("conv1/kernel:0", shape=(16 << 20,), dtype="<f4", chunks=(1 << 20,), compression="gzip",
                             compression_opts=9)
        d[...] = 0


def main():
    for name, data in hostile_pickles().items():
        with open(out(f"{name}.pkl"), "wb") as f:
            f.write(data)
        write_npy_object(out(f"{name}.npy"), data)
        write_torch_zip(out(f"{name}.pth"), data)
        write_torch_legacy(out(f"{name}_legacy.pth"), data)
    bad_storage_files()
    npz_bombs()
    hdf5_bombs()


if __name__ == "__main__":
    main()
