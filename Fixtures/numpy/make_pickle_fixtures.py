"""Pickle fixtures for AlexConvPickle, written by CPython's own pickle module.

Run with the fixture venv:  $(../venv.sh) make_pickle_fixtures.py
Writes (all committed):
  pickle/sample_p{0..5}.pkl   one structure pickled with every protocol
  pickle/python2_strings.pkl  hand-assembled protocol 0/2 opcodes Python 2 emits (STRING, BINSTRING, INT, LONG)
  hostile/*.pkl               pickles that must be refused without running anything
And, when Swift has written pickle/writer_*.pkl (ALEXCONV_WRITE_FIXTURES=1 swift test ...), checks
them with pickle.loads, pickletools.dis and torch's weights_only unpickler, writing *.check.txt.
"""
import collections
import io
import os
import pickle
import pickletools
import struct
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
PICKLE = os.path.join(HERE, "pickle")
HOSTILE = os.path.join(HERE, "hostile")


def sample():
    shared = [7, 8]
    return {
        "small": 1,
        "byte": 255,
        "short": 65535,
        "negative": -300,
        "int32": -(2**31),
        "int64": 2**40,
        "big": 2**70,
        "float": 1.5,
        "str": "h\u00e9llo \u2603",
        "bytes": b"\x00\x01\xff\x80",
        "tuple": (1, 2, 3),
        "nested": [1, [2, [3, None]], (True, False)],
        "shared": (shared, shared),
        "set": {4},
        "frozen": frozenset([5]),
        "ordered": collections.OrderedDict([("a", 1), ("b", 2)]),
    }


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def make_samples():
    for protocol in range(6):
        write(os.path.join(PICKLE, f"sample_p{protocol}.pkl"), pickle.dumps(sample(), protocol=protocol))


def make_python2_strings():
    # What Python 2 pickle writes for str and ints, assembled by hand (Python 3 cannot emit STRING).
    p = b"(dp0\n"                                    # MARK DICT PUT 0  (protocol 0)
    p += b"S'key'\np1\n" + b"S'a\\x00\\n\\'b'\np2\n" + b"s"      # 'key': 'a\x00\n\'b'
    p += b"S'int'\np3\nI42\ns"                       # INT
    p += b"S'flag'\np4\nI01\ns"                       # INT 01 -> True
    p += b"S'long'\np5\nL12345678901234L\ns"          # LONG with L suffix
    p += b"S'float'\np6\nF2.5\ns"                     # FLOAT
    p += b"S'uni'\np7\nVcaf\\u00e9\np8\ns"            # UNICODE raw-unicode-escape
    p += b"S'again'\np9\ng1\ns"                       # GET 1 -> 'key'
    p += b"."
    pickletools.dis(p, out=io.StringIO())           # validates the opcodes
    assert pickle.loads(p, encoding="latin1")["long"] == 12345678901234
    write(os.path.join(PICKLE, "python2_strings_p0.pkl"), p)
    # Protocol 2: SHORT_BINSTRING, BINSTRING, BININT, LONG1.
    q = b"\x80\x02}q\x00(U\x03keyq\x01T\x04\x00\x00\x00\xff\x00ab"
    q += b"U\x03numJ\xfe\xff\xff\xff"
    q += b"U\x04long\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01"
    q += b"u."
    assert pickle.loads(q, encoding="bytes")[b"key"] == b"\xff\x00ab"
    write(os.path.join(PICKLE, "python2_strings_p2.pkl"), q)


class Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def make_hostile():
    import builtins
    files = {
        # GLOBAL 'os system' spelled by hand (pickle writes posix.system on Linux).
        "os_system": b"\x80\x02cos\nsystem\nq\x00X\x0b\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03.",
        "posix_system": pickle.dumps(Reduce(os.system, ("echo pwned",)), protocol=2),
        "builtins_eval": pickle.dumps(Reduce(builtins.eval, ("__import__('os').system('echo pwned')",)), protocol=2),
        "builtins_getattr": pickle.dumps(Reduce(builtins.getattr, (Reduce(builtins.__import__, ("os",)), "system")), protocol=2),
        "subprocess_popen": pickle.dumps(Reduce(subprocess.Popen, (["echo", "pwned"],)), protocol=4),
        # A REDUCE chain: the callable is itself the result of a REDUCE (getattr(os-ish, 'system')(...)).
        "reduce_chain": b"\x80\x02c_codecs\nencode\n(X\x01\x00\x00\x00aX\x06\x00\x00\x00latin1tR(X\x02\x00\x00\x00idtR.",
        # Protocol 0 INST of a refused class.
        "inst_popen": b"(S'echo pwned'\nisubprocess\nPopen\np0\n.",
        # LONG_BINGET of an index never PUT.
        "huge_memo_index": b"\x80\x02]q\x00j\xff\xff\xff\xff.",
        # BINBYTES claiming 4 GiB with 3 bytes of data.
        "lying_binbytes": b"\x80\x03B\xff\xff\xff\xffabc.",
        # BINUNICODE8 claiming 2^63 bytes.
        "lying_binunicode8": b"\x80\x04\x8d\x00\x00\x00\x00\x00\x00\x00\x80abc.",
        # BINSTRING with a negative length.
        "negative_binstring": b"\x80\x02T\xff\xff\xff\xffabc.",
        # FRAME bigger than the file.
        "lying_frame": b"\x80\x04\x95\x00\x00\x00\x00\x01\x00\x00\x00N.",
        # An opcode that does not exist, and EXT1 (extension registry, refused).
        "unknown_opcode": b"\x80\x02\xffN.",
        "ext1": b"\x80\x02\x82\x01.",
        # A list appended to itself (a cycle).
        "self_append": b"\x80\x02]q\x00h\x00a.",
        # STOP missing.
        "no_stop": b"\x80\x02N",
    }
    for name, data in files.items():
        write(os.path.join(HOSTILE, name + ".pkl"), data)
    # Confirm Python's own unpickler sees the globals we claim (without loading them).
    for name in ("posix_system", "builtins_eval", "builtins_getattr", "subprocess_popen"):
        ops = [arg for op, arg, _ in pickletools.genops(files[name]) if op.name in ("GLOBAL", "SHORT_BINUNICODE")]
        print(name, ops[:2])


class RecordingUnpickler(pickle.Unpickler):
    """CPython's unpickler; torch globals and persistent ids are recorded instead of resolved."""

    def persistent_load(self, pid):
        return ("persistent", pid)

    def find_class(self, module, name):
        if module.startswith("torch"):
            return Recorded(f"{module}.{name}")
        return super().find_class(module, name)


class Recorded:
    """A torch global as a name: calling it records the call."""

    def __init__(self, name):
        self.name = name

    def __call__(self, *args):
        return (self.name, args)

    def __repr__(self):
        return self.name


def check_swift_writer_output():
    for name in sorted(os.listdir(PICKLE)):
        if not (name.startswith("writer_") and name.endswith(".pkl")):
            continue
        path = os.path.join(PICKLE, name)
        data = open(path, "rb").read()
        out = io.StringIO()
        pickletools.dis(data, out=out)
        value = RecordingUnpickler(io.BytesIO(data)).load()
        lines = ["pickle.Unpickler: " + repr(value), "", out.getvalue()]
        try:
            import torch
            import torch._weights_only_unpickler as wou

            unpickler = wou.Unpickler(io.BytesIO(data))
            unpickler.persistent_load = lambda pid: torch.storage.TypedStorage(
                wrap_storage=torch.arange(24, dtype=torch.float32).untyped_storage(), dtype=torch.float32, _internal=True)
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loaded = unpickler.load()
            lines.insert(1, "torch weights_only unpickler: " + repr(loaded))
        except ImportError:
            lines.insert(1, "torch weights_only unpickler: torch not installed")
        except Exception as error:  # recorded, so the Swift test fails on it
            lines.insert(1, "torch weights_only unpickler: REFUSED " + repr(error))
        with open(path[:-4] + ".check.txt", "w") as f:
            f.write("\n".join(lines))
        print("checked", name, lines[1][:100])


if __name__ == "__main__":
    os.makedirs(PICKLE, exist_ok=True)
    os.makedirs(HOSTILE, exist_ok=True)
    make_samples()
    make_python2_strings()
    make_hostile()
    check_swift_writer_output()
