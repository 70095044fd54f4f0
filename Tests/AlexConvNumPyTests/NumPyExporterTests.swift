import AlexConvCore
import AlexConvNumPy
import AlexConvZip
import Foundation
import TestSupport
import Testing

/// Where the exporter tests leave their output for `make_numpy_fixtures.py --check-swift`.
let swiftWrittenDirectory = NSTemporaryDirectory() + "alexconv-numpy-swift-written"

/// Exports `model` to a temporary file (also to `swiftWrittenDirectory` when rewriting fixtures).
func exported(_ model: Model, format: String, naming: String? = nil, file: String) throws -> String {
    let directory = FixturePaths.temporaryDirectory("numpy-export")
    let path = directory + "/" + file
    try NumPyExporter.export(model, format: format, to: path, options: ExportOptions(naming: naming))
    if ProcessInfo.processInfo.environment["ALEXCONV_WRITE_FIXTURES"] == "1" {
        try? FileManager.default.createDirectory(atPath: swiftWrittenDirectory, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: swiftWrittenDirectory + "/" + file)
        try FileManager.default.copyItem(atPath: path, toPath: swiftWrittenDirectory + "/" + file)
    }
    return path
}

/// `swift_export_check.json`: what numpy 2 and numpy 1 said about the exporter's output, with its CRC.
struct ExportCheck: Decodable {
    let bytes: Int
    let crc32: UInt32
    let numpy2: String
    let numpy1: String?
}

func expectChecked(_ path: String, as name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let data = try #require(FileManager.default.contents(atPath: numpyFixture("swift_export_check.json")))
    let checks = try JSONDecoder().decode([String: ExportCheck].self, from: data)
    let check = try #require(checks[name], sourceLocation: sourceLocation)
    let written = try ByteStorage.map(path: path)
    #expect(written.bytes.count == check.bytes, "\(name) size", sourceLocation: sourceLocation)
    #expect(CRC32.checksum(written.bytes) == check.crc32, "\(name) differs from the bytes numpy checked", sourceLocation: sourceLocation)
    #expect(check.numpy1?.hasPrefix("1.") == true, "numpy 1.x also loaded \(name)", sourceLocation: sourceLocation)
}

@Suite("NumPy exporter")
struct NumPyExporterTests {
    let source: TensorBundle
    let model: Model

    init() throws {
        source = try NumPyReader.read(path: numpyFixture("bvlc_np2.npy"))
        model = try canonicalModel(fromBvlc: source)
    }

    @Test("npy: bvlc {name: [W, b]} in TF layout, bit-exact round trip")
    func npyRoundTrip() throws {
        let path = try exported(model, format: "npy", file: "export.npy")
        let back = try NumPyReader.read(path: path)
        #expect(back.format == "npy (pickled dict, bvlc style {name: [W, b]})")
        #expect(back.metadata["pickle.protocol"] == "3")
        #expect(back.tensors.map(\.name) == bvlcNames)
        expectBitIdentical(back, source)
        try expectChecked(path, as: "export.npy")
    }

    @Test("npz tf naming: conv1_W / conv1_b in TF layout, bit-exact round trip")
    func npzTensorFlowNames() throws {
        let path = try exported(model, format: "npz", file: "export_tf.npz")
        let back = try NPZReader.read(path: path)
        #expect(back.format == "npz (stored)")
        expectBitIdentical(back, source) { $0.replacingOccurrences(of: "/0", with: "_W").replacingOccurrences(of: "/1", with: "_b") }
        try expectChecked(path, as: "export_tf.npz")
    }

    @Test("npz canonical naming: canonical names and layout")
    func npzCanonicalNames() throws {
        let path = try exported(model, format: "npz", naming: "canonical", file: "export_canonical.npz")
        let back = try NPZReader.read(path: path)
        #expect(back.tensors.map(\.name) == model.tensors.map(\.name))
        for named in model.tensors { #expect(back[named.name]?.bitwiseEqual(named.tensor.contiguous()) == true, "\(named.name)") }
        try expectChecked(path, as: "export_canonical.npz")
    }

    @Test("float16 and float64 output; bfloat16 and unknown namings are usage errors")
    func options() throws {
        let directory = FixturePaths.temporaryDirectory("numpy-options")
        try NumPyExporter.export(model, format: "npz", to: directory + "/h.npz", options: ExportOptions(dtype: .float16))
        let half = try NPZReader.read(path: directory + "/h.npz")
        #expect(half["conv1_W"]?.dtype == .float16)
        #expect(half["conv1_W"]?.bitwiseEqual(try #require(source["conv1/0"]).contiguous(as: .float16)) == true)
        try NumPyExporter.export(model, format: "npy", to: directory + "/d.npy", options: ExportOptions(dtype: .float64))
        #expect(try NumPyReader.read(path: directory + "/d.npy")["fc6/0"]?.dtype == .float64)
        #expect(throws: UsageError.self) {
            try NumPyExporter.export(model, format: "npz", to: directory + "/b.npz", options: ExportOptions(dtype: .bfloat16))
        }
        #expect(throws: UsageError.self) {
            try NumPyExporter.export(model, format: "npz", to: directory + "/n.npz", options: ExportOptions(naming: "keras"))
        }
        #expect(!FileManager.default.fileExists(atPath: directory + "/n.npz"))
    }

    @Test("a failed export leaves an existing file untouched")
    func atomic() throws {
        let directory = FixturePaths.temporaryDirectory("numpy-atomic")
        let path = directory + "/w.npy"
        try Data("previous".utf8).write(to: URL(fileURLWithPath: path))
        var broken = model
        broken["fc8.weight"] = nil
        #expect(throws: ModelError.self) { try NumPyExporter.export(broken, format: "npy", to: path, options: ExportOptions()) }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "previous")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["w.npy"])
    }
}
