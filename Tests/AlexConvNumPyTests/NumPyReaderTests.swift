import AlexConvCore
import AlexConvNumPy
import AlexConvPickle
import Foundation
import TestSupport
import Testing

let bvlcNames = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"].flatMap { ["\($0)/0", "\($0)/1"] }

@Suite("npy pickled dicts: bvlc and caffe-tensorflow styles")
struct NumPyDictTests {
    @Test(
        "bvlc {name: [W, b]} from numpy 2, numpy 1 and Python 2",
        arguments: [
            ("bvlc_np2.npy", "4"), ("bvlc_np1.npy", "3"), ("bvlc_py2.npy", "2"),
        ])
    func bvlc(file: String, protocolVersion: String) throws {
        let bundle = try NumPyReader.read(path: numpyFixture(file))
        #expect(bundle.format == "npy (pickled dict, bvlc style {name: [W, b]})")
        #expect(bundle.layout == .channelsLast)
        #expect(bundle.metadata["pickle.protocol"] == protocolVersion)
        #expect(Set(bundle.tensors.map(\.name)) == Set(bvlcNames))
        for name in bvlcNames { expectSpotValues(bundle[name], ExpectedValues.shared.tf[name], "\(file) \(name)") }
        #expect(bundle.layerHints?.first(where: { $0.name == "conv2" })?.tensorNames == ["conv2/0", "conv2/1"])
        // Zero-copy: every tensor views the memory map of the whole file.
        let size = try #require(try FileManager.default.attributesOfItem(atPath: numpyFixture(file))[.size] as? Int)
        #expect(bundle.tensors.allSatisfy { $0.tensor.storage.bytes.count == size })
    }

    @Test("Python 2 file: latin-1 str keys, BINSTRING data, hash-ordered keys sorted naturally")
    func pythonTwo() throws {
        let bundle = try NumPyReader.read(path: numpyFixture("bvlc_py2.npy"))
        #expect(bundle.metadata["pickle.python2"] == "true")
        #expect(bundle.tensors.map(\.name) == bvlcNames)
        #expect(bundle.notes.contains { $0.contains("sorted naturally") })
        let reference = try NumPyReader.read(path: numpyFixture("bvlc_np2.npy"))
        expectBitIdentical(bundle, reference)
    }

    @Test("caffe-tensorflow {name: {'weights': W, 'biases': b}}")
    func caffeTensorFlow() throws {
        let bundle = try NumPyReader.read(path: numpyFixture("caffe_tf.npy"))
        #expect(bundle.format.contains("caffe-tensorflow style"))
        #expect(bundle.layout == .channelsLast)
        let reference = try NumPyReader.read(path: numpyFixture("bvlc_np2.npy"))
        expectBitIdentical(bundle, reference) { $0.replacingOccurrences(of: "/0", with: "/weights").replacingOccurrences(of: "/1", with: "/biases") }
    }

    @Test("truncated anywhere, a pickled dict file is refused with a FormatError")
    func truncated() throws {
        let data = Array(try #require(FileManager.default.contents(atPath: numpyFixture("bvlc_np2.npy"))))
        var lengths = Array(0..<2048)
        lengths += stride(from: 2048, to: data.count - 1, by: 977)
        lengths.append(data.count - 1)
        for length in lengths {
            let error = formatError { _ = try NumPyReader.bundle(storage: ByteStorage(copying: Array(data[0..<length])), path: "t.npy") }
            #expect(error != nil, "prefix of \(length) bytes")
        }
    }

    @Test("an object npy whose pickle calls os.system is refused, naming the global")
    func hostileObjectArray() throws {
        let pickle = Array(try #require(FileManager.default.contents(atPath: FixturePaths.path("numpy/hostile/os_system.pkl"))))
        let bytes = NpyHeader.encode(elementType: .object, shape: []) + pickle
        let error = formatError { _ = try NumPyReader.bundle(storage: ByteStorage(copying: bytes), path: "evil.npy") }
        #expect(error?.description.contains("refused pickle global 'os.system'") == true, "\(String(describing: error))")
    }

    @Test("an array whose data is shorter than its shape is refused")
    func lyingArrayData() throws {
        let w = PickleWriter(protocolVersion: 3)
        w.global(module: "numpy.core.multiarray", name: "_reconstruct")
        w.global(module: "numpy", name: "ndarray")
        w.int(0)
        w.tuple(ofLast: 1)
        try w.bytes([0x62])
        w.tuple(ofLast: 3)
        w.reduce()
        w.tuple {
            w.int(1)
            w.tuple {
                w.int(1000)
                w.int(1000)
            }
            w.call(module: "numpy", name: "dtype") {
                w.string("f4")
                w.bool(false)
                w.bool(true)
            }
            w.bool(false)
            try? w.bytes([1, 2, 3, 4])
        }
        w.build()
        w.stop()
        let bytes = NpyHeader.encode(elementType: .object, shape: []) + w.takeBytes()
        let error = formatError { _ = try NumPyReader.bundle(storage: ByteStorage(copying: bytes), path: "short.npy") }
        #expect(error?.description.contains("needs 4000000 bytes, the pickle holds 4") == true, "\(String(describing: error))")
    }
}

@Suite("npz archives")
struct NPZReaderTests {
    @Test("three key styles, stored and deflated", arguments: ["stored", "deflated"])
    func keyStyles(compression: String) throws {
        let reference = try NumPyReader.read(path: numpyFixture("bvlc_np2.npy"))
        let tf = try NPZReader.read(path: numpyFixture("tf_keys_\(compression).npz"))
        #expect(tf.format == "npz (\(compression))")
        #expect(tf.layout == nil)
        expectBitIdentical(tf, reference) { $0.replacingOccurrences(of: "/0", with: "_W").replacingOccurrences(of: "/1", with: "_b") }
        let slash = try NPZReader.read(path: numpyFixture("slash_keys_\(compression).npz"))
        expectBitIdentical(slash, reference) { $0.replacingOccurrences(of: "/0", with: "/weights").replacingOccurrences(of: "/1", with: "/biases") }
        let torch = try NPZReader.read(path: numpyFixture("torch_keys_\(compression).npz"))
        #expect(torch.tensors.count == 16)
        for (name, spot) in ExpectedValues.shared.canonical { expectSpotValues(torch[name], spot, "npz \(name)") }
        // Canonical keys hold what the manual inverse of the bvlc file gives.
        let model = try canonicalModel(fromBvlc: reference)
        for named in model.tensors {
            #expect(torch[named.name]?.bitwiseEqual(named.tensor.contiguous()) == true, "\(named.name)")
        }
    }

    @Test("stored members view the archive's memory map")
    func zeroCopy() throws {
        let bundle = try NPZReader.read(path: numpyFixture("tf_keys_stored.npz"))
        let size = try #require(try FileManager.default.attributesOfItem(atPath: numpyFixture("tf_keys_stored.npz"))[.size] as? Int)
        #expect(bundle.tensors.allSatisfy { $0.tensor.storage.bytes.count < size })  // a view of one member
        #expect(NPZReader.matches(path: "w.npz", prefix: UnsafeRawBufferPointer(start: [UInt8]([0x50, 0x4B, 3, 4]), count: 4)))
    }
}

@Suite("numpy's own Python 2/3 test files")
struct NumPyTestFileTests {
    @Test("numeric files from Python 3 and from 64-bit Windows Python 2 (`2L` shapes)", arguments: ["python3.npy", "win64python2.npy"])
    func numeric(file: String) throws {
        let bundle = try NumPyReader.read(path: numpyFixture("numpy_tests/\(file)"))
        #expect(bundle.tensors.first?.tensor.doubles() == [1, 1])
        #expect(bundle.tensors.first?.tensor.shape == [2])
    }

    /// These object arrays hold `range`/`xrange` classes next to strings: not weights, and loading
    /// them would mean trusting a builtin. They are refused with the global named.
    @Test(
        "object arrays holding Python classes are refused, naming the global",
        arguments: [
            ("py2-objarr.npy", "refused pickle global '__builtin__.xrange'"),
            ("py2-np0-objarr.npy", "refused pickle global"),
            ("py3-objarr.npy", "refused pickle global 'builtins.range'"),
        ])
    func objectArrays(file: String, message: String) throws {
        let error = formatError { _ = try NumPyReader.read(path: numpyFixture("numpy_tests/\(file)")) }
        #expect(error?.description.contains(message) == true, "\(String(describing: error))")
        #expect(error?.file == numpyFixture("numpy_tests/\(file)"))
    }

    @Test("npz with object members is refused the same way", arguments: ["py2-objarr.npz", "py3-objarr.npz"])
    func objectNpz(file: String) throws {
        let error = formatError { _ = try NPZReader.read(path: numpyFixture("numpy_tests/\(file)")) }
        #expect(error?.description.contains("refused pickle global") == true, "\(String(describing: error))")
    }
}
