import AlexConv
import AlexConvNumPy
import Foundation
import SwiftProtobuf
import TestSupport
import Testing

@testable import AlexConvCaffe

/// The committed Caffe fixtures (Fixtures/caffe/make_caffe_fixtures.py).
enum CaffeFixtures {
    /// (folder, name) of each model fixture.
    static let zoo = ("zoo_alexnet", "bvlc_alexnet")
    static let caffenet = ("caffenet", "caffenet")
    static let bn = ("bn", "bn_tiny")
    static let double = ("double", "double_tiny")

    static func model(_ fixture: (String, String)) -> String { FixturePaths.path("caffe/\(fixture.0)/\(fixture.1).caffemodel") }
    static func deploy(_ fixture: (String, String)) -> String { FixturePaths.path("caffe/\(fixture.0)/deploy.prototxt") }
    static let mean = FixturePaths.path("caffe/imagenet_mean_tiny.binaryproto")
    static func hostile(_ name: String) -> String { FixturePaths.path("caffe/hostile/\(name)") }

    /// The canonical tensors the fixture script wrote (float32, or float64 for double_data).
    static func expected(_ fixture: (String, String)) throws -> [NamedTensor] {
        try Safetensors.read(path: FixturePaths.path("caffe/\(fixture.0)/\(fixture.1)_expected.safetensors")).tensors
    }

    /// The shared network input: (u8 - 128) / 32, (2, 3, 227, 227).
    static func input() throws -> Tensor {
        let u8 = try NumPyReader.readArray(path: FixturePaths.path("caffe/input.npy"))
        return Tensor(u8.floats().map { ($0 - 128) / 32 }, shape: u8.shape)
    }

    /// A golden output of the fixture (`opencv` or `tf`).
    static func golden(_ fixture: (String, String), _ kind: String) throws -> Tensor {
        try NumPyReader.readArray(path: FixturePaths.path("caffe/\(fixture.0)/\(fixture.1)_\(kind).npy"))
    }

    /// A copy of the fixture's caffemodel alone in a new directory (no prototxt beside it).
    static func alone(_ fixture: (String, String)) throws -> String {
        let directory = FixturePaths.temporaryDirectory("caffe")
        let path = directory + "/\(fixture.1).caffemodel"
        try FileManager.default.copyItem(atPath: model(fixture), toPath: path)
        return path
    }

    /// Writes `bytes` as `name` in a new directory and returns the path.
    static func write(_ bytes: [UInt8], named name: String) -> String {
        let path = FixturePaths.temporaryDirectory("caffe") + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    static func write(_ text: String, named name: String) -> String { write(Array(text.utf8), named: name) }
}

/// Expects the tensors to have the same names, shapes, dtypes and bits (safetensors files sort their names).
func expectBitExact(_ actual: [NamedTensor], _ expected: [NamedTensor], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.map(\.name).sorted() == expected.map(\.name).sorted(), sourceLocation: sourceLocation)
    let byName = Dictionary(actual.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
    for e in expected {
        guard let a = byName[e.name] else { continue }
        #expect(a.shape == e.tensor.shape && a.dtype == e.tensor.dtype, "\(e.name): \(a) vs \(e.tensor)", sourceLocation: sourceLocation)
        #expect(a.bitwiseEqual(e.tensor), "\(e.name): values differ", sourceLocation: sourceLocation)
    }
}

/// Expects every element of `actual` within `tolerance` of `expected`, index by index.
func expectClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, "\(what): shape \(actual.shape) vs \(expected.shape)", sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    let a = actual.floats()
    let e = expected.floats()
    var worst: (Float, Int) = (0, 0)
    for i in a.indices where abs(a[i] - e[i]) > worst.0 { worst = (abs(a[i] - e[i]), i) }
    #expect(
        worst.0 <= tolerance, "\(what): element \(worst.1) differs by \(worst.0) (\(a[worst.1]) vs \(e[worst.1])), tolerance \(tolerance)",
        sourceLocation: sourceLocation)
}

/// The `FormatError` `body` throws; records a failure when it throws nothing or something else.
func formatError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> FormatError? {
    do {
        try body()
        Issue.record("expected a FormatError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as FormatError {
        #expect(!error.description.contains("\n"), "error spans lines: \(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected a FormatError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Serialized bytes of a generated message.
func serialized<M: SwiftProtobuf.Message>(_ message: M) throws -> [UInt8] { try message.serializedBytes() }
